"""Retention: `purge` removes a tenant's old records and keeps the rest verifiable.

The purge deletes whole records, oldest first, only up to and including the newest
checkpoint signed at or before the cut-off (every record up to it was committed before
that signature, so before the cut-off), and the sealed evidence those records name.
That checkpoint becomes the tenant's *anchor*: `verify` starts the chain from its signed
hash instead of from genesis, so the records that remain verify as before. Checkpoints
older than the anchor go with the records.
Records after the cut-off but before the next checkpoint stay until a later purge.

This is the only deletion path; it opens the triggers' ``purge_gate`` inside its own
transaction and closes it before committing (see `schema`).
"""

from __future__ import annotations

import datetime
import sqlite3
from dataclasses import dataclass

from .errors import AuditStoreError
from .evidence_store import purge_evidence
from .record import format_ts
from .review_index import forget_records
from .store import AuditLog


@dataclass(frozen=True, slots=True)
class PurgeResult:
    tenant: str
    cutoff: str
    #: The new anchor's number; None when no checkpoint is old enough (nothing purged).
    anchor_seq: int | None
    records_deleted: int
    checkpoints_deleted: int


def purge(db: AuditLog, tenant: str, older_than_days: int, now: datetime.datetime) -> PurgeResult:
    """Delete ``tenant``'s records older than ``older_than_days`` before ``now``; see above."""
    if older_than_days < 0:
        raise ValueError("older_than_days must not be negative")
    cutoff = format_ts(now - datetime.timedelta(days=older_than_days))
    conn = db.connection
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = _purge(conn, tenant, cutoff, format_ts(now))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise AuditStoreError(
            f"the retention purge of tenant {tenant!r} failed: {exc}",
            fix="check that the audit database is writable; "
            "the purge changed nothing and can be rerun",
        ) from exc
    return result


def _purge(conn: sqlite3.Connection, tenant: str, cutoff: str, purged_at: str) -> PurgeResult:
    anchor = conn.execute(
        "SELECT tenant_seq, head_hash, ts, signature, key_id FROM checkpoints "
        "WHERE tenant = ? AND ts <= ? ORDER BY tenant_seq DESC, id DESC LIMIT 1",
        (tenant, cutoff),
    ).fetchone()
    current = conn.execute("SELECT tenant_seq FROM anchors WHERE tenant = ?", (tenant,)).fetchone()
    if anchor is None or (current is not None and anchor[0] <= current[0]):
        return PurgeResult(tenant, cutoff, None, 0, 0)
    upto = anchor[0]
    conn.execute("INSERT INTO purge_gate (tenant, upto) VALUES (?, ?)", (tenant, upto))
    # Sealed evidence follows its record (and evidence whose record was never committed
    # goes once it is older than the anchor); see evidence_store.purge_evidence.
    purge_evidence(conn, tenant, upto, anchor[2])
    forget_records(conn, tenant, upto)
    records = conn.execute(
        "DELETE FROM records WHERE tenant = ? AND tenant_seq <= ?", (tenant, upto)
    ).rowcount
    checkpoints = conn.execute(
        "DELETE FROM checkpoints WHERE tenant = ? AND tenant_seq < ?", (tenant, upto)
    ).rowcount
    conn.execute("DELETE FROM anchors WHERE tenant = ?", (tenant,))
    conn.execute(
        "INSERT INTO anchors (tenant, tenant_seq, head_hash, ts, signature, key_id, purged_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (tenant, *anchor, purged_at),
    )
    conn.execute("DELETE FROM purge_gate WHERE tenant = ?", (tenant,))
    return PurgeResult(tenant, cutoff, upto, records, checkpoints)
