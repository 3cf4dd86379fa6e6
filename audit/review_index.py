"""The review indexes of the audit database: what makes the console fast on a large log.

Three kinds, all written in the writer's own transaction, so a record is never committed
without them:

- `REVIEW_COLUMNS`: the columns a reviewer filters on (equality) or sorts by, each an SQL
  expression over ``records`` that is never NULL (so keyset row values always compare),
  with one index ``(tenant, expression, seq)``. That one index answers both "this value,
  newest first" and "every record in this column's order" for one tenant; the console
  merges tenants. **Adding a filterable/sortable column is one entry here** (plus the
  filter field in the console's form).
- ``record_entities``: one row per (entity type, tenant, record) for the DLP findings,
  so "records with a CREDIT_CARD finding" is an index range, not a JSON scan.
- ``record_terms``: one row per (name, value, tenant, record) for the request part's
  values a reviewer filters on (`REQUEST_TERMS`: conversation, client, transport,
  method, path), except the value most records have (`COMMON_TERMS`: a filter on it is
  dense and reads the log in order, so its rows would cost the writer and never be read).
- ``records_text``: an FTS5 trigram index (contentless, ``detail=none``: about 220 bytes
  a record) over the record's text values (`record_text`), for substring search. It is a
  prefilter: the console confirms every candidate with the exact predicate, so a trigram
  false positive never shows.

`AuditLog.append` adds a batch to the entity, sort and term tables in its own
transaction (`index_records`), from the record objects, so SQLite parses no JSON on the
write path; the text index is filled between batches (`index_text`). The retention purge
takes the text and terms out (`forget_records`) and a trigger the entity rows. The column
indexes are plain SQLite indexes.

`ensure_review_index` runs at every open and only does what takes no time on a large
store: the tables and triggers, so every new record is indexed from then on, and marks in
``meta`` saying what older records are not indexed yet. Everything that reads the older
records is left to the writer between batches (`backfill_step`, via
`AuditLog.index_text`), so a gateway's first start on a store written before the review
indexes is not delayed (it was by minutes on a million records): the missing column
indexes one ``CREATE INDEX`` a step (seconds each on a million records: new records wait
for it, which is why the writer runs it only when none is waiting), then the entity
types and sort values of the older records newest first (`_MARK`), then their request
terms (`TERMS_MARK`), each in short transactions that resume after a restart;
then the trigram text (`index_text`; an index of an older `TEXT_FORMAT` is dropped and
rebuilt). The console reads what is complete (`ReviewState`) and checks the rest on the
records themselves: exact throughout, slower until the build is done. ``warden audit
reindex`` runs the same steps at once, for a maintenance window.

Over 400 lines because the three index kinds are written, purged and backfilled together.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReviewColumn:
    """A column the console filters on (``filter``: equality) and/or sorts by (``sort``)."""

    #: The console's name: the filter field and the sort key.
    name: str
    #: SQL over ``records``, never NULL; a constant of ours, never user input.
    sql: str
    filter: bool = True
    sort: bool = True
    #: Whether it has its ``(tenant, expression, seq)`` index (a sort key must).
    index_: bool = True
    #: A value the writer computes from the record (``to_dict`` shape), kept in the
    #: ``record_sort`` table instead of an index over ``sql`` (which must give the same
    #: value): an index over a JSON expression makes SQLite parse every body it writes.
    derived: Callable[[Mapping[str, Any]], int] | None = None

    @property
    def index(self) -> str:
        return f"records_review_{self.name}"

    @property
    def source(self) -> tuple[str, str, str]:
        """(FROM, WHERE before the tenant, key) of the ordered read for this column."""
        if self.derived is not None:
            return "record_sort", f"name = '{self.name}' AND ", "value"
        return f"records INDEXED BY {self.index}", "", self.sql

    def ddl(self) -> str:
        keys = "tenant, seq" if self.sql == "tenant" else f"tenant, {self.sql}, seq"
        return f"CREATE INDEX IF NOT EXISTS {self.index} ON records ({keys})"


def _tokens(data: Mapping[str, Any]) -> int:
    usage = data.get("usage") or {}
    return int(usage.get("tokens_in") or 0) + int(usage.get("tokens_out") or 0)


def _latency(data: Mapping[str, Any]) -> int:
    total = (data.get("timing") or {}).get("total_ms")
    return -1 if total is None else int(total)


REVIEW_COLUMNS: Final[tuple[ReviewColumn, ...]] = (
    ReviewColumn("tenant", "tenant"),
    ReviewColumn("user", "coalesce(subject, '')"),
    ReviewColumn("department", "coalesce(department, '')"),
    ReviewColumn("provider", "coalesce(provider, '')"),
    ReviewColumn("model", "coalesce(model, '')"),
    ReviewColumn("decision", "coalesce(action, '')"),
    ReviewColumn("outcome", "outcome"),
    ReviewColumn("kind", "kind", sort=False),
    ReviewColumn(
        "tokens",
        "coalesce(json_extract(body, '$.usage.tokens_in'), 0)"
        " + coalesce(json_extract(body, '$.usage.tokens_out'), 0)",
        filter=False,
        index_=False,
        derived=_tokens,
    ),
    ReviewColumn(
        "latency",
        "coalesce(json_extract(body, '$.timing.total_ms'), -1)",
        filter=False,
        index_=False,
        derived=_latency,
    ),
)
COLUMNS_BY_NAME: Final = {column.name: column for column in REVIEW_COLUMNS}

#: Keys whose text values free-text search skips: those with a filter of their own
#: (tenant, user, department, provider, model, decision, outcome, kind, entity type),
#: identifiers, timestamps and fixed vocabulary. Each indexed character costs the writer:
#: the whole body made the trigram index ~4x dearer to write than these leftovers (e-mail,
#: host, client address, rule, reason, event, details, prompt, and any field added later).
UNSEARCHED_KEYS: Final = (
    "record_id", "ts", "started_at", "session_id", "issuer", "tenant", "kind", "outcome",
    "action", "subject", "department", "provider", "service", "api", "api_kind", "model",
    "auth_method", "policy_version", "entity_type", "segment",
)  # fmt: skip


def text_matches(body: str) -> str:
    """SQL true when a text value of ``body`` is LIKE the one bound parameter (ESCAPE '\\')."""
    skipped = ", ".join(f"'{key}'" for key in UNSEARCHED_KEYS)
    return (
        f"EXISTS (SELECT 1 FROM json_tree({body}) WHERE type = 'text' "  # noqa: S608 - constants
        f"AND key NOT IN ({skipped}) AND path != '$.principal.groups' "
        "AND value LIKE ? ESCAPE '\\')"
    )


#: The request part's values a reviewer filters on (the console's filter names, each a
#: key of the record's ``request``); ``client`` and ``path`` match a prefix.
REQUEST_TERMS: Final = ("conversation", "client", "transport", "method", "path")
#: The value most records have, per term: not indexed (see the module's docstring).
COMMON_TERMS: Final = {"transport": "http", "method": "POST"}


def record_terms(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(name, value) of the `REQUEST_TERMS` of a record (``to_dict`` shape) that are indexed."""
    request = data.get("request") or {}
    return [
        (name, value)
        for name in REQUEST_TERMS
        if isinstance(value := request.get(name), str) and value and COMMON_TERMS.get(name) != value
    ]


#: Older records at or above this number are in the entity table; below it, not yet (0:
#: all are).
_MARK: Final = "review_backfill_below"
#: The highest record number in the trigram index.
TEXT_MARK: Final = "text_indexed_upto"
#: The trigram index's format: "2" when every text ends with `TEXT_END`. An index of an
#: older format is dropped and rebuilt between batches like a new one (`ensure_review_index`).
TEXT_FORMAT: Final = ("text_index_format", "2")
#: Ends every indexed text, so each occurrence of a one- or two-character term begins a
#: trigram: the console finds such a term through the trigrams that start with it.
TEXT_END: Final = "\n\n"
#: The same for ``record_terms`` (added after the entity table: its own mark).
TERMS_MARK: Final = "terms_backfill_below"
_MARK_SQL: Final = f"coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = '{_MARK}'), 0)"  # noqa: S608
_ENTITIES_OF = (
    "SELECT DISTINCT json_extract(value, '$.entity_type') AS entity_type "
    "FROM json_each({body}, '$.findings') WHERE entity_type IS NOT NULL"
)
_DDL: Final = (
    """CREATE TABLE IF NOT EXISTS record_entities (
        entity_type TEXT NOT NULL,
        tenant TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (entity_type, tenant, seq)
    ) WITHOUT ROWID, STRICT""",
    """CREATE TABLE IF NOT EXISTS record_sort (
        name TEXT NOT NULL,
        tenant TEXT NOT NULL,
        value INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (name, tenant, value, seq)
    ) WITHOUT ROWID, STRICT""",
    """CREATE TABLE IF NOT EXISTS record_terms (
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        tenant TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (name, value, tenant, seq)
    ) WITHOUT ROWID, STRICT""",
    "CREATE VIRTUAL TABLE IF NOT EXISTS records_text "
    "USING fts5(text, content='', tokenize='trigram', detail='none')",
    # Rows the backfill has not reached yet have nothing to delete.
    f"""CREATE TRIGGER IF NOT EXISTS records_review_delete AFTER DELETE ON records
    WHEN OLD.seq >= {_MARK_SQL}
    BEGIN
        DELETE FROM record_entities WHERE tenant = OLD.tenant AND seq = OLD.seq
            AND entity_type IN ({_ENTITIES_OF.format(body="OLD.body")});
    END""",  # noqa: S608 - constants
)
#: One statement per batch (FTS5 writes its pending terms out at every statement, and a
#: statement per record cost ~0.7 ms a record); the texts come as a JSON array of
#: ``[seq, text]``, computed in Python (`record_text`), so SQLite parses no record body.
_INSERT_TEXT: Final = (
    "INSERT INTO records_text (rowid, text) "
    "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)"
)
#: A contentless FTS5 row is deleted by giving its text again.
_DELETE_TEXT: Final = (
    "INSERT INTO records_text (records_text, rowid, text) "
    "SELECT 'delete', json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)"
)
_INSERT_SORT: Final = (
    "INSERT OR IGNORE INTO record_sort (name, tenant, value, seq) VALUES (?, ?, ?, ?)"
)
_DERIVED: Final = tuple(c for c in REVIEW_COLUMNS if c.derived is not None)
_INSERT_ENTITY: Final = (
    "INSERT OR IGNORE INTO record_entities (entity_type, tenant, seq) VALUES (?, ?, ?)"
)
_INSERT_TERM: Final = (
    "INSERT OR IGNORE INTO record_terms (name, value, tenant, seq) VALUES (?, ?, ?, ?)"
)


def _text_values(value: Any, key: str | int | None, path: str) -> Iterator[str]:
    if isinstance(value, str):
        if key not in UNSEARCHED_KEYS:
            yield value
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _text_values(item, name, f"{path}.{name}")
    elif isinstance(value, list) and path != "$.principal.groups":
        for i, item in enumerate(value):
            yield from _text_values(item, i, path)


def record_text(data: Mapping[str, Any]) -> str:
    """What free-text search covers of a record (``to_dict`` shape): its text values,
    except those under `UNSEARCHED_KEYS` and the groups; the same values `text_matches`
    tests in SQL."""
    return "\n".join(_text_values(dict(data), None, "$"))


type Indexed = tuple[int, str, Mapping[str, Any]]
"""(seq, tenant, record data) of one committed record."""


def index_records(conn: sqlite3.Connection, records: Sequence[Indexed]) -> None:
    """Add ``records``' DLP entity types, derived sort values and request terms (in the
    caller's transaction)."""
    index_terms(conn, records)
    conn.executemany(
        _INSERT_ENTITY,
        [
            (finding["entity_type"], tenant, seq)
            for seq, tenant, data in records
            for finding in data.get("findings") or ()
        ],
    )
    conn.executemany(
        _INSERT_SORT,
        [
            (column.name, tenant, column.derived(data), seq)
            for seq, tenant, data in records
            for column in _DERIVED
            if column.derived is not None
        ],
    )


def index_terms(conn: sqlite3.Connection, records: Sequence[Indexed]) -> None:
    """Add ``records``' request terms (in the caller's transaction)."""
    conn.executemany(
        _INSERT_TERM,
        [
            (name, value, tenant, seq)
            for seq, tenant, data in records
            for name, value in record_terms(data)
        ],
    )


def backfill_terms(conn: sqlite3.Connection, limit: int = 5_000) -> int:
    """Index the request terms of up to ``limit`` older records (below `TERMS_MARK`, the
    newest first) in one IMMEDIATE transaction; returns how many were read (0: none left).
    The writer calls this between batches, like `index_text`."""
    row = conn.execute(f"SELECT value FROM meta WHERE key = '{TERMS_MARK}'").fetchone()  # noqa: S608
    if row is None or int(row[0]) <= 0:
        return 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        (below,) = conn.execute(
            "SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?", (TERMS_MARK,)
        ).fetchone()
        (low,) = conn.execute("SELECT coalesce(MIN(seq), 1) FROM records").fetchone()
        start = max(low, below - limit)
        rows = conn.execute(
            "SELECT seq, tenant, body FROM records WHERE seq >= ? AND seq < ?", (start, below)
        ).fetchall()
        index_terms(conn, [(seq, tenant, json.loads(body)) for seq, tenant, body in rows])
        mark = "0" if start <= low else str(start)
        conn.execute("UPDATE meta SET value = ? WHERE key = ?", (mark, TERMS_MARK))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return max(1, len(rows))


def terms_complete(conn: sqlite3.Connection) -> bool:
    """Whether ``record_terms`` covers every record (the console uses it only then): the
    older records' terms come with their entity types (`_MARK`) on a store that had
    neither, after them (`TERMS_MARK`) on one that had the entity table."""
    try:
        rows = conn.execute(
            "SELECT value FROM meta WHERE key IN (?, ?)", (TERMS_MARK, _MARK)
        ).fetchall()
        conn.execute("SELECT 1 FROM record_terms LIMIT 0")
    except sqlite3.OperationalError:  # a store the writer has not brought up to date
        return False
    return all(int(row[0]) <= 0 for row in rows)


def indexed_text(data: Mapping[str, Any]) -> str:
    """What the trigram index holds of a record: `record_text` and `TEXT_END`."""
    return record_text(data) + TEXT_END


def text_format_current(conn: sqlite3.Connection) -> bool:
    """Whether the trigram index has the current `TEXT_FORMAT`."""
    key, value = TEXT_FORMAT
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row is not None and row[0] == value


def text_mark(conn: sqlite3.Connection) -> int:
    """The highest record number in the trigram index (every record up to it is there)."""
    row = conn.execute(f"SELECT value FROM meta WHERE key = '{TEXT_MARK}'").fetchone()  # noqa: S608
    return int(row[0]) if row else 0


def index_text(conn: sqlite3.Connection, limit: int) -> int:
    """Add up to ``limit`` records after `text_mark` to the trigram index, in one IMMEDIATE
    transaction; returns how many. The writer calls this between batches, off the commit
    path, so indexing never delays a flow's record (the console reads the records after
    the mark directly)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        mark = text_mark(conn)
        rows = conn.execute(
            "SELECT seq, body FROM records WHERE seq > ? ORDER BY seq LIMIT ?", (mark, limit)
        ).fetchall()
        if rows:
            texts = [[seq, indexed_text(json.loads(body))] for seq, body in rows]
            conn.execute(_INSERT_TEXT, (json.dumps(texts),))
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                (TEXT_MARK, str(rows[-1][0])),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(rows)


def forget_records(conn: sqlite3.Connection, tenant: str, upto: int) -> None:
    """Take ``tenant``'s records numbered up to ``upto`` out of the trigram index, the
    term table and the sort table, before the retention purge deletes them (the entity
    rows go with a trigger)."""
    mark = text_mark(conn)
    texts: list[list[Any]] = []
    terms: list[tuple[str, str, str, int]] = []
    for seq, body in conn.execute(
        "SELECT seq, body FROM records WHERE tenant = ? AND tenant_seq <= ?", (tenant, upto)
    ):
        data = json.loads(body)
        terms += [(name, value, tenant, seq) for name, value in record_terms(data)]
        if seq <= mark:
            texts.append([seq, indexed_text(data)])
    if texts:
        conn.execute(_DELETE_TEXT, (json.dumps(texts),))
    conn.executemany(
        "DELETE FROM record_terms WHERE name = ? AND value = ? AND tenant = ? AND seq = ?", terms
    )
    row = conn.execute(
        "SELECT MAX(seq) FROM records WHERE tenant = ? AND tenant_seq <= ?", (tenant, upto)
    ).fetchone()
    if row[0] is not None:
        for column in _DERIVED:
            conn.execute(
                "DELETE FROM record_sort WHERE name = ? AND tenant = ? AND seq <= ?",
                (column.name, tenant, row[0]),
            )


def forget_rows(conn: sqlite3.Connection, tenant: str, rows: Sequence[tuple[int, str]]) -> None:
    """`forget_records` for the records ``rows`` (seq, body) of ``tenant`` alone: in the
    fleet's review copy a tenant's numbers repeat across instances and their seqs
    interleave, so neither a number nor a seq range names one instance's records."""
    mark = text_mark(conn)
    texts: list[list[Any]] = []
    terms: list[tuple[str, str, str, int]] = []
    sort: list[tuple[str, str, int, int]] = []
    for seq, body in rows:
        data = json.loads(body)
        terms += [(name, value, tenant, seq) for name, value in record_terms(data)]
        sort += [(c.name, tenant, c.derived(data), seq) for c in _DERIVED if c.derived]
        if seq <= mark:
            texts.append([seq, indexed_text(data)])
    if texts:
        conn.execute(_DELETE_TEXT, (json.dumps(texts),))
    conn.executemany(
        "DELETE FROM record_terms WHERE name = ? AND value = ? AND tenant = ? AND seq = ?", terms
    )
    conn.executemany(
        "DELETE FROM record_sort WHERE name = ? AND tenant = ? AND value = ? AND seq = ?", sort
    )


#: Replaced by ``records_review_user`` (keyed by ``seq``, which keyset paging needs).
_DROPPED: Final = (
    "records_tenant_subject_ts",
    # Indexes over JSON expressions of a development version (now in ``record_sort``).
    "records_review_tokens",
    "records_review_latency",
)
#: Older records' entity and sort rows per transaction (the writer's step: `AuditLog.
#: index_text` gives twice its ``limit``): 5,000 held the write lock for up to 1 s on a
#: loaded machine, so a record arriving just after a step began waited that long.
BACKFILL_STEP: Final = 1_000

type Progress = Callable[[str], None]


def review_ddl() -> tuple[str, ...]:
    """Every statement that creates the review indexes (all ``IF NOT EXISTS``)."""
    return (*_DDL, *(column.ddl() for column in REVIEW_COLUMNS if column.index_))


@dataclass(frozen=True, slots=True)
class ReviewState:
    """What of the review indexes a reader may rely on (the rest is being built)."""

    #: Names of the column indexes (`ReviewColumn.index`) that exist.
    indexes: frozenset[str]
    #: Records numbered below this are not in ``record_entities`` and ``record_sort``
    #: yet (0: every record is).
    entities_below: int

    def has_index(self, column: ReviewColumn) -> bool:
        return column.index in self.indexes

    def sortable(self, column: ReviewColumn) -> bool:
        """Whether ``column``'s ordered read (`ReviewColumn.source`) covers every record."""
        if column.derived is not None:
            return self.entities_below <= 0
        return self.has_index(column)


def review_state(conn: sqlite3.Connection) -> ReviewState:
    """The `ReviewState` of the database behind ``conn`` (two small reads)."""
    names = frozenset(
        row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
    )
    row = conn.execute(f"SELECT value FROM meta WHERE key = '{_MARK}'").fetchone()  # noqa: S608
    return ReviewState(
        frozenset(c.index for c in REVIEW_COLUMNS if c.index in names),
        int(row[0]) if row is not None else 0,
    )


def _missing_indexes(conn: sqlite3.Connection) -> list[ReviewColumn]:
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    return [c for c in REVIEW_COLUMNS if c.index_ and c.index not in names]


def is_complete(conn: sqlite3.Connection) -> bool:
    """Whether every review index exists and covers every record."""
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    wanted = {"record_entities", "record_sort", "record_terms", "records_text"}
    wanted.add("records_review_delete")
    wanted |= {column.index for column in REVIEW_COLUMNS if column.index_}
    if not wanted <= names:
        return False
    row = conn.execute(f"SELECT value FROM meta WHERE key = '{_MARK}'").fetchone()  # noqa: S608
    return (row is None or int(row[0]) <= 0) and terms_complete(conn) and text_format_current(conn)


def backfill_pending(conn: sqlite3.Connection) -> bool:
    """Whether `backfill_step` has work: a column index, or older records' entity types,
    sort values or request terms."""
    return (
        bool(_missing_indexes(conn))
        or review_state(conn).entities_below > 0
        or not (terms_complete(conn))
    )


def _immediate(conn: sqlite3.Connection, statements: Callable[[], None]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        statements()
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def ensure_review_index(conn: sqlite3.Connection, progress: Progress | None = None) -> None:
    """Create the review tables and triggers that are missing, and mark what of the older
    records is not indexed yet (`backfill_step` indexes it later, between batches).

    ``conn`` is in autocommit mode (as `open_audit_db` makes it). Quick on any store: no
    record is read, no index over ``records`` built (except on an empty one, where that
    costs nothing). Records are never changed: the chain is untouched.
    """
    if is_complete(conn):
        return
    say = progress or log.info
    marks: dict[str, int] = {}

    def create() -> None:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        fresh = not {"record_entities", "record_sort"} <= names
        if "records_text" in names and not text_format_current(conn):
            # Texts indexed without `TEXT_END`: rebuilt from the oldest, between batches
            # (until then free-text search reads the records after the mark directly).
            conn.execute("DROP TABLE records_text")
            names.discard("records_text")
        for statement in _DDL:
            conn.execute(statement)
        (top,) = conn.execute("SELECT coalesce(MAX(seq), 0) FROM records").fetchone()
        if top == 0:
            for column in REVIEW_COLUMNS:
                if column.index_:
                    conn.execute(column.ddl())
        if fresh and top:
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (_MARK, str(top + 1))
            )
        elif "record_terms" not in names and top:
            # The entity and sort rows are there; the terms of the older records are not.
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                (TERMS_MARK, str(top + 1)),
            )
        if "records_text" not in names:
            # An older store's text is indexed by the writer between batches, like new
            # records: starting from the oldest.
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, '0')", (TEXT_MARK,))
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", TEXT_FORMAT)
        marks["top"] = top

    _immediate(conn, create)
    if not marks["top"]:
        return
    missing = _missing_indexes(conn)
    below = review_state(conn).entities_below
    terms = conn.execute(f"SELECT value FROM meta WHERE key = '{TERMS_MARK}'").fetchone()  # noqa: S608
    parts = [f"{len(missing)} column indexes"] if missing else []
    if below > 1:
        parts.append(f"the DLP entity types and sort values of {below - 1:,} older records")
    if terms is not None and int(terms[0]) > 1:
        parts.append(f"the request terms of {int(terms[0]) - 1:,} older records")
    if parts:
        say(
            f"audit store: {' and '.join(parts)} are indexed by the writer in the background "
            "(the console reads this store more slowly until then; 'warden audit reindex' "
            "builds them at once while the gateway is stopped)"
        )


def backfill_step(conn: sqlite3.Connection, limit: int = BACKFILL_STEP) -> bool:
    """One step of what `ensure_review_index` left for later; False when nothing is left.

    A step is one missing column index (``CREATE INDEX``: it holds the write lock until
    built, seconds on a million records), else the entity types and sort values of up to
    ``limit`` older records (below `_MARK`, newest first: ~0.1-0.2 s for 1,000), else
    their request terms (`backfill_terms`, five times ``limit``: cheaper). Each in its
    own IMMEDIATE transaction, so an interrupted build resumes where it stopped. The
    writer calls this between batches.
    """
    missing = _missing_indexes(conn)
    if missing:
        column = missing[0]
        (count,) = conn.execute("SELECT coalesce(MAX(seq), 0) FROM records").fetchone()
        log.info("audit store: building review index %s over %s records", column.index, count)
        started = time.perf_counter()

        def build() -> None:
            conn.execute(column.ddl())

        _immediate(conn, build)
        log.info(
            "audit store: review index %s ready in %.1f s (%d to go)",
            column.index,
            time.perf_counter() - started,
            len(missing) - 1,
        )
        if len(missing) == 1:
            for name in _DROPPED:
                conn.execute(f"DROP INDEX IF EXISTS {name}")
        return True
    below = review_state(conn).entities_below
    if below > 0:
        (low,) = conn.execute("SELECT coalesce(MIN(seq), 1) FROM records").fetchone()
        start = max(low, below - limit)
        rows = conn.execute(
            "SELECT seq, tenant, body FROM records WHERE seq >= ? AND seq < ?", (start, below)
        ).fetchall()
        batch = [(seq, tenant, json.loads(body)) for seq, tenant, body in rows]
        mark = "0" if start <= low else str(start)

        def index() -> None:
            index_records(conn, batch)
            conn.execute("UPDATE meta SET value = ? WHERE key = ?", (mark, _MARK))

        _immediate(conn, index)
        if mark == "0":
            log.info("audit store: DLP entity types and sort values of every record indexed")
        return True
    return bool(backfill_terms(conn, limit * 5))
