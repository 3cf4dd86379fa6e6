"""The audit database file: its tables, indexes and append-only triggers, and opening it.

``records`` holds the chain (``body`` is the canonical JSON, ``prev_hash``/``hash`` the
links) plus a few columns copied from the body for indexed filtering in the console
(`verify` checks that they agree with the body), indexed per tenant by time and by
outcome, and by the console's review indexes (`review_index`: a column index per
filterable/sortable column, the DLP entity types, a trigram index for free text, kept in
sync by triggers); ``seq`` orders everything globally (``tail``). ``checkpoints``
holds the signed heads, ``anchors`` the checkpoint each tenant's chain starts from
after a retention purge, ``evidence`` the sealed evidence ciphertexts (`evidence_store`).

Triggers abort every UPDATE, and every DELETE except inside the retention purge: the
purge writes a ``purge_gate`` row (tenant, up to which number) in its own transaction,
deletes, and removes the row before committing. The gate is a guard against mistakes,
not against someone with the file: such a person can drop triggers, and the hash chain
and signed checkpoints are what catch them.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Final, Literal

from .errors import AuditStoreError
from .review_index import Progress, ensure_review_index

SCHEMA_VERSION: Final = "1"
#: Small pages because a flow's commit dirties one leaf page per index: with 4 KiB pages a
#: lone record costs ~40 KiB of WAL, with 1 KiB ~15 KiB (and half the commit time), which
#: keeps the WAL checkpoint's fsync short enough not to stall the flows behind it.
PAGE_SIZE: Final = 1024
type Synchronous = Literal["NORMAL", "FULL"]

_DDL: Final = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT",
    """CREATE TABLE IF NOT EXISTS records (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant TEXT NOT NULL,
        tenant_seq INTEGER NOT NULL,
        record_id TEXT NOT NULL UNIQUE,
        ts TEXT NOT NULL,
        kind TEXT NOT NULL,
        event TEXT,
        outcome TEXT NOT NULL,
        action TEXT,
        subject TEXT,
        department TEXT,
        provider TEXT,
        model TEXT,
        body TEXT NOT NULL,
        prev_hash BLOB NOT NULL,
        hash BLOB NOT NULL
    ) STRICT""",
    "CREATE UNIQUE INDEX IF NOT EXISTS records_tenant_seq ON records (tenant, tenant_seq)",
    "CREATE INDEX IF NOT EXISTS records_tenant_ts ON records (tenant, ts)",
    "CREATE INDEX IF NOT EXISTS records_tenant_outcome_ts ON records (tenant, outcome, ts)",
    """CREATE TABLE IF NOT EXISTS checkpoints (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant TEXT NOT NULL,
        tenant_seq INTEGER NOT NULL,
        head_hash BLOB NOT NULL,
        ts TEXT NOT NULL,
        signature BLOB NOT NULL,
        key_id TEXT NOT NULL
    ) STRICT""",
    "CREATE INDEX IF NOT EXISTS checkpoints_tenant_seq ON checkpoints (tenant, tenant_seq)",
    """CREATE TABLE IF NOT EXISTS anchors (
        tenant TEXT PRIMARY KEY,
        tenant_seq INTEGER NOT NULL,
        head_hash BLOB NOT NULL,
        ts TEXT NOT NULL,
        signature BLOB NOT NULL,
        key_id TEXT NOT NULL,
        purged_at TEXT NOT NULL
    ) STRICT""",
    "CREATE TABLE IF NOT EXISTS purge_gate (tenant TEXT PRIMARY KEY, upto INTEGER NOT NULL) STRICT",
    # Sealed evidence (audit/evidence_store.py): age ciphertexts, named by the records that
    # carry their SHA-256; append-only like records, deleted only by the retention purge.
    """CREATE TABLE IF NOT EXISTS evidence (
        evidence_id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        ts TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        ciphertext BLOB NOT NULL
    ) STRICT""",
    "CREATE INDEX IF NOT EXISTS evidence_tenant_ts ON evidence (tenant, ts)",
    """CREATE TRIGGER IF NOT EXISTS evidence_no_update BEFORE UPDATE ON evidence BEGIN
        SELECT RAISE(ABORT, 'sealed evidence is append-only: UPDATE is refused');
    END""",
    """CREATE TRIGGER IF NOT EXISTS evidence_no_delete BEFORE DELETE ON evidence
    WHEN NOT EXISTS (SELECT 1 FROM purge_gate g WHERE g.tenant = OLD.tenant)
    BEGIN
        SELECT RAISE(ABORT,
            'sealed evidence is append-only: DELETE is refused outside the retention purge');
    END""",
    """CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records BEGIN
        SELECT RAISE(ABORT, 'audit records are append-only: UPDATE is refused');
    END""",
    """CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records
    WHEN NOT EXISTS (
        SELECT 1 FROM purge_gate g WHERE g.tenant = OLD.tenant AND OLD.tenant_seq <= g.upto
    )
    BEGIN
        SELECT RAISE(ABORT,
            'audit records are append-only: DELETE is refused outside the retention purge');
    END""",
    """CREATE TRIGGER IF NOT EXISTS checkpoints_no_update BEFORE UPDATE ON checkpoints BEGIN
        SELECT RAISE(ABORT, 'audit checkpoints are append-only: UPDATE is refused');
    END""",
    """CREATE TRIGGER IF NOT EXISTS checkpoints_no_delete BEFORE DELETE ON checkpoints
    WHEN NOT EXISTS (
        SELECT 1 FROM purge_gate g WHERE g.tenant = OLD.tenant AND OLD.tenant_seq <= g.upto
    )
    BEGIN
        SELECT RAISE(ABORT,
            'audit checkpoints are append-only: DELETE is refused outside the retention purge');
    END""",
    """CREATE TRIGGER IF NOT EXISTS anchors_no_insert BEFORE INSERT ON anchors
    WHEN NOT EXISTS (SELECT 1 FROM purge_gate g WHERE g.tenant = NEW.tenant)
    BEGIN
        SELECT RAISE(ABORT, 'audit anchors are set by the retention purge only');
    END""",
    """CREATE TRIGGER IF NOT EXISTS anchors_no_update BEFORE UPDATE ON anchors
    WHEN NOT EXISTS (SELECT 1 FROM purge_gate g WHERE g.tenant = OLD.tenant)
    BEGIN
        SELECT RAISE(ABORT, 'audit anchors are set by the retention purge only');
    END""",
    """CREATE TRIGGER IF NOT EXISTS anchors_no_delete BEFORE DELETE ON anchors
    WHEN NOT EXISTS (SELECT 1 FROM purge_gate g WHERE g.tenant = OLD.tenant)
    BEGIN
        SELECT RAISE(ABORT, 'audit anchors are set by the retention purge only');
    END""",
)


def open_audit_db(
    path: Path,
    *,
    synchronous: Synchronous = "NORMAL",
    busy_timeout_ms: int = 2000,
    progress: Progress | None = None,
) -> sqlite3.Connection:
    """The audit database at ``path`` for writing, created 0600 with its schema if new.

    A database written before the review indexes existed gets them here (see
    `review_index`; ``progress`` hears how far the build is, every ten seconds or so).

    The connection is in autocommit mode (transactions are explicit) and may be handed
    to one other thread, which then owns it.
    """
    if synchronous not in ("NORMAL", "FULL"):
        raise AuditStoreError(
            f"audit synchronous mode {synchronous!r} is not supported",
            fix="set audit.synchronous to NORMAL (survives a process crash) "
            "or FULL (also power loss)",
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        conn.execute(f"PRAGMA page_size={PAGE_SIZE}")  # takes effect on a new file only
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        _create(conn)
        ensure_review_index(conn, progress)
    except (OSError, sqlite3.Error) as exc:
        raise AuditStoreError(
            f"cannot open the audit database {path}: {exc}",
            fix="check that its folder exists and is writable by the gateway's user "
            "and the disk is not full",
        ) from exc
    return conn


def open_audit_db_readonly(path: Path) -> sqlite3.Connection:
    """A connection that can only read (verify, export, tail); fails if the file is missing."""
    if not path.is_file():
        raise AuditStoreError(
            f"there is no audit database at {path}",
            fix="pass the path of the audit database (audit.path in the config)",
        )
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("SELECT 1 FROM records LIMIT 1").fetchall()
    except sqlite3.Error as exc:
        raise AuditStoreError(
            f"cannot read the audit database {path}: {exc}",
            fix="check the path and that the gateway's audit database is readable by you",
        ) from exc
    return conn


def _create(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in _DDL:
            conn.execute(statement)
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
            (SCHEMA_VERSION,),
        )
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) "
            "VALUES ('created_at', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"
        )
        (version,) = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if version != SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"its schema version is {version}, this gateway writes version {SCHEMA_VERSION}"
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
