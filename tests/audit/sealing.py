"""Test harness for sealed evidence: investigator keys, and a captured flow in a real store.

`capture` does what the gateway's evidence stage does (seal to the tenant's recipients
file, store the blob, then commit the record naming its hash), without a proxy.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from warden.audit import AuditLog, AuditRecord
from warden.audit.evidence import CapturedBody, EvidenceEnvelope, generate_identity, write_identity
from warden.audit.evidence_store import (
    HASH_KEY,
    ID_KEY,
    EvidenceSealer,
    recipients_file,
)
from warden.audit.record import new_record_id

from .conftest import T0, flow_record


@dataclass(frozen=True)
class Investigator:
    key_file: Path
    public: str


def investigator(folder: Path, name: str = "investigator") -> Investigator:
    secret, public = generate_identity()
    path = folder / f"{name}.key"
    write_identity(path, secret, public, "2025-03-01T12:00:00.000Z")
    return Investigator(path, public)


def add_recipient(recipients_dir: Path, tenant: str, public: str) -> None:
    recipients_dir.mkdir(parents=True, exist_ok=True)
    with recipients_file(recipients_dir, tenant).open("a") as handle:
        handle.write(public + "\n")


def capture(
    db_path: Path,
    recipients_dir: Path,
    tenant: str = "acme",
    n: int = 0,
    request: bytes = b'{"messages":[{"role":"user","content":"my IBAN is DE89370400440532013000"}]}',
    answer: bytes | None = b'{"choices":[{"message":{"content":"noted"}}]}',
    max_bytes: int = 1024 * 1024,
) -> tuple[AuditRecord, str]:
    """Seal and store one capture and commit its record; (record, evidence id)."""
    evidence_id = new_record_id()
    at = T0 + datetime.timedelta(seconds=n)
    envelope = EvidenceEnvelope(
        evidence_id,
        tenant,
        at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "POST",
        "api.openai.com",
        "/v1/chat/completions",
        CapturedBody.capture(request, max_bytes, "application/json"),
        CapturedBody.capture(answer, max_bytes, "application/json") if answer else None,
    )
    sealer = EvidenceSealer(db_path, recipients_dir, max_bytes)
    try:
        sealed = sealer.capture(envelope)
    finally:
        sealer.close()
    record = flow_record(
        tenant, n, outcome="blocked", details={ID_KEY: evidence_id, HASH_KEY: sealed.sha256}
    )
    log = AuditLog.open(db_path)
    try:
        log.append([record])
    finally:
        log.close()
    return record, evidence_id
