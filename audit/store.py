"""`AuditLog`: appending records to the per-tenant hash chains, and writing checkpoints.

One `AuditLog` is the single writer of an audit database (the writer process gives it a
thread). Each tenant's head (number and hash of its newest record) is cached in memory,
loaded on open and reloaded whenever another connection has committed since (SQLite's
``data_version``), e.g. a retention purge run from the CLI. ``append`` writes a whole
batch in one IMMEDIATE transaction: one commit for many records is what makes the
commit-before-release rule cheap.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Self

from .canonical import GENESIS_HASH, canonical_json, chain_hash
from .checkpoint import Checkpoint, CheckpointSigner
from .errors import AuditStoreError
from .record import AuditRecord
from .review_index import (
    Indexed,
    Progress,
    backfill_pending,
    backfill_step,
    index_records,
    index_text,
    text_mark,
)
from .schema import Synchronous, open_audit_db


@dataclass(frozen=True, slots=True)
class Head:
    """A tenant's newest link: its number and hash (``0`` and 32 zero bytes when empty)."""

    tenant_seq: int
    hash: bytes


GENESIS: Final = Head(0, GENESIS_HASH)


@dataclass(frozen=True, slots=True)
class Appended:
    """Where a committed record landed: global ``seq`` and its place in its tenant's chain."""

    seq: int
    tenant: str
    tenant_seq: int
    record_id: str
    hash: bytes


#: Columns copied from the body for indexed filtering, in the order of `indexed_values`.
INDEXED_COLUMNS: Final = (
    "ts",
    "kind",
    "event",
    "outcome",
    "action",
    "subject",
    "department",
    "provider",
    "model",
)
_INSERT: Final = (
    "INSERT INTO records (seq, tenant, tenant_seq, record_id, "  # noqa: S608 - constants
    f"{', '.join(INDEXED_COLUMNS)}, "
    "body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_DISTINCT_TENANTS: Final = """
WITH RECURSIVE t(tenant) AS (
    SELECT MIN(tenant) FROM records
    UNION ALL
    SELECT (SELECT MIN(tenant) FROM records WHERE tenant > t.tenant)
    FROM t WHERE t.tenant IS NOT NULL
)
SELECT tenant FROM t WHERE tenant IS NOT NULL
"""


class AuditLog:
    """The writing side of one audit database file."""

    def __init__(self, conn: sqlite3.Connection, path: Path, instance: str | None = None) -> None:
        self._conn = conn
        self.path = path
        #: Written into every record this log appends (`instance`); None: left as given.
        self.instance = instance
        self._heads: dict[str, Head] = {}
        self._data_version = -1
        (self._last_seq,) = conn.execute("SELECT coalesce(MAX(seq), 0) FROM records").fetchone()
        self._text_mark = text_mark(conn)
        #: Review indexes still to build over older records (a store from before them).
        self._backfill_pending = backfill_pending(conn)

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        synchronous: Synchronous = "NORMAL",
        busy_timeout_ms: int = 2000,
        progress: Progress | None = None,
        instance: str | None = None,
    ) -> Self:
        """Open (creating if needed) the database at ``path`` and load the tenants' heads.

        ``progress`` hears how far a first build of the review indexes has come;
        ``instance`` is the id this log writes into every record it appends.
        """
        log = cls(
            open_audit_db(
                path, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms, progress=progress
            ),
            path,
            instance,
        )
        try:
            log._refresh_heads()
        except sqlite3.Error as exc:
            log.close()
            raise log._store_error("read", exc) from exc
        return log

    def close(self) -> None:
        self._conn.close()

    @property
    def connection(self) -> sqlite3.Connection:
        """The write connection, for the retention purge (which runs its own transaction)."""
        return self._conn

    def disable_autocheckpoint(self) -> None:
        """Leave WAL checkpoints to a `WalCheckpointer`, off the commit path."""
        self._conn.execute("PRAGMA wal_autocheckpoint=0")

    def heads(self) -> dict[str, Head]:
        """A copy of the cached heads, tenant -> `Head`."""
        return dict(self._heads)

    def append(self, records: Sequence[AuditRecord]) -> list[Appended]:
        """Chain and insert ``records`` in one transaction; all are committed, or none.

        Raises `AuditStoreError` (cause attached) when SQLite refuses: disk full, database
        locked beyond the busy timeout, read-only file, duplicate ``record_id``.
        """
        if not records:
            return []
        pending: dict[str, Head] = {}
        appended: list[Appended] = []
        try:
            self._begin()
            try:
                row = self._conn.execute(
                    "SELECT seq FROM sqlite_sequence WHERE name = 'records'"
                ).fetchone()
                seq = (row[0] if row else 0) + 1
                rows = []
                indexed: list[Indexed] = []
                for record in records:
                    head = pending.get(record.tenant) or self._heads.get(record.tenant, GENESIS)
                    number = head.tenant_seq + 1
                    data = record.to_dict()
                    if self.instance is not None:
                        data["instance"] = self.instance  # the writer's, whatever came in
                    body = canonical_json(data)
                    digest = chain_hash(record.tenant, number, head.hash, body)
                    rows.append(
                        (seq, record.tenant, number, record.record_id, *indexed_values(record),
                         body.decode("utf-8"), head.hash, digest)
                    )  # fmt: skip
                    indexed.append((seq, record.tenant, data))
                    pending[record.tenant] = Head(number, digest)
                    appended.append(Appended(seq, record.tenant, number, record.record_id, digest))
                    seq += 1
                self._conn.executemany(_INSERT, rows)
                index_records(self._conn, indexed)
                self._conn.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        except sqlite3.Error as exc:
            raise self._store_error("write records to", exc) from exc
        self._heads.update(pending)
        if appended:
            self._last_seq = appended[-1].seq
        return appended

    @property
    def text_backlog(self) -> int:
        """Records appended (by this log) that the trigram index does not have yet."""
        return max(0, int(self._last_seq) - self._text_mark)

    @property
    def index_backlog(self) -> int:
        """Whether (how much) the writer has to index between batches: the text backlog,
        or 1 while review indexes over older records are still to build."""
        return max(self.text_backlog, int(self._backfill_pending))

    @property
    def backfilling(self) -> bool:
        """Whether review indexes over older records are still to build (`index_text`
        does a step of that first, which may hold the write lock for seconds)."""
        return self._backfill_pending

    def index_text(self, limit: int = 500, *, backfill: bool = True) -> int:
        """Add up to ``limit`` records to the trigram index (`review_index.index_text`),
        in a transaction of its own; returns how many. Call it between batches. While
        review indexes over older records are missing (a store from before them) and
        ``backfill``, a step of those goes first (`review_index.backfill_step`: a column
        index, or twice ``limit`` records' entity types and sort values, or ten times
        ``limit`` records' request terms)."""
        try:
            if self._backfill_pending and backfill:
                if backfill_step(self._conn, limit * 2):
                    return limit
                self._backfill_pending = False
            done = index_text(self._conn, limit)
            self._text_mark = text_mark(self._conn)
        except sqlite3.Error as exc:
            raise self._store_error("index the text of", exc) from exc
        if not done:
            self._text_mark = max(self._text_mark, self._last_seq)
        return done

    def add_checkpoints(
        self, signer: CheckpointSigner, tenants: Iterable[str], ts: str
    ) -> list[Checkpoint]:
        """Sign and store the current head of each of ``tenants`` (those with one) at ``ts``."""
        made: list[Checkpoint] = []
        try:
            self._begin()
            try:
                for tenant in tenants:
                    head = self._heads.get(tenant)
                    if head is None:
                        continue
                    checkpoint = signer.sign(tenant, head.tenant_seq, head.hash, ts)
                    self._conn.execute(
                        "INSERT INTO checkpoints "
                        "(tenant, tenant_seq, head_hash, ts, signature, key_id) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            tenant,
                            head.tenant_seq,
                            head.hash,
                            ts,
                            checkpoint.signature,
                            checkpoint.key_id,
                        ),
                    )
                    made.append(checkpoint)
                self._conn.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        except sqlite3.Error as exc:
            raise self._store_error("write checkpoints to", exc) from exc
        return made

    def checkpointed_heads(self) -> dict[str, int]:
        """tenant -> number of its newest checkpointed record."""
        try:
            rows = self._conn.execute(
                "SELECT tenant, MAX(tenant_seq) FROM checkpoints GROUP BY tenant"
            ).fetchall()
        except sqlite3.Error as exc:
            raise self._store_error("read", exc) from exc
        return {tenant: number for tenant, number in rows}

    def _begin(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            (version,) = self._conn.execute("PRAGMA data_version").fetchone()
            if version != self._data_version:
                self._refresh_heads()
                self._data_version = version
        except BaseException:
            self._rollback()
            raise

    def _refresh_heads(self) -> None:
        heads: dict[str, Head] = {}
        for tenant, number, head_hash in self._conn.execute(
            "SELECT tenant, tenant_seq, head_hash FROM anchors"
        ):
            heads[tenant] = Head(number, head_hash)
        for (tenant,) in self._conn.execute(_DISTINCT_TENANTS).fetchall():
            number, head_hash = self._conn.execute(
                "SELECT tenant_seq, hash FROM records WHERE tenant = ? "
                "ORDER BY tenant_seq DESC LIMIT 1",
                (tenant,),
            ).fetchone()
            if tenant not in heads or number > heads[tenant].tenant_seq:
                heads[tenant] = Head(number, head_hash)
        self._heads = heads

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def _store_error(self, action: str, exc: sqlite3.Error) -> AuditStoreError:
        return AuditStoreError(
            f"cannot {action} the audit database {self.path}: {exc}",
            fix="check free disk space, that the file is writable by the gateway's user, and "
            "that no other program holds a long write lock on it",
        )


def indexed_values(record: AuditRecord) -> tuple[str | None, ...]:
    """The values of `INDEXED_COLUMNS` for ``record``."""
    principal, destination, decision = record.principal, record.destination, record.decision
    return (
        record.ts,
        record.kind,
        record.event,
        record.outcome,
        decision.action if decision else None,
        principal.subject if principal else None,
        principal.department if principal else None,
        destination.provider if destination else None,
        destination.model if destination else None,
    )
