"""Aggregates for the summary screen: requests, blocks, redactions and tokens per tenant and
department, DLP entity types, and requests per hour, over a bounded time range.

Each query reads ``records`` through the ``(tenant, ts)`` index for the range only (the
tenant list is spelled out, also for the administrator, so SQLite can seek per tenant)
and aggregates in SQL. Tokens and findings live in the JSON body, so those two passes
read the bodies of the range: a day of a busy gateway is quick, a week takes longer,
which is why the screen computes them in a worker thread.

A flow may leave more than one record: the record committed before its request left, then
its answer's (and a stream's end) naming the first in ``details.flow_record``. A request
is counted, and its outcome, once: on the flow's first record. Tokens are summed over all
of them (only the answer's records carry usage).
"""

from __future__ import annotations

import datetime
import sqlite3
from dataclasses import dataclass

from warden.audit.record import format_ts

from .flows import visible_tenants
from .scope import ReviewerScope


@dataclass(frozen=True, slots=True)
class GroupTotals:
    tenant: str
    department: str
    requests: int
    blocks: int
    redactions: int
    tokens: int


@dataclass(frozen=True, slots=True)
class Summary:
    since: str
    until: str
    groups: tuple[GroupTotals, ...]
    entities: tuple[tuple[str, int], ...]
    #: Flow records per hour, oldest first, one value per hour of the range.
    hourly: tuple[int, ...]
    hourly_blocks: tuple[int, ...]

    @property
    def requests(self) -> int:
        return sum(g.requests for g in self.groups)

    @property
    def blocks(self) -> int:
        return sum(g.blocks for g in self.groups)

    @property
    def tokens(self) -> int:
        return sum(g.tokens for g in self.groups)


#: True for a flow's first record (and any other kind): it names no earlier record.
_FIRST = "(json_extract(body, '$.details.flow_record') IS NULL)"


def summarize(
    conn: sqlite3.Connection, scope: ReviewerScope, now: datetime.datetime, hours: int
) -> Summary:
    """The ``hours`` before ``now`` (whole hours, ending with the hour of ``now``)."""
    end = now.replace(minute=0, second=0, microsecond=0) + datetime.timedelta(hours=1)
    start = end - datetime.timedelta(hours=hours)
    since, until = format_ts(start), format_ts(end)
    tenants = visible_tenants(conn, scope)
    if not tenants:
        return Summary(since, until, (), (), (0,) * hours, (0,) * hours)
    tin = f"tenant IN ({','.join('?' * len(tenants))})"
    rng = [*tenants, since, until]
    groups = tuple(
        GroupTotals(*row)
        for row in conn.execute(
            "SELECT tenant, coalesce(department, '-'), "  # noqa: S608 - constant SQL
            f"SUM({_FIRST}), SUM({_FIRST} AND outcome = 'blocked'), "
            f"SUM({_FIRST} AND outcome = 'redacted'), "
            "SUM(coalesce(json_extract(body, '$.usage.tokens_in'), 0) "
            "  + coalesce(json_extract(body, '$.usage.tokens_out'), 0)) "
            f"FROM records INDEXED BY records_tenant_ts WHERE {tin} AND ts >= ? AND ts < ? "
            "AND kind = 'flow' GROUP BY 1, 2 ORDER BY 1, 2",
            rng,
        )
    )
    entities = tuple(
        (name, int(total))
        for name, total in conn.execute(
            "SELECT json_extract(f.value, '$.entity_type'), SUM(json_extract(f.value, '$.count')) "  # noqa: S608
            f"FROM records r INDEXED BY records_tenant_ts, json_each(r.body, '$.findings') f "
            f"WHERE r.{tin} AND r.ts >= ? AND r.ts < ? AND instr(r.body, '\"findings\":[{{') > 0 "
            "AND json_extract(r.body, '$.details.flow_record') IS NULL "
            "GROUP BY 1 ORDER BY 2 DESC, 1",
            rng,
        )
    )
    hourly = _per_hour(
        conn,
        "SELECT substr(ts, 1, 13), COUNT(*) FROM records INDEXED BY records_tenant_ts "  # noqa: S608
        f"WHERE {tin} AND ts >= ? AND ts < ? AND {_FIRST} GROUP BY 1",
        rng,
        start,
        hours,
    )
    blocks = _per_hour(
        conn,
        "SELECT substr(ts, 1, 13), COUNT(*) FROM records INDEXED BY records_tenant_outcome_ts "  # noqa: S608
        f"WHERE {tin} AND outcome = 'blocked' AND ts >= ? AND ts < ? GROUP BY 1",
        rng,
        start,
        hours,
    )
    return Summary(since, until, groups, entities, hourly, blocks)


def _per_hour(
    conn: sqlite3.Connection,
    sql: str,
    params: list[str],
    start: datetime.datetime,
    hours: int,
) -> tuple[int, ...]:
    counts = dict(conn.execute(sql, params).fetchall())
    slots = []
    for i in range(hours):
        hour = (start + datetime.timedelta(hours=i)).astimezone(datetime.UTC)
        slots.append(int(counts.get(hour.strftime("%Y-%m-%dT%H"), 0)))
    return tuple(slots)


def bar(value: int, largest: int, width: int = 20) -> str:
    """A horizontal bar of ``value`` against ``largest``, in eighths of a cell."""
    if largest <= 0 or value <= 0:
        return ""
    eighths = max(1, round(value / largest * width * 8))
    full, rest = divmod(eighths, 8)
    return "█" * full + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[rest]
