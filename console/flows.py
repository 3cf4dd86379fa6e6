"""The flow list's data: filters, sort orders and keyset-paged queries over ``records``.

Nothing here loads the table whole. A page is ``LIMIT`` rows after a keyset cursor:
``seq`` for the time order (the primary key, so any page of the unfiltered log costs the
same at the top or the end of a million rows), ``(sort value, seq)`` for the other
columns. Filters on the copied columns (tenant, user, department, decision, outcome,
provider, model, time) use the schema's ``(tenant, …, ts)`` indexes where SQLite picks
them; filters that must read the JSON body (free text, entity type, a user given by
e-mail) scan, and for those the time order is read in slices of `SCAN_SLICE` numbers
against a time budget, so one keystroke never stalls the screen on a rare term: the page
shows what the budget found and says how far back it has searched; scrolling on
continues the scan from there.

Every query carries the reviewer's `ReviewerScope` clause.

Over 400 lines: each filter's SQL and its keyset paging must agree field by field; splitting
them would split that rule.
"""

from __future__ import annotations

import datetime
import json
import re
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Final, Literal

from .scope import ReviewerScope

PAGE_SIZE: Final = 200
#: Numbers of ``seq`` read per slice when a filter scans bodies.
SCAN_SLICE: Final = 10_000
#: Time one page load may spend scanning bodies before it shows what it found.
SCAN_BUDGET_S: Final = 0.12

type SortKey = Literal[
    "time", "tenant", "user", "department", "provider", "model", "decision", "outcome",
    "tokens", "latency",
]  # fmt: skip
SORT_KEYS: Final[tuple[SortKey, ...]] = (
    "time", "tenant", "user", "department", "provider", "model", "decision", "outcome",
    "tokens", "latency",
)  # fmt: skip
#: SQL of each sort key (constants only; never user input). NULLs become a fixed value
#: so that row-value comparisons of the keyset never meet NULL.
_SORT_SQL: Final[dict[str, str]] = {
    "tenant": "tenant",
    "user": "coalesce(subject, '')",
    "department": "coalesce(department, '')",
    "provider": "coalesce(provider, '')",
    "model": "coalesce(model, '')",
    "decision": "coalesce(action, '')",
    "outcome": "outcome",
    "tokens": "coalesce(json_extract(body, '$.usage.tokens_in'), 0)"
    " + coalesce(json_extract(body, '$.usage.tokens_out'), 0)",
    "latency": "coalesce(json_extract(body, '$.timing.total_ms'), -1)",
}
_COLUMNS: Final = (
    "seq, tenant, ts, kind, event, outcome, action, subject, department, provider, model, body"
)
_RELATIVE: Final = re.compile(r"(\d+)\s*([mhdw])")
_UNITS: Final = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


#: Filters on the record's ``request`` part (read from the body): name -> JSON path.
REQUEST_FILTERS: Final = {
    "conversation": "$.request.conversation",
    "client": "$.request.client",
    "transport": "$.request.transport",
    "method": "$.request.method",
    "path": "$.request.path",
}
#: A flow's records that its answer's record repeats: not shown as rows of their own.
#: Matched as literal members of the canonical body (a string value cannot hold them
#: unescaped, so a prompt or a client's text cannot fake one).
SUPERSEDED_PHASES: Final = ('"phase":"request"', '"phase":"stream_start"')
RECORDS_ALL: Final = "all"


class FilterError(ValueError):
    """A filter value the console cannot use; the message says what it accepts."""


@dataclass(frozen=True, slots=True)
class FlowFilter:
    """What the reviewer asked to see. Empty fields do not filter."""

    tenant: str | None = None
    user: str | None = None
    department: str | None = None
    decision: str | None = None
    outcome: str | None = None
    provider: str | None = None
    model: str | None = None
    entity_type: str | None = None
    kind: str | None = None
    since: str | None = None
    until: str | None = None
    text: str | None = None
    conversation: str | None = None
    client: str | None = None
    transport: str | None = None
    method: str | None = None
    path: str | None = None
    #: ``all``: every record, also a flow's request and stream-start records, which the
    #: flow's answer record repeats (by default one row per flow).
    records: str | None = None

    def active(self) -> list[tuple[str, str]]:
        """(name, value) of every field that filters, in declaration order."""
        return [(f.name, v) for f in fields(self) if (v := getattr(self, f.name)) is not None]

    def with_value(self, name: str, value: str | None) -> FlowFilter:
        return replace(self, **{name: value.strip() or None if value is not None else None})


@dataclass(frozen=True, slots=True)
class Sort:
    key: SortKey = "time"
    descending: bool = True

    def describe(self) -> str:
        return f"{self.key} {'↓' if self.descending else '↑'}"


type Cursor = tuple[Any, int]
"""A keyset position: (sort value, seq); the sort value is None for the time order."""


@dataclass(frozen=True, slots=True)
class FlowRow:
    """One record as the flow list shows it (parsed from the stored row, not validated)."""

    seq: int
    tenant: str
    ts: str
    kind: str
    event: str | None
    outcome: str
    decision: str | None
    subject: str | None
    email: str | None
    department: str | None
    provider: str | None
    model: str | None
    entity_types: tuple[str, ...]
    tokens_in: int | None
    tokens_out: int | None
    total_ms: int | None
    has_prompt: bool
    sort_value: Any = None
    #: The provider's or agent's conversation id (``request.conversation``), if any.
    conversation: str | None = None

    @property
    def user(self) -> str:
        return self.email or self.subject or "-"

    @property
    def tokens(self) -> int | None:
        if self.tokens_in is None and self.tokens_out is None:
            return None
        return (self.tokens_in or 0) + (self.tokens_out or 0)


@dataclass(slots=True)
class Page:
    """Rows in display order, and where the next page in the same direction starts."""

    rows: list[FlowRow]
    cursor: Cursor | None
    more: bool
    #: For body scans cut short by the budget: the ``seq`` the scan reached.
    scanned_to: int | None = None


def parse_time(value: str, now: datetime.datetime) -> str:
    """A time the reviewer typed, as a record timestamp (UTC).

    Accepts relative ages (``90m``, ``24h``, ``7d``, ``2w``: that long before ``now``),
    dates (``2025-03-01``) and ISO times (``2025-03-01T12:00``, ``… 12:00:00Z``,
    with an offset); times without an offset are UTC.
    """
    text = value.strip()
    if match := _RELATIVE.fullmatch(text):
        amount, unit = int(match.group(1)), _UNITS[match.group(2)]
        moment = now - datetime.timedelta(**{unit: amount})
    else:
        try:
            moment = datetime.datetime.fromisoformat(text.replace(" ", "T"))
        except ValueError:
            raise FilterError(
                f"{value!r} is not a time: use 24h / 7d / 90m, 2025-03-01 or 2025-03-01T12:00"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.UTC)
    utc = moment.astimezone(datetime.UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="milliseconds") + "Z"


def checked_request_filters(values: dict[str, str | None]) -> dict[str, str | None]:
    """The request filters a reviewer typed, normalized (method upper-case, transport
    lower-case), or `FilterError` naming what is accepted."""
    out: dict[str, str | None] = {}
    transport = values.get("transport")
    if transport is not None:
        transport = transport.lower()
        if transport not in ("http", "websocket"):
            raise FilterError(f"transport {transport!r}: use http or websocket")
        out["transport"] = transport
    method = values.get("method")
    if method is not None:
        if not re.fullmatch(r"[A-Za-z]{1,16}", method):
            raise FilterError(f"method {method!r}: use an HTTP method such as POST or GET")
        out["method"] = method.upper()
    path = values.get("path")
    if path is not None and ("?" in path or not path.startswith("/")):
        raise FilterError(f"path {path!r}: give a path starting with '/', without a query")
    records = values.get("records")
    if records is not None and records != RECORDS_ALL:
        raise FilterError(f"records {records!r}: leave empty (one row per flow) or use 'all'")
    return out


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _json_member(key: str, value: str) -> str:
    """How ``"key":"value"`` appears in a canonical body (see audit.canonical)."""
    return f'"{key}":{json.dumps(value, ensure_ascii=False)}'


def where(flt: FlowFilter, scope: ReviewerScope) -> tuple[list[str], list[Any]]:
    """The WHERE clauses (ANDed) and parameters for ``flt`` within ``scope``."""
    scope_sql, params = scope.sql("tenant")
    clauses: list[str] = [scope_sql]
    args: list[Any] = list(params)
    for name, column in (
        ("tenant", "tenant"),
        ("department", "department"),
        ("decision", "action"),
        ("outcome", "outcome"),
        ("provider", "provider"),
        ("model", "model"),
        ("kind", "kind"),
    ):
        value = getattr(flt, name)
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    if flt.user is not None:
        if "@" in flt.user:
            clauses.append("instr(body, ?) > 0")
            args.append(_json_member("email", flt.user))
        else:
            clauses.append("subject = ?")
            args.append(flt.user)
    if flt.entity_type is not None:
        # The instr() prefilter is cheap; json_each makes it exact (a details value or a
        # prompt cannot fake a finding).
        clauses.append(
            "instr(body, ?) > 0 AND EXISTS (SELECT 1 FROM json_each(body, '$.findings') "
            "WHERE json_extract(value, '$.entity_type') = ?)"
        )
        args += [_json_member("entity_type", flt.entity_type), flt.entity_type]
    if flt.since is not None:
        clauses.append("ts >= ?")
        args.append(flt.since)
    if flt.until is not None:
        clauses.append("ts < ?")
        args.append(flt.until)
    if flt.text:
        clauses.append("body LIKE ? ESCAPE '\\'")
        args.append(_like(flt.text))
    for name, json_path in REQUEST_FILTERS.items():
        value = getattr(flt, name)
        if value is None:
            continue
        key = json_path.rsplit(".", 1)[1]
        if name == "path" or name == "client":
            # a path or client filter matches a prefix: /v1/chat, openai-python
            clauses.append("instr(body, ?) > 0 AND substr(json_extract(body, ?), 1, ?) = ?")
            args += [f'"{key}":{json.dumps(value, ensure_ascii=False)[:-1]}', json_path,
                     len(value), value]  # fmt: skip
        else:
            clauses.append("instr(body, ?) > 0 AND json_extract(body, ?) = ?")
            args += [_json_member(key, value), json_path, value]
    if flt.records != RECORDS_ALL:
        clauses.append(" AND ".join("instr(body, ?) = 0" for _ in SUPERSEDED_PHASES))
        args += SUPERSEDED_PHASES
    return clauses, args


def parse_row(row: Sequence[Any], sort_value: Any = None) -> FlowRow:
    seq, tenant, ts, kind, event, outcome, action, subject, department, provider, model, body = row[
        :12
    ]
    data = json.loads(body)
    principal = data.get("principal") or {}
    usage = data.get("usage") or {}
    timing = data.get("timing") or {}
    types = tuple(dict.fromkeys(item["entity_type"] for item in data.get("findings") or ()))
    return FlowRow(
        seq=seq,
        tenant=tenant,
        ts=ts,
        kind=kind,
        event=event,
        outcome=outcome,
        decision=action,
        subject=subject,
        email=principal.get("email"),
        department=department,
        provider=provider,
        model=model,
        entity_types=types,
        tokens_in=usage.get("tokens_in"),
        tokens_out=usage.get("tokens_out"),
        total_ms=timing.get("total_ms"),
        has_prompt="prompt" in data,
        sort_value=sort_value,
        conversation=(data.get("request") or {}).get("conversation"),
    )


@dataclass(frozen=True, slots=True)
class Plan:
    """How a filter is read: through one of the schema's indexes, or by scanning in order.

    ``index`` None means the primary key in ``seq`` order, sliced against the time budget
    when the sort is by time. Otherwise ``clause``/``params`` select that index's entries
    (fewer than `INDEX_LIMIT`, so sorting them is cheap).
    """

    index: str | None
    clause: str = "1"
    params: tuple[Any, ...] = ()
    estimate: int | None = None


#: An index is used when fewer entries than this match its part of the filter; above it
#: the matches are dense enough that reading the log in order finds a page sooner than
#: sorting them all.
INDEX_LIMIT: Final = 20_000
_DISTINCT_TENANTS: Final = """
WITH RECURSIVE t(tenant) AS (
    SELECT MIN(tenant) FROM records
    UNION ALL
    SELECT (SELECT MIN(tenant) FROM records WHERE tenant > t.tenant) FROM t
    WHERE t.tenant IS NOT NULL
)
SELECT tenant FROM t WHERE tenant IS NOT NULL
"""


def visible_tenants(conn: sqlite3.Connection, scope: ReviewerScope) -> list[str]:
    """The tenants with records that ``scope`` may see (one index seek per tenant)."""
    names = [row[0] for row in conn.execute(_DISTINCT_TENANTS)]
    return [name for name in names if scope.allows(name)]


@dataclass(slots=True)
class FlowQuery:
    """Keyset-paged reads of the flow list for one reviewer, on one connection."""

    conn: sqlite3.Connection
    scope: ReviewerScope
    page_size: int = PAGE_SIZE
    scan_budget_s: float = SCAN_BUDGET_S
    _plans: dict[FlowFilter, Plan] = field(default_factory=dict)

    def bounds(self) -> tuple[int, int]:
        """The smallest and largest ``seq`` in the log (both O(log n) on the primary key)."""
        # Two statements: SQLite optimizes a lone MIN() or MAX() to one seek, not both.
        (low,) = self.conn.execute("SELECT MIN(seq) FROM records").fetchone()
        (high,) = self.conn.execute("SELECT MAX(seq) FROM records").fetchone()
        return (low or 0, high or 0)

    def tenants(self) -> list[str]:
        return visible_tenants(self.conn, self.scope)

    def plan(self, flt: FlowFilter) -> Plan:
        """Pick the access path for ``flt`` by counting (up to a limit) index entries."""
        if flt in self._plans:
            return self._plans[flt]
        if flt.tenant is not None:
            tenants = [flt.tenant] if self.scope.allows(flt.tenant) else []
        else:
            tenants = self.tenants()
        if not tenants:
            return self._remember(flt, Plan("records_tenant_seq", "0"))
        tin = f"tenant IN ({','.join('?' * len(tenants))})"
        span, span_args = [], []
        if flt.since is not None:
            span.append("ts >= ?")
            span_args.append(flt.since)
        if flt.until is not None:
            span.append("ts < ?")
            span_args.append(flt.until)
        candidates: list[tuple[str, str, list[Any]]] = []
        if flt.user is not None and "@" not in flt.user:
            candidates.append(
                ("records_tenant_subject_ts", " AND ".join([tin, "subject = ?", *span]),
                 [*tenants, flt.user, *span_args])
            )  # fmt: skip
        if flt.outcome is not None:
            candidates.append(
                ("records_tenant_outcome_ts", " AND ".join([tin, "outcome = ?", *span]),
                 [*tenants, flt.outcome, *span_args])
            )  # fmt: skip
        if span:
            candidates.append(
                ("records_tenant_ts", " AND ".join([tin, *span]), [*tenants, *span_args])
            )
        if flt.tenant is not None or not self.scope.is_administrator:
            candidates.append(("records_tenant_seq", tin, list(tenants)))
        best: Plan | None = None
        for index, clause, params in candidates:
            (n,) = self.conn.execute(
                f"SELECT COUNT(*) FROM (SELECT 1 FROM records INDEXED BY {index} "  # noqa: S608 - constant SQL
                f"WHERE {clause} LIMIT ?)",
                [*params, INDEX_LIMIT],
            ).fetchone()
            if n < INDEX_LIMIT and (best is None or n < (best.estimate or 0)):
                best = Plan(index, clause, tuple(params), n)
            if n == 0:
                break
        return self._remember(flt, best or Plan(None))

    def _remember(self, flt: FlowFilter, plan: Plan) -> Plan:
        if len(self._plans) > 64:
            self._plans.clear()
        self._plans[flt] = plan
        return plan

    def forget_plans(self) -> None:
        """Re-plan on the next read (the log grew, or new tenants appeared)."""
        self._plans.clear()

    def fetch(
        self, flt: FlowFilter, sort: Sort, cursor: Cursor | None, *, forward: bool = True
    ) -> Page:
        """The page after ``cursor`` in display order (``forward``) or before it."""
        descending = sort.descending if forward else not sort.descending
        plan = self.plan(flt)
        if sort.key == "time" and plan.index is None:
            page = self._scan(flt, cursor, descending)
        else:
            page = self._sorted(flt, plan, sort, cursor, descending)
        if not forward:
            page.rows.reverse()
        return page

    def _sorted(
        self, flt: FlowFilter, plan: Plan, sort: Sort, cursor: Cursor | None, descending: bool
    ) -> Page:
        clauses, args = where(flt, self.scope)
        clauses.append(plan.clause)
        args += plan.params
        source = f"records INDEXED BY {plan.index}" if plan.index else "records NOT INDEXED"
        op, order = ("<", "DESC") if descending else (">", "ASC")
        if sort.key == "time":
            key_sql = "NULL"
            if cursor is not None:
                clauses.append(f"seq {op} ?")
                args.append(cursor[1])
            order_sql = f"seq {order}"
        else:
            key_sql = _SORT_SQL[sort.key]
            if cursor is not None:
                clauses.append(f"({key_sql}, seq) {op} (?, ?)")
                args += [cursor[0], cursor[1]]
            order_sql = f"{key_sql} {order}, seq {order}"
        sql = (
            f"SELECT {_COLUMNS}, {key_sql} FROM {source} WHERE {' AND '.join(clauses)} "  # noqa: S608 - constant SQL, values bound
            f"ORDER BY {order_sql} LIMIT ?"
        )
        raw = self.conn.execute(sql, [*args, self.page_size + 1]).fetchall()
        more = len(raw) > self.page_size
        rows = [parse_row(r, r[12]) for r in raw[: self.page_size]]
        last = rows[-1] if rows else None
        return Page(rows, (last.sort_value, last.seq) if last else cursor, more)

    def _scan(self, flt: FlowFilter, cursor: Cursor | None, descending: bool) -> Page:
        low, high = self.bounds()
        clauses, args = where(flt, self.scope)
        op, order = ("<", "DESC") if descending else (">", "ASC")
        sql = (
            f"SELECT {_COLUMNS}, NULL FROM records NOT INDEXED WHERE {' AND '.join(clauses)} "  # noqa: S608 - constant SQL, values bound
            f"AND seq {op} ? AND seq BETWEEN ? AND ? ORDER BY seq {order} LIMIT ?"
        )
        bound = cursor[1] if cursor is not None else (high + 1 if descending else low - 1)
        deadline = time.perf_counter() + self.scan_budget_s
        rows: list[FlowRow] = []
        while True:
            need = self.page_size - len(rows)
            lo, hi = (bound - SCAN_SLICE, bound) if descending else (bound, bound + SCAN_SLICE)
            raw = self.conn.execute(sql, [*args, bound, lo, hi, need]).fetchall()
            rows += [parse_row(r) for r in raw]
            if len(raw) == need:
                return Page(rows, (None, rows[-1].seq), True)
            bound = lo if descending else hi
            exhausted = bound <= low if descending else bound >= high
            if exhausted:
                return Page(rows, (None, bound), False)
            if time.perf_counter() >= deadline:
                return Page(rows, (None, bound), True, scanned_to=bound)

    def poll(self, flt: FlowFilter, after_seq: int, limit: int = 500) -> tuple[list[FlowRow], int]:
        """Records newer than ``after_seq`` that match, oldest first; and the new high mark."""
        (top,) = self.conn.execute("SELECT MAX(seq) FROM records").fetchone()
        top = top or 0
        if top <= after_seq:
            return [], after_seq
        clauses, args = where(flt, self.scope)
        sql = (
            f"SELECT {_COLUMNS}, NULL FROM records WHERE {' AND '.join(clauses)} "  # noqa: S608 - constant SQL, values bound
            "AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
        )
        raw = self.conn.execute(sql, [*args, after_seq, top, limit]).fetchall()
        rows = [parse_row(r) for r in raw]
        # When more than ``limit`` arrived, the rest are picked up by the next poll.
        mark = rows[-1].seq if len(rows) == limit else top
        return rows, mark

    def count(self, flt: FlowFilter, cap: int = 100_000) -> tuple[int, bool]:
        """How many records match, counting at most ``cap`` (and whether it stopped there)."""
        clauses, args = where(flt, self.scope)
        sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM records WHERE {' AND '.join(clauses)} LIMIT ?)"  # noqa: S608 - constant SQL
        (n,) = self.conn.execute(sql, [*args, cap + 1]).fetchone()
        return min(n, cap), n > cap


class FlowWindow:
    """The loaded slice of the flow list: at most `max_rows` rows around the cursor.

    The slice grows by a page at either end as the reviewer scrolls and drops pages at
    the far end, so memory and table size stay bounded whatever the log's size.
    """

    def __init__(self, query: FlowQuery, max_rows: int = 5 * PAGE_SIZE) -> None:
        self.query = query
        self.max_rows = max_rows
        self.filter = FlowFilter()
        self.sort = Sort()
        self.rows: list[FlowRow] = []
        self.more_before = False
        self.more_after = False
        self.scanned_to: int | None = None
        self._before: Cursor | None = None
        self._after: Cursor | None = None
        self.high_mark = 0

    def reset(self, flt: FlowFilter | None = None, sort: Sort | None = None) -> None:
        """Show the first page of ``flt`` in ``sort`` order (the newest, by default)."""
        if flt is not None:
            self.filter = flt
        if sort is not None:
            self.sort = sort
        self.query.forget_plans()
        _, self.high_mark = self.query.bounds()
        page = self.query.fetch(self.filter, self.sort, None)
        self.rows = page.rows
        self.more_before = False
        self.more_after = page.more
        self.scanned_to = page.scanned_to
        self._before = None
        self._after = page.cursor

    def to_end(self) -> None:
        """Show the last page (the oldest, in the default order)."""
        _, self.high_mark = self.query.bounds()
        page = self.query.fetch(self.filter, self.sort, None, forward=False)
        self.rows = page.rows
        self.more_after = False
        self.more_before = page.more
        self.scanned_to = page.scanned_to
        first = self.rows[0] if self.rows else None
        self._before = (first.sort_value, first.seq) if first else page.cursor
        self._after = None

    def load_after(self) -> int:
        """Append the next page; returns how many rows were dropped at the top."""
        if not self.more_after:
            return 0
        page = self.query.fetch(self.filter, self.sort, self._after)
        self.rows += page.rows
        self.more_after = page.more
        self.scanned_to = page.scanned_to
        self._after = page.cursor
        dropped = max(0, len(self.rows) - self.max_rows)
        if dropped:
            del self.rows[:dropped]
            first = self.rows[0]
            self._before = (first.sort_value, first.seq)
            self.more_before = True
        return dropped

    def load_before(self) -> int:
        """Prepend the previous page; returns how many rows were added at the top."""
        if not self.more_before:
            return 0
        page = self.query.fetch(self.filter, self.sort, self._before, forward=False)
        self.rows[:0] = page.rows
        self.more_before = page.more
        if page.rows:
            self._before = (page.rows[0].sort_value, page.rows[0].seq)
        else:
            self._before = page.cursor
        extra = len(self.rows) - self.max_rows
        if extra > 0:
            del self.rows[-extra:]
            last = self.rows[-1]
            self._after = (last.sort_value, last.seq)
            self.more_after = True
        return len(page.rows)

    @property
    def follows(self) -> bool:
        """Whether new records go on top: newest first and the top is loaded."""
        return self.sort == Sort("time", True) and not self.more_before

    def poll(self) -> list[FlowRow]:
        """New matching records since the last look, newest first (not yet added)."""
        rows, self.high_mark = self.query.poll(self.filter, self.high_mark)
        rows.reverse()
        return rows

    def prepend_new(self, rows: list[FlowRow]) -> None:
        self.rows[:0] = rows
        extra = len(self.rows) - self.max_rows
        if extra > 0:
            del self.rows[-extra:]
            last = self.rows[-1]
            self._after = (last.sort_value, last.seq)
            self.more_after = True
