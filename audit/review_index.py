"""The review indexes of the audit database: what makes the console fast on a large log.

Three kinds, all kept in sync by triggers inside the writer's own transaction (the
writer's code does not know about them, and a record cannot be committed without them):

- `REVIEW_COLUMNS`: the columns a reviewer filters on (equality) or sorts by, each an SQL
  expression over ``records`` that is never NULL (so keyset row values always compare),
  with one index ``(tenant, expression, seq)``. That one index answers both "this value,
  newest first" and "every record in this column's order" for one tenant; the console
  merges tenants. **Adding a filterable/sortable column is one entry here** (plus the
  filter field in the console's form).
- ``record_entities``: one row per (entity type, tenant, record) for the DLP findings,
  so "records with a CREDIT_CARD finding" is an index range, not a JSON scan.
- ``records_text``: an FTS5 trigram index (contentless, ``detail=none``: about 220 bytes
  a record) over the record's text values (`search_text`), for substring search. It is a
  prefilter: the console confirms every candidate with the exact predicate, so a trigram
  false positive never shows.

`ensure_review_index` builds what is missing on an existing database (a store written
before these existed) without losing or changing a record: the triggers first, so every
new record is indexed from then on, then the column indexes one transaction each, then
the older records in steps of `BACKFILL_STEP` newest first, each its own short
transaction, with the progress kept in ``meta`` so an interrupted build resumes.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

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

    @property
    def index(self) -> str:
        return f"records_review_{self.name}"

    def ddl(self) -> str:
        keys = "tenant, seq" if self.sql == "tenant" else f"tenant, {self.sql}, seq"
        return f"CREATE INDEX IF NOT EXISTS {self.index} ON records ({keys})"


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
    ),
    ReviewColumn("latency", "coalesce(json_extract(body, '$.timing.total_ms'), -1)", filter=False),
)
COLUMNS_BY_NAME: Final = {column.name: column for column in REVIEW_COLUMNS}

#: Keys whose text values free-text search skips: identifiers and timestamps (time has
#: its own filter) are long, unique and make the trigram index several times larger.
UNSEARCHED_KEYS: Final = ("record_id", "ts", "started_at")


def search_text(body: str) -> str:
    """The SQL of the text free-text search covers, for the record body ``body`` (SQL)."""
    skipped = ", ".join(f"'{key}'" for key in UNSEARCHED_KEYS)
    return (
        f"(SELECT group_concat(value, char(10)) FROM json_tree({body}) "  # noqa: S608 - constants
        f"WHERE type = 'text' AND key NOT IN ({skipped}))"
    )


def text_matches(body: str) -> str:
    """SQL true when a text value of ``body`` is LIKE the one bound parameter (ESCAPE '\\')."""
    skipped = ", ".join(f"'{key}'" for key in UNSEARCHED_KEYS)
    return (
        f"EXISTS (SELECT 1 FROM json_tree({body}) WHERE type = 'text' "  # noqa: S608 - constants
        f"AND key NOT IN ({skipped}) AND value LIKE ? ESCAPE '\\')"
    )


#: Older records at or above this number are indexed; below it, not yet (0: all are).
_MARK: Final = "review_backfill_below"
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
    "CREATE VIRTUAL TABLE IF NOT EXISTS records_text "
    "USING fts5(text, content='', tokenize='trigram', detail='none')",
    f"""CREATE TRIGGER IF NOT EXISTS records_review_insert AFTER INSERT ON records BEGIN
        INSERT OR IGNORE INTO record_entities (entity_type, tenant, seq)
            SELECT entity_type, NEW.tenant, NEW.seq FROM ({_ENTITIES_OF.format(body="NEW.body")});
        INSERT INTO records_text (rowid, text) VALUES (NEW.seq, {search_text("NEW.body")});
    END""",
    # A contentless FTS5 row is deleted by giving its text again; rows the backfill has not
    # reached yet have none to delete.
    f"""CREATE TRIGGER IF NOT EXISTS records_review_delete AFTER DELETE ON records
    WHEN OLD.seq >= {_MARK_SQL}
    BEGIN
        DELETE FROM record_entities WHERE tenant = OLD.tenant AND seq = OLD.seq
            AND entity_type IN ({_ENTITIES_OF.format(body="OLD.body")});
        INSERT INTO records_text (records_text, rowid, text)
            VALUES ('delete', OLD.seq, {search_text("OLD.body")});
    END""",
)
#: Replaced by ``records_review_user`` (keyed by ``seq``, which keyset paging needs).
_DROPPED: Final = ("records_tenant_subject_ts",)
#: Older records indexed per transaction: about 0.1–0.3 s of the write lock each.
BACKFILL_STEP: Final = 5_000

type Progress = Callable[[str], None]


def review_ddl() -> tuple[str, ...]:
    """Every statement that creates the review indexes (all ``IF NOT EXISTS``)."""
    return (*_DDL, *(column.ddl() for column in REVIEW_COLUMNS))


def is_complete(conn: sqlite3.Connection) -> bool:
    """Whether every review index exists and covers every record."""
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    wanted = {"record_entities", "records_text", "records_review_insert", "records_review_delete"}
    wanted |= {column.index for column in REVIEW_COLUMNS}
    if not wanted <= names:
        return False
    row = conn.execute(f"SELECT value FROM meta WHERE key = '{_MARK}'").fetchone()  # noqa: S608
    return row is None or int(row[0]) <= 0


def ensure_review_index(conn: sqlite3.Connection, progress: Progress | None = None) -> None:
    """Create the review indexes that are missing and index the records written before.

    ``conn`` is in autocommit mode (as `open_audit_db` makes it); each step is its own
    IMMEDIATE transaction. Records are only read: the chain is untouched.
    """
    if is_complete(conn):
        return
    say = progress or log.info
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    try:
        fresh = "records_text" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        for statement in _DDL:
            conn.execute(statement)
        if fresh:
            (top,) = conn.execute("SELECT coalesce(MAX(seq), 0) FROM records").fetchone()
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (_MARK, str(top + 1))
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    (below,) = conn.execute(f"SELECT {_MARK_SQL}").fetchone()
    if below > 1:
        say(f"audit store: building the review indexes over {below - 1:,} older records")
    for column in REVIEW_COLUMNS:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(column.ddl())
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if below > 1:
            say(f"audit store: review index {column.index} ready")
    for name in _DROPPED:
        conn.execute(f"DROP INDEX IF EXISTS {name}")
    _backfill(conn, below, say)
    if below > 1:
        say(f"audit store: review indexes built in {time.perf_counter() - started:.1f} s")


def _backfill(conn: sqlite3.Connection, below: int, say: Progress) -> None:
    (low,) = conn.execute("SELECT coalesce(MIN(seq), 1) FROM records").fetchone()
    total = max(0, below - low)
    last_said = time.perf_counter()
    while below > low:
        start = max(low, below - BACKFILL_STEP)
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "INSERT OR IGNORE INTO record_entities (entity_type, tenant, seq) "
                "SELECT json_extract(f.value, '$.entity_type') AS entity_type, r.tenant, r.seq "
                "FROM records r, json_each(r.body, '$.findings') f "
                "WHERE r.seq >= ? AND r.seq < ? AND entity_type IS NOT NULL",
                (start, below),
            )
            conn.execute(
                f"INSERT INTO records_text (rowid, text) SELECT seq, {search_text('body')} "  # noqa: S608
                "FROM records WHERE seq >= ? AND seq < ?",
                (start, below),
            )
            conn.execute("UPDATE meta SET value = ? WHERE key = ?", (str(start), _MARK))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        below = start
        if time.perf_counter() - last_said > 10:
            last_said = time.perf_counter()
            say(f"audit store: review indexes {100 * (total - (below - low)) // total}% built")
    conn.execute("UPDATE meta SET value = '0' WHERE key = ?", (_MARK,))
