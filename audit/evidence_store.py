"""The ``evidence`` table of the audit database: storing, finding and checking sealed evidence.

A capture is stored *before* the record that names it is committed (the record carries
``details.evidence_id`` and ``details.evidence_sha256``, so the hash chain covers the
ciphertext). Evidence whose record never got committed (the flow failed in between) is an
orphan nobody can find from the trail; the retention purge removes it with the records of
its time. The gateway writes here on a connection of its own, off the event loop; the
audit writer process keeps the records, and SQLite's locking orders the two.

Opening evidence checks it against the chain: the record that names it must still hash to
its stored link (``chain_hash``), and the ciphertext to the record's ``evidence_sha256``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .canonical import chain_hash
from .errors import AuditStoreError
from .evidence import EvidenceEnvelope, SealedEvidence, ciphertext_sha256, read_recipients, seal
from .fields import hex_id
from .schema import open_audit_db

#: The ``details`` keys a flow record uses to name its evidence.
ID_KEY: Final = "evidence_id"
HASH_KEY: Final = "evidence_sha256"
TRUNCATED_KEY: Final = "evidence_truncated"


@dataclass(frozen=True, slots=True)
class StoredEvidence:
    evidence_id: str
    tenant: str
    ts: str
    sha256: str
    ciphertext: bytes


@dataclass(frozen=True, slots=True)
class EvidenceRecord:
    """The chain record that names a piece of evidence."""

    tenant: str
    tenant_seq: int
    record_id: str
    body: dict[str, Any]
    prev_hash: bytes
    hash: bytes

    @property
    def evidence_id(self) -> str:
        return str(self.body["details"][ID_KEY])

    @property
    def evidence_sha256(self) -> str:
        return str(self.body["details"].get(HASH_KEY, ""))

    def chain_intact(self, body_text: str) -> bool:
        return chain_hash(self.tenant, self.tenant_seq, self.prev_hash, body_text.encode()) == (
            self.hash
        )


class EvidenceWriter:
    """The gateway's connection for storing evidence (one thread at a time, by a lock)."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def put(self, sealed: SealedEvidence) -> None:
        """Store ``sealed`` (blocking: call it from a worker thread)."""
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = open_audit_db(self.db_path)
                self._conn.execute(
                    "INSERT INTO evidence (evidence_id, tenant, ts, sha256, ciphertext) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (
                        sealed.evidence_id,
                        sealed.tenant,
                        sealed.captured_at,
                        sealed.sha256,
                        sealed.ciphertext,
                    ),
                )
            except sqlite3.Error as exc:
                raise AuditStoreError(
                    f"cannot store sealed evidence in {self.db_path}: {exc}",
                    fix="check free disk space and that the audit database is writable",
                ) from exc

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def load_evidence(conn: sqlite3.Connection, evidence_id: str) -> StoredEvidence | None:
    try:
        row = conn.execute(
            "SELECT evidence_id, tenant, ts, sha256, ciphertext FROM evidence "
            "WHERE evidence_id = ?",
            (evidence_id,),
        ).fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None  # a database from before evidence existed
        raise
    return None if row is None else StoredEvidence(*row)


_SELECT: Final = "SELECT tenant, tenant_seq, record_id, body, prev_hash, hash FROM records "


def find_evidence_record(conn: sqlite3.Connection, key: str) -> tuple[EvidenceRecord, str] | None:
    """The record naming evidence ``key`` (an evidence id), or the record of flow ``key``
    (a record id: the record itself or a later record of its flow) that names evidence;
    with the record's body text as stored."""
    hex_id("evidence or flow id", key)
    rows = conn.execute(
        _SELECT + "WHERE json_extract(body, '$.details.evidence_id') = ? "
        "OR ((record_id = ? OR json_extract(body, '$.details.flow_record') = ?) "
        "AND json_extract(body, '$.details.evidence_id') IS NOT NULL) "
        "ORDER BY seq LIMIT 2",
        (key, key, key),
    ).fetchall()
    if not rows:
        return None
    tenant, tenant_seq, record_id, body, prev_hash, digest = rows[0]
    return EvidenceRecord(tenant, tenant_seq, record_id, json.loads(body), prev_hash, digest), body


def record_naming(conn: sqlite3.Connection, evidence_id: str) -> tuple[EvidenceRecord, str] | None:
    """The record whose ``details.evidence_id`` is ``evidence_id``."""
    row = conn.execute(
        _SELECT + "WHERE json_extract(body, '$.details.evidence_id') = ? ORDER BY seq LIMIT 1",
        (evidence_id,),
    ).fetchone()
    if row is None:
        return None
    tenant, tenant_seq, record_id, body, prev_hash, digest = row
    return EvidenceRecord(tenant, tenant_seq, record_id, json.loads(body), prev_hash, digest), body


def check_against_chain(
    record: EvidenceRecord, body_text: str, stored: StoredEvidence | None
) -> StoredEvidence:
    """``stored`` if its record is intact and names exactly this ciphertext; raises
    `AuditStoreError` saying what does not match otherwise."""
    if not record.chain_intact(body_text):
        raise AuditStoreError(
            f"record {record.tenant}#{record.tenant_seq} that names evidence "
            f"{record.evidence_id} no longer matches its hash in the chain",
            fix="the audit database was altered: run `warden audit verify` and treat the "
            "evidence as untrustworthy",
        )
    if stored is None:
        raise AuditStoreError(
            f"evidence {record.evidence_id} is named by record {record.tenant}#"
            f"{record.tenant_seq} but is not in the store",
            fix="it was removed (retention or tampering); `warden audit verify` tells which",
        )
    actual = ciphertext_sha256(stored.ciphertext)
    if actual != record.evidence_sha256 or stored.tenant != record.tenant:
        raise AuditStoreError(
            f"evidence {record.evidence_id} does not match the hash its record carries "
            f"(record {record.evidence_sha256[:16]}…, blob {actual[:16]}…)",
            fix="the stored blob was swapped or altered; do not rely on it, and run "
            "`warden audit verify`",
        )
    return stored


def purge_evidence(conn: sqlite3.Connection, tenant: str, upto: int, anchor_ts: str) -> int:
    """Inside the retention purge (its gate open): delete the evidence named by the
    records about to go, and orphans at least as old as the anchor that no remaining
    record names. Returns how many blobs went."""
    named = conn.execute(
        "DELETE FROM evidence WHERE tenant = ? AND evidence_id IN ("
        "SELECT json_extract(body, '$.details.evidence_id') FROM records "
        "WHERE tenant = ? AND tenant_seq <= ? "
        "AND json_extract(body, '$.details.evidence_id') IS NOT NULL)",
        (tenant, tenant, upto),
    ).rowcount
    orphans = conn.execute(
        "DELETE FROM evidence WHERE tenant = ? AND ts <= ? AND evidence_id NOT IN ("
        "SELECT json_extract(body, '$.details.evidence_id') FROM records "
        "WHERE tenant = ? AND tenant_seq > ? "
        "AND json_extract(body, '$.details.evidence_id') IS NOT NULL)",
        (tenant, anchor_ts, tenant, upto),
    ).rowcount
    return int(named) + int(orphans)


def recipients_file(recipients_dir: Path, tenant: str) -> Path:
    """Where tenant ``tenant``'s investigators' public keys are listed (an age recipients
    file: one ``age1…`` key per line, ``#`` comments)."""
    return recipients_dir / f"{tenant}.txt"


class EvidenceSealer:
    """Seals a capture to its tenant's investigators and stores it (blocking; a thread's).

    The recipients file is read at every capture, so ``warden evidence add-recipient``
    takes effect without a restart; captures are rare (only flows a rule names)."""

    def __init__(self, db_path: Path, recipients_dir: Path, max_bytes: int) -> None:
        self.recipients_dir = recipients_dir
        self.max_bytes = max_bytes
        self.writer = EvidenceWriter(db_path)

    def recipients(self, tenant: str) -> tuple[str, ...]:
        return read_recipients(recipients_file(self.recipients_dir, tenant))

    def capture(self, envelope: EvidenceEnvelope) -> SealedEvidence:
        sealed = seal(envelope, self.recipients(envelope.tenant))
        self.writer.put(sealed)
        return sealed

    def close(self) -> None:
        self.writer.close()
