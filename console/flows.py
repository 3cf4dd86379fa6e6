"""The flow list's data: filters, sort orders and keyset-paged queries over ``records``.

Nothing here loads the table whole or counts it. A page is read in three steps:

1. **Plan.** Each filter that has an index (a `REVIEW_COLUMNS` value, a DLP entity type,
   free text through the trigram index, a time range) is counted up to `INDEX_LIMIT`
   entries. If one matches fewer, its entries are the candidates (materialized once per
   filter and order, sorted in memory). Otherwise every filter is dense, and the
   candidates are an index read in display order: the sort column's
   ``(tenant, column, seq)`` index, or for the time order the densest-first of a filter's
   index, the entity table, the trigram index, or the log itself. Per-tenant indexes
   are merged (one ordered stream per tenant the reviewer may see).
2. **Check.** Candidates are confirmed in chunks against the whole filter, with the
   reviewer's `ReviewerScope` clause, by primary key: a candidate never shows unless
   the record matches (a trigram hit is confirmed with the exact substring test).
3. **Keyset.** The page ends at ``(sort value, seq)`` of its last row; the next page
   starts after it, so page 5,000 costs what page 1 costs.

A page that cannot be filled within `SCAN_BUDGET_S` (a short search term, a filter no
index helps) shows what it found and resumes from where it stopped.

Several dense filters whose combination is rare (a department, a model and an outcome,
each a few per cent of the log) are **intersected** in SQLite: each one's density is
counted in the newest `INTERSECT_SAMPLE` records, and when their combination is expected
to be small (as if they were independent) the smallest index drives and the others are
``seq IN (…)`` sets, so the matches are found in one statement instead of a page
checked record by record.

A selective filter with many matches (`SORTED_MEMBERS_MIN`), or a dense free-text filter
(`TEXT_MEMBERS_MAX`), shown in another column's order walks that column's index and
skips the records not among its matches (`Plan.members`), instead of reading every
match's sort value or testing every record's text. Free text of one or two characters
reads the trigram index through the trigrams that start with it (`_short_term_query`).

Every query carries the reviewer's `ReviewerScope` clause. The request filters
(conversation, client, transport, method, path) read ``record_terms`` (client and path
by prefix); the one-row-per-flow rule is checked on the candidates (step 2).

Over 400 lines: each filter's SQL and its keyset paging must agree field by field; splitting
them would split that rule.
"""

from __future__ import annotations

import bisect
import datetime
import heapq
import json
import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Final

from warden.audit.review_index import (
    COLUMNS_BY_NAME,
    COMMON_TERMS,
    REVIEW_COLUMNS,
    ReviewState,
    review_state,
    terms_complete,
    text_format_current,
    text_mark,
    text_matches,
)

from .scope import ReviewerScope

PAGE_SIZE: Final = 200
#: Time one page load may spend checking candidates before it shows what it found.
SCAN_BUDGET_S: Final = 0.12
#: A filter whose index has fewer entries than this drives the read (its entries are
#: sorted in memory); above it, reading an index in display order finds a page sooner.
INDEX_LIMIT: Final = 20_000
#: The same for the time order, where a denser filter's own index read in order is as
#: quick (and counting 20,000 entries would cost more than the page).
TIME_INDEX_LIMIT: Final = 2_000
#: From this many matches of a selective filter, a sort by another column walks that
#: column's index and skips non-members (about page size x log size / matches index
#: entries a page, each cheap) instead of reading every match's sort value from its row
#: (~10 us each, more for tokens and latency, which are in the record's body).
SORTED_MEMBERS_MIN: Final = 4_000
#: A dense free-text filter's candidates read whole for a sort by another column (more:
#: the sort index is read in order and each record's text tested).
TEXT_MEMBERS_MAX: Final = 200_000
#: Distinct values of a prefix filter (``client``, ``path``) read one by one in ``seq``
#: order and merged (more: the prefix's range is read in value order).
PREFIX_VALUES_MAX: Final = 32
#: Trigrams a one- or two-character search term may start (more: it is common).
SHORT_TERM_TRIGRAMS: Final = 200
#: Dense filters are intersected only when each has fewer entries than this (estimated).
INTERSECT_READ_LIMIT: Final = 300_000
#: The newest records whose matches estimate each dense filter's density.
INTERSECT_SAMPLE: Final = 50_000
#: The longest filter value accepted (a search term, a user, an entity type …).
MAX_VALUE_CHARS: Final = 256
#: Trigrams of a search term given to the trigram index (spread over the term).
MAX_TRIGRAMS: Final = 24

type SortKey = str
SORT_KEYS: Final[tuple[SortKey, ...]] = (
    "time",
    *(column.name for column in REVIEW_COLUMNS if column.sort),
)
_FILTER_COLUMNS: Final = tuple(column for column in REVIEW_COLUMNS if column.filter)
_COLUMNS: Final = (
    "seq, tenant, ts, kind, event, outcome, action, subject, department, provider, model, body"
)
#: An older record not in the entity table yet has the entity type among its findings.
_OLDER_ENTITY: Final = (
    "records.seq < ? AND EXISTS (SELECT 1 FROM json_each(records.body, '$.findings') f "
    "WHERE json_extract(f.value, '$.entity_type') = ?)"
)
_RELATIVE: Final = re.compile(r"(\d+)\s*([mhdw])")
_UNITS: Final = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


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
#: The request filters that match a prefix (``/v1/chat``, ``openai-python``).
PREFIX_FILTERS: Final = ("client", "path")


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

    def __post_init__(self) -> None:
        if self.key not in SORT_KEYS:
            raise FilterError(f"cannot sort by {self.key!r}: use one of {', '.join(SORT_KEYS)}")

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


def check_filter(flt: FlowFilter) -> None:
    """Raise `FilterError` for a value no query should be given: too long, control characters."""
    for name, value in flt.active():
        if len(value) > MAX_VALUE_CHARS:
            raise FilterError(
                f"the {name} filter is {len(value):,} characters long; "
                f"at most {MAX_VALUE_CHARS} are accepted"
            )
        if _CONTROL.search(value):
            raise FilterError(
                f"the {name} filter contains a control character (tab, newline …): remove it"
            )


def trigram_query(text: str) -> str | None:
    """An FTS5 query that every record containing ``text`` matches (None: too short).

    Each trigram is one quoted FTS5 string (``"`` doubled), so no character of the term
    is FTS5 syntax: ``AND``, ``*``, ``NEAR(``, ``:`` and quotes are plain text.
    """
    grams = list(dict.fromkeys(text[i : i + 3] for i in range(len(text) - 2)))
    if not grams:
        return None
    if len(grams) > MAX_TRIGRAMS:
        step = (len(grams) - 1) / (MAX_TRIGRAMS - 1)
        grams = [grams[round(i * step)] for i in range(MAX_TRIGRAMS)]
    return " AND ".join('"' + gram.replace('"', '""') + '"' for gram in grams)


def _time_span(flt: FlowFilter) -> tuple[list[str], list[Any]]:
    """The filter's time range as SQL conditions on ``ts`` and their arguments."""
    span: list[str] = []
    args: list[Any] = []
    if flt.since is not None:
        span.append("ts >= ?")
        args.append(flt.since)
    if flt.until is not None:
        span.append("ts < ?")
        args.append(flt.until)
    return span, args


def where(
    flt: FlowFilter, scope: ReviewerScope, entities_below: int = 0
) -> tuple[list[str], list[Any]]:
    """The WHERE clauses (ANDed, cheapest first) and parameters for ``flt`` within ``scope``.

    This is the exact meaning of a filter; the indexes only find candidates for it.
    ``entities_below``: records numbered below it are not in the entity table yet (an
    older store the writer is still indexing, `ReviewState`); their findings are read.
    """
    check_filter(flt)
    scope_sql, params = scope.sql("records.tenant")
    clauses: list[str] = [scope_sql]
    args: list[Any] = list(params)
    for column in _FILTER_COLUMNS:
        value = getattr(flt, column.name)
        if value is None or (column.name == "user" and "@" in value):
            continue
        clauses.append(f"{column.sql} = ?")
        args.append(value)
    span, span_args = _time_span(flt)
    clauses += span
    args += span_args
    if flt.entity_type is not None:
        indexed = (
            "EXISTS (SELECT 1 FROM record_entities e WHERE e.entity_type = ? "
            "AND e.tenant = records.tenant AND e.seq = records.seq)"
        )
        if entities_below > 0:
            clauses.append(f"({indexed} OR ({_OLDER_ENTITY}))")
            args += [flt.entity_type, entities_below, flt.entity_type]
        else:
            clauses.append(indexed)
            args.append(flt.entity_type)
    if flt.user is not None and "@" in flt.user:
        clauses.append("instr(body, ?) > 0")
        args.append(_json_member("email", flt.user))
    if flt.text:
        # The body holds each text value JSON-escaped character by character, so a value
        # containing the term means a body containing the escaped term: a cheap test that
        # spares the exact one (over the values, not the keys) most rows.
        escaped = json.dumps(flt.text, ensure_ascii=False)[1:-1]
        clauses += ["body LIKE ? ESCAPE '\\'", text_matches("records.body")]
        args += [_like(escaped), _like(flt.text)]
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


type Candidate = tuple[Any, int]
"""(sort value, seq): the sort value is None for the time order."""


@dataclass(frozen=True, slots=True)
class IndexRead:
    """One ordered read of an index: ``FROM source WHERE clause`` in ``(key, id)`` order.

    ``key`` is the sort expression (None: ``id`` alone, the time order); ``id`` is the
    column holding the record's ``seq`` (``rowid`` in the trigram index). All SQL here
    is the console's own constants; values are bound.
    """

    source: str
    clause: str
    params: tuple[Any, ...]
    key: str | None = None
    id: str = "seq"
    #: Whether ``id`` order is the index's own (false for a prefix range over values).
    ordered: bool = True

    def walk(
        self, conn: sqlite3.Connection, after: Candidate | None, descending: bool
    ) -> Iterator[Candidate]:
        """Entries after ``after`` in order, read in growing batches as they are consumed."""
        op, order = ("<", "DESC") if descending else (">", "ASC")
        key_sql = self.key or "NULL"
        order_sql = (
            f"{self.id} {order}" if self.key is None else f"{self.key} {order}, {self.id} {order}"
        )
        batch = PAGE_SIZE + 1
        position = after
        while True:
            clauses, args = [self.clause], list(self.params)
            if position is not None:
                if self.key is None:
                    clauses.append(f"{self.id} {op} ?")
                    args.append(position[1])
                else:
                    clauses.append(f"({self.key}, {self.id}) {op} (?, ?)")
                    args += [position[0], position[1]]
            rows: list[Candidate] = conn.execute(
                f"SELECT {key_sql}, {self.id} FROM {self.source} "  # noqa: S608 - constant SQL, values bound
                f"WHERE {' AND '.join(clauses)} ORDER BY {order_sql} LIMIT ?",
                [*args, batch],
            ).fetchall()
            yield from rows
            if len(rows) < batch:
                return
            position = rows[-1]
            batch = min(batch * 4, INDEX_LIMIT)

    def first(self, conn: sqlite3.Connection, limit: int) -> list[int]:
        """Up to ``limit`` record numbers, in no particular order."""
        sql = f"SELECT {self.id} FROM {self.source} WHERE {self.clause} LIMIT ?"  # noqa: S608
        return [row[0] for row in conn.execute(sql, [*self.params, limit])]

    def probe(self, outer: str) -> str:
        """SQL true when the record ``outer.seq`` is among this read's entries (its
        parameters are `params`): a seek on the index's key ending in ``seq``."""
        return (
            f"EXISTS (SELECT 1 FROM {_aliased(self.source, 'p')} "  # noqa: S608 - constants
            f"WHERE {self.clause} AND p.{self.id} = {outer}.seq)"
        )

    def count(self, conn: sqlite3.Connection, limit: int, above: int = 0) -> int:
        """How many entries numbered above ``above``, counting at most ``limit`` (an
        index-only count)."""
        sql = (
            f"SELECT count(*) FROM (SELECT 1 FROM {self.source} "  # noqa: S608
            f"WHERE {self.clause} AND {self.id} > ? LIMIT ?)"
        )
        (n,) = conn.execute(sql, [*self.params, above, limit]).fetchone()
        return int(n)


def _aliased(source: str, alias: str) -> str:
    """``source`` (a table, perhaps ``INDEXED BY`` an index) named ``alias``."""
    table, _, index = source.partition(" INDEXED BY ")
    return f"{table} AS {alias}" + (f" INDEXED BY {index}" if index else "")


@dataclass(slots=True)
class Plan:
    """How ``(filter, sort)`` finds its candidates.

    ``candidates`` (sorted ascending) when one filter's index is selective; otherwise
    ``reads``: ordered index reads (one per tenant, or one for the whole log) merged.
    ``driver`` names what was chosen, for tests and the benchmark.
    """

    driver: str
    candidates: list[Candidate] | None = None
    reads: list[IndexRead] = field(default_factory=list)
    empty: bool = False
    #: The records a selective filter allows, when ``reads`` walk the sort column's index
    #: (`SORTED_MEMBERS_MIN`): entries of other records are skipped before any check.
    members: frozenset[int] | None = None


@dataclass(slots=True)
class FlowQuery:
    """Keyset-paged reads of the flow list for one reviewer, on one connection."""

    conn: sqlite3.Connection
    scope: ReviewerScope
    page_size: int = PAGE_SIZE
    scan_budget_s: float = SCAN_BUDGET_S
    _plans: dict[tuple[FlowFilter, str], Plan] = field(default_factory=dict)
    _vocabulary: bool = False
    _state: ReviewState | None = None

    @property
    def state(self) -> ReviewState:
        """What of the review indexes is complete (read again after `forget_plans`)."""
        if self._state is None:
            self._state = review_state(self.conn)
        return self._state

    def bounds(self) -> tuple[int, int]:
        """The smallest and largest ``seq`` in the log (both O(log n) on the primary key)."""
        # Two statements: SQLite optimizes a lone MIN() or MAX() to one seek, not both.
        (low,) = self.conn.execute("SELECT MIN(seq) FROM records").fetchone()
        (high,) = self.conn.execute("SELECT MAX(seq) FROM records").fetchone()
        return (low or 0, high or 0)

    def tenants(self) -> list[str]:
        return visible_tenants(self.conn, self.scope)

    # -- planning ----------------------------------------------------------------------

    def _selective_reads(
        self, flt: FlowFilter, tenants: list[str]
    ) -> list[tuple[str, list[IndexRead]]]:
        """(name, reads) of every filter that has an index, each read giving its matches."""
        found: list[tuple[str, list[IndexRead]]] = []
        for column in _FILTER_COLUMNS:
            value = getattr(flt, column.name)
            if value is None or column.name == "tenant" or not self.state.has_index(column):
                continue  # (an index still being built: checked on the candidates)
            if column.name == "user" and "@" in value:
                continue
            found.append((column.name, [
                IndexRead(f"records INDEXED BY {column.index}",
                          f"tenant = ? AND {column.sql} = ?", (t, value))
                for t in tenants
            ]))  # fmt: skip
        if flt.entity_type is not None:
            below = self.state.entities_below
            found.append(("entity_type", [
                IndexRead("record_entities", "entity_type = ? AND tenant = ?", (flt.entity_type, t))
                for t in tenants
            ] + ([IndexRead("records", "seq < ?", (below,))] if below > 0 else [])))  # fmt: skip
        term = flt.text or (flt.user if flt.user and "@" in flt.user else None)
        fts = None
        if term:
            fts = trigram_query(term) or self._short_term_query(term)
        if fts is not None:
            # The writer indexes text between batches: the newest records (after the
            # mark) are read directly. (An empty query: no indexed record has the term.)
            mark = text_mark(self.conn)
            found.append(("text", [
                *([IndexRead("records_text", "records_text MATCH ?", (fts,), id="rowid")]
                  if fts else []),
                IndexRead("records", "seq > ?", (mark,)),
            ]))  # fmt: skip
        if any(getattr(flt, name) is not None for name in REQUEST_FILTERS) and terms_complete(
            self.conn
        ):
            found += self._term_reads(flt, tenants)
        if flt.since is not None or flt.until is not None:
            span, span_args = _time_span(flt)
            span.insert(0, "tenant = ?")
            by_time = "records INDEXED BY records_tenant_ts"
            found.append(("time range", [
                IndexRead(by_time, " AND ".join(span), (t, *span_args)) for t in tenants
            ]))  # fmt: skip
        return found

    def _short_term_query(self, term: str) -> str | None:
        """An FTS5 query for a term of one or two characters: every trigram of the index
        that starts with it (each indexed text ends with `TEXT_END`, so every occurrence
        starts one). None when the index cannot say (an older format, a non-ASCII term:
        FTS5 folds case beyond ASCII) or the term starts more than `SHORT_TERM_TRIGRAMS`
        trigrams: such a term is common and the log read in order finds a page soon.
        An empty query: no indexed text has the term."""
        if not term.isascii() or not text_format_current(self.conn):
            return None
        if not self._vocabulary:
            # A view of the index's terms in the connection's own temp schema; the main
            # database stays read-only (``mode=ro``), query_only is lifted for this
            # constant statement alone.
            (query_only,) = self.conn.execute("PRAGMA query_only").fetchone()
            self.conn.execute("PRAGMA query_only=0")
            try:
                self.conn.execute(
                    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.records_text_vocab "
                    "USING fts5vocab(main, 'records_text', 'row')"
                )
            finally:
                self.conn.execute(f"PRAGMA query_only={int(query_only)}")
            self._vocabulary = True
        low = term.lower()
        high = low[:-1] + chr(ord(low[-1]) + 1)
        grams = [
            row[0]
            for row in self.conn.execute(
                "SELECT term FROM temp.records_text_vocab WHERE term >= ? AND term < ? LIMIT ?",
                (low, high, SHORT_TERM_TRIGRAMS + 1),
            )
        ]
        if len(grams) > SHORT_TERM_TRIGRAMS:
            return None
        return " OR ".join('"' + gram.replace('"', '""') + '"' for gram in grams)

    def _term_reads(self, flt: FlowFilter, tenants: list[str]) -> list[tuple[str, list[IndexRead]]]:
        """Reads of ``record_terms`` for the request filters (not for a term's common value,
        which it does not hold: such a filter is dense and checked on candidates)."""
        found: list[tuple[str, list[IndexRead]]] = []
        for name in REQUEST_FILTERS:
            value = getattr(flt, name)
            if value is None or COMMON_TERMS.get(name) == value:
                continue
            if name not in PREFIX_FILTERS:
                found.append((name, [
                    IndexRead("record_terms", "name = ? AND value = ? AND tenant = ?",
                              (name, value, t))
                    for t in tenants
                ]))  # fmt: skip
                continue
            # A prefix is a range of values: [value, value with its last character + 1).
            if not value or ord(value[-1]) >= 0x10FFFF:
                continue
            upper = value[:-1] + chr(ord(value[-1]) + 1)
            values = self._term_values(name, value, upper)
            if values is not None:
                # Few distinct values (``codex`` -> ``codex/0.46``): one read per value,
                # each in ``seq`` order, merged; a page needs no more than its entries.
                found.append((name, [
                    IndexRead("record_terms", "name = ? AND value = ? AND tenant = ?",
                              (name, v, t))
                    for t in tenants
                    for v in values
                ]))  # fmt: skip
                continue
            found.append((name, [
                IndexRead("record_terms",
                          "name = ? AND value >= ? AND value < ? AND tenant = ?",
                          (name, value, upper, t), ordered=False)
                for t in tenants
            ]))  # fmt: skip
        return found

    def _term_values(self, name: str, low: str, high: str) -> list[str] | None:
        """The distinct values of term ``name`` in ``[low, high)``, one index seek each;
        None when there are more than `PREFIX_VALUES_MAX`."""
        values: list[str] = []
        sql = "SELECT min(value) FROM record_terms WHERE name = ? AND value >= ? AND value < ?"
        (current,) = self.conn.execute(sql, (name, low, high)).fetchone()
        while current is not None:
            if len(values) == PREFIX_VALUES_MAX:
                return None
            values.append(current)
            (current,) = self.conn.execute(
                "SELECT min(value) FROM record_terms WHERE name = ? AND value > ? AND value < ?",
                (name, current, high),
            ).fetchone()
        return values

    def _intersection(
        self, dense: list[tuple[str, list[IndexRead]]], tenants: list[str]
    ) -> tuple[str, list[IndexRead]] | None:
        """One read per tenant of the matches of several dense filters together, when
        their combination is expected to be rare (see the module's docstring); None when
        it is not. The sparsest filter's index drives, in ``seq`` order; each of the
        others is probed per entry (a seek on its ``(tenant, value, seq)`` key), the
        sparsest first."""
        sets = [
            (name, reads)
            for name, reads in dense
            if len(reads) == len(tenants)
            and name not in ("text", "time range")  # not keyed by seq: checked on rows
            and all(read.ordered for read in reads)
        ]
        if len(sets) < 2:
            return None
        low, high = self.bounds()
        total = max(1, high - low + 1)
        # Each filter's density in the newest `INTERSECT_SAMPLE` records (an index-only
        # count of a short range): an estimate, which only chooses the plan.
        window = min(total, INTERSECT_SAMPLE)
        counted: list[tuple[int, str, list[IndexRead]]] = []
        expected = float(total)
        for name, reads in sets:
            seen = sum(read.count(self.conn, window, above=high - window) for read in reads)
            estimate = seen * total // window
            if estimate >= INTERSECT_READ_LIMIT:
                return None  # too dense to read whole
            counted.append((estimate, name, reads))
            expected *= seen / window
        if expected > INDEX_LIMIT:
            return None  # a page in display order comes sooner
        counted.sort(key=lambda item: item[0])
        reads = []
        for k in range(len(tenants)):
            driver = counted[0][2][k]
            probes = " AND ".join(other[2][k].probe("d") for other in counted[1:])
            reads.append(
                IndexRead(
                    _aliased(driver.source, "d"),
                    f"{driver.clause} AND {probes}",
                    tuple(driver.params) + tuple(p for o in counted[1:] for p in o[2][k].params),
                    id=driver.id,
                )
            )
        return " ∩ ".join(name for _, name, _ in counted), reads

    def plan(self, flt: FlowFilter, sort: Sort | None = None) -> Plan:
        """Choose the candidates of ``flt`` in ``sort`` order (cached until `forget_plans`)."""
        sort = sort or Sort()
        cache_key = (flt, sort.key)
        if (cached := self._plans.get(cache_key)) is not None:
            return cached
        check_filter(flt)
        tenants = self.tenants()
        if flt.tenant is not None:
            tenants = [flt.tenant] if flt.tenant in tenants else []
        if not tenants:
            return self._remember(cache_key, Plan("nothing in scope", candidates=[], empty=True))
        dense: list[tuple[str, list[IndexRead]]] = []
        best: tuple[str, list[int]] | None = None
        limit = min(INDEX_LIMIT, TIME_INDEX_LIMIT) if sort.key == "time" else INDEX_LIMIT
        for name, reads in self._selective_reads(flt, tenants):
            seqs: list[int] = []
            for read in reads:
                seqs += read.first(self.conn, limit - len(seqs))
                if len(seqs) >= limit:
                    break
            if len(seqs) < limit:
                if best is None or len(seqs) < len(best[1]):
                    best = (name, seqs)
                if not seqs:
                    break
            else:
                dense.append((name, reads))
        if best is None and (both := self._intersection(dense, tenants)) is not None:
            if sort.key == "time":
                # The matches in ``seq`` order as they are found: a page needs no more.
                return self._remember(cache_key, Plan(f"{both[0]} index in order", reads=both[1]))
            best = (both[0], [seq for read in both[1] for seq in read.first(self.conn, -1)])
        if best is None and sort.key != "time":
            best = self._text_members(dense)
        if best is not None and sort.key != "time" and len(best[1]) >= SORTED_MEMBERS_MIN:
            # Many matches in another order: walk that order's index, skipping the records
            # not among them, instead of reading each match's sort value from its row.
            plan = self._ordered(flt, sort, tenants, [])
            plan.members = frozenset(best[1])
            plan.driver += f", {best[0]} index members ({len(best[1]):,})"
            return self._remember(cache_key, plan)
        if best is not None:
            return self._remember(cache_key, self._materialize(best[0], best[1], sort))
        return self._remember(cache_key, self._ordered(flt, sort, tenants, dense))

    def _text_members(
        self, dense: list[tuple[str, list[IndexRead]]]
    ) -> tuple[str, list[int]] | None:
        """Every candidate of a dense free-text filter, when there are fewer than
        `TEXT_MEMBERS_MAX`: read in another order, the sort index is then walked skipping
        non-members, instead of testing the text of every record on the way."""
        for name, reads in dense:
            if name != "text":
                continue
            seqs: list[int] = []
            for read in reads:
                seqs += read.first(self.conn, TEXT_MEMBERS_MAX - len(seqs))
                if len(seqs) >= TEXT_MEMBERS_MAX:
                    return None
            return name, seqs
        return None

    def _materialize(self, name: str, seqs: list[int], sort: Sort) -> Plan:
        if sort.key == "time":
            return Plan(
                f"{name} index, {len(seqs):,} entries", candidates=[(None, s) for s in sorted(seqs)]
            )
        key_sql = COLUMNS_BY_NAME[sort.key].sql
        rows = self.conn.execute(
            f"SELECT {key_sql}, seq FROM records WHERE seq IN (SELECT value FROM json_each(?))",  # noqa: S608
            (json.dumps(seqs),),
        ).fetchall()
        return Plan(f"{name} index, {len(seqs):,} entries", candidates=sorted(map(tuple, rows)))

    def _ordered(
        self,
        flt: FlowFilter,
        sort: Sort,
        tenants: list[str],
        dense: list[tuple[str, list[IndexRead]]],
    ) -> Plan:
        everything = flt.tenant is None and self.scope.is_administrator
        if sort.key != "time":
            column = COLUMNS_BY_NAME[sort.key]
            clause, value = "tenant = ?", getattr(flt, column.name, None) if column.filter else None
            if value is not None and not (column.name == "user" and "@" in value):
                clause += f" AND {column.sql} = ?"
            source, prefix, key = column.source
            if not self.state.sortable(column):
                # its index is still being built: SQLite sorts the records (slow, exact)
                source, prefix, key = "records", "", column.sql
            reads = [
                IndexRead(source, prefix + clause,
                          (t,) if clause == "tenant = ?" else (t, value), key=key)
                for t in tenants
            ]  # fmt: skip
            return Plan(f"{column.name} order index", reads=reads)
        for name, reads in dense:
            # a time range is in ts order, a prefix in value order: not seq order
            if name != "time range" and all(read.ordered for read in reads):
                return Plan(f"{name} index in order", reads=reads)
        # A time range bounds the numbers: the smallest and largest ``seq`` with a time in
        # it (an index-only read of the range), so the log is read from there only.
        span, span_args, label = "1", [], ""
        if flt.since is not None or flt.until is not None:
            low, high = self._seq_bounds(flt, tenants)
            if low is None:
                return Plan("time range, no records", candidates=[], empty=True)
            span, span_args, label = "seq BETWEEN ? AND ?", [low, high], ", time range bounded"
        if everything:
            return Plan(
                f"log in order{label}", reads=[IndexRead("records", span, tuple(span_args))]
            )
        by_tenant = "records"
        if self.state.has_index(COLUMNS_BY_NAME["tenant"]):
            by_tenant += " INDEXED BY records_review_tenant"
        reads = [IndexRead(by_tenant, f"tenant = ? AND {span}", (t, *span_args)) for t in tenants]
        return Plan(f"tenant index in order{label}", reads=reads)

    def _seq_bounds(self, flt: FlowFilter, tenants: list[str]) -> tuple[int | None, int | None]:
        span, args = _time_span(flt)
        low: int | None = None
        high: int | None = None
        for tenant in tenants:
            lo, hi = self.conn.execute(
                "SELECT MIN(seq), MAX(seq) FROM records INDEXED BY records_tenant_ts "  # noqa: S608 - constant SQL
                f"WHERE tenant = ? AND {' AND '.join(span)}",
                [tenant, *args],
            ).fetchone()
            if lo is not None:
                low = lo if low is None else min(low, lo)
                high = hi if high is None else max(high, hi)
        return low, high

    def _remember(self, key: tuple[FlowFilter, str], plan: Plan) -> Plan:
        if len(self._plans) > 64:
            self._plans.clear()
        self._plans[key] = plan
        return plan

    def forget_plans(self) -> None:
        """Re-plan on the next read (the log grew, new tenants appeared, the writer built
        more of the review indexes)."""
        self._plans.clear()
        self._state = None

    # -- reading -----------------------------------------------------------------------

    def candidates(
        self, plan: Plan, after: Candidate | None, descending: bool
    ) -> Iterator[Candidate]:
        """``plan``'s candidates after ``after`` in display order."""
        if plan.candidates is not None:
            items = plan.candidates
            if descending:
                end = len(items) if after is None else bisect.bisect_left(items, after)
                return (items[i] for i in range(end - 1, -1, -1))
            begin = 0 if after is None else bisect.bisect_right(items, after)
            return (items[i] for i in range(begin, len(items)))
        walks = [read.walk(self.conn, after, descending) for read in plan.reads]
        merged = walks[0] if len(walks) == 1 else heapq.merge(*walks, reverse=descending)
        if plan.members is not None:
            members = plan.members
            return (c for c in merged if c[1] in members)
        return merged

    def fetch(
        self, flt: FlowFilter, sort: Sort, cursor: Cursor | None, *, forward: bool = True
    ) -> Page:
        """The page after ``cursor`` in display order (``forward``) or before it."""
        descending = sort.descending if forward else not sort.descending
        page = self._read(flt, sort, cursor, descending)
        if not forward:
            page.rows.reverse()
        return page

    def _read(self, flt: FlowFilter, sort: Sort, cursor: Cursor | None, descending: bool) -> Page:
        plan = self.plan(flt, sort)
        clauses, args = where(flt, self.scope, self.state.entities_below)
        check = (
            f"SELECT {_COLUMNS} FROM records WHERE seq IN (SELECT value FROM json_each(?)) "  # noqa: S608 - constant SQL, values bound
            f"AND {' AND '.join(clauses)}"
        )
        stream = self.candidates(plan, cursor, descending)
        deadline = time.perf_counter() + self.scan_budget_s
        rows: list[FlowRow] = []
        want = self.page_size + 1
        chunk = want
        last: Candidate | None = cursor
        while len(rows) < want:
            taken = [c for _, c in zip(range(chunk), stream, strict=False)]
            if not taken:
                return Page(rows, (rows[-1].sort_value, rows[-1].seq) if rows else last, False)
            last = taken[-1]
            found = {
                r[0]: r
                for r in self.conn.execute(check, [json.dumps([c[1] for c in taken]), *args])
            }
            rows += [parse_row(found[seq], key) for key, seq in taken if seq in found]
            if len(rows) < want and time.perf_counter() >= deadline:
                more = rows[: self.page_size]
                position = last if len(more) == len(rows) else (more[-1].sort_value, more[-1].seq)
                return Page(more, position, True, scanned_to=last[1])
            hits = len(found)
            chunk = min(5_000, chunk * 4 if hits * 4 < len(taken) else max(chunk, want - len(rows)))
        page = rows[: self.page_size]
        end = page[-1]
        return Page(page, (end.sort_value, end.seq), True)

    def poll(self, flt: FlowFilter, after_seq: int, limit: int = 500) -> tuple[list[FlowRow], int]:
        """Records newer than ``after_seq`` that match, oldest first; and the new high mark."""
        (top,) = self.conn.execute("SELECT MAX(seq) FROM records").fetchone()
        top = top or 0
        if top <= after_seq:
            return [], after_seq
        clauses, args = where(flt, self.scope, self.state.entities_below)
        sql = (
            f"SELECT {_COLUMNS}, NULL FROM records WHERE {' AND '.join(clauses)} "  # noqa: S608 - constant SQL, values bound
            "AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
        )
        raw = self.conn.execute(sql, [*args, after_seq, top, limit]).fetchall()
        rows = [parse_row(r) for r in raw]
        # When more than ``limit`` arrived, the rest are picked up by the next poll.
        mark = rows[-1].seq if len(rows) == limit else top
        return rows, mark

    def count(self, flt: FlowFilter, cap: int = 100_000, budget_s: float = 2.0) -> tuple[int, bool]:
        """How many records match, counting at most ``cap`` (and whether it stopped short:
        at the cap, or after ``budget_s`` seconds, in which case the number is a lower bound)."""
        plan = self.plan(flt)
        clauses, args = where(flt, self.scope, self.state.entities_below)
        check = (
            "SELECT count(*) FROM records WHERE seq IN (SELECT value FROM json_each(?)) "  # noqa: S608
            f"AND {' AND '.join(clauses)}"
        )
        stream = self.candidates(plan, None, True)
        deadline = time.perf_counter() + budget_s
        n = 0
        while n <= cap:
            taken = [c[1] for _, c in zip(range(5_000), stream, strict=False)]
            if not taken:
                return n, False
            (hits,) = self.conn.execute(check, [json.dumps(taken), *args]).fetchone()
            n += hits
            if time.perf_counter() >= deadline:
                return min(n, cap), True
        return cap, True


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
