"""What an attacker with the database file can do: drop the triggers, then change rows."""

from __future__ import annotations

import dataclasses
import datetime
import sqlite3
from pathlib import Path

from warden.audit import AuditLog, AuditRecord, CheckpointSigner, format_ts
from warden.audit.canonical import GENESIS_HASH, canonical_record, chain_hash

from .conftest import T0, flow_record


@dataclasses.dataclass(frozen=True)
class Row:
    seq: int
    tenant_seq: int
    record_id: str


def build(db_path: Path, signer: CheckpointSigner, count: int = 20) -> dict[int, Row]:
    """``count`` acme records (a globex one after every 4th), checkpoints every 5; acme rows."""
    log = AuditLog.open(db_path)
    for n in range(1, count + 1):
        log.append([flow_record("acme", n)])
        if n % 4 == 0:
            log.append([flow_record("globex", n)])
        if n % 5 == 0:
            log.add_checkpoints(
                signer, ["acme", "globex"], format_ts(T0 + datetime.timedelta(seconds=n))
            )
    log.close()
    return rows(db_path, "acme")


def rows(db_path: Path, tenant: str) -> dict[int, Row]:
    with sqlite3.connect(db_path) as conn:
        return {
            tenant_seq: Row(seq, tenant_seq, record_id)
            for seq, tenant_seq, record_id in conn.execute(
                "SELECT seq, tenant_seq, record_id FROM records WHERE tenant = ?", (tenant,)
            )
        }


def attacker(db_path: Path) -> sqlite3.Connection:
    """A connection with every trigger dropped (commit and close it when done)."""
    conn = sqlite3.connect(db_path)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    return conn


def hash_of(db_path: Path, tenant: str, tenant_seq: int) -> bytes:
    if tenant_seq == 0:
        return GENESIS_HASH
    with sqlite3.connect(db_path) as conn:
        (digest,) = conn.execute(
            "SELECT hash FROM records WHERE tenant = ? AND tenant_seq = ?", (tenant, tenant_seq)
        ).fetchone()
    return bytes(digest)


def forged_row(
    tenant: str, number: int, prev_hash: bytes, record: AuditRecord
) -> tuple[object, ...]:
    """Column values (after seq) of a record the attacker chains correctly at ``number``."""
    body = canonical_record(record)
    principal, destination, decision = record.principal, record.destination, record.decision
    assert principal and destination and decision
    return (
        tenant, number, record.record_id, record.ts, record.kind, record.event, record.outcome,
        decision.action, principal.subject, principal.department, destination.provider,
        destination.model, body.decode(), prev_hash, chain_hash(tenant, number, prev_hash, body),
    )  # fmt: skip


INSERT = (
    "INSERT INTO records (seq, tenant, tenant_seq, record_id, ts, kind, event, outcome, action, subject, "
    "department, provider, model, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
