"""Opening sealed evidence for a reviewer, with every attempt written to the audit trail.

`open_evidence` is the one way the CLI (``warden evidence open``) and the console open
evidence: find the record that names it, check record and blob against the chain,
decrypt with the reviewer's private key (read from a file each time, never kept), and
append an ``evidence.access`` admin record to the evidence's tenant chain saying who
(the reviewer and the OS user), which evidence, via what, and the result (``ok``, or
``failed``/``denied`` with the reason). The access record is committed before any
plaintext is returned: evidence whose access cannot be recorded stays sealed.
"""

from __future__ import annotations

import getpass
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from .errors import AuditStoreError
from .evidence import EvidenceEnvelope, EvidenceError, WrongKeyError, load_identities, open_sealed
from .evidence_store import check_against_chain, find_evidence_record, load_evidence
from .fields import fit_text
from .record import SYSTEM_TENANT, AuditRecord
from .schema import open_audit_db_readonly
from .store import AuditLog

ACCESS_EVENT: Final = "evidence.access"
type Via = Literal["cli", "console"]


@dataclass(frozen=True, slots=True)
class OpenedEvidence:
    envelope: EvidenceEnvelope
    tenant: str
    tenant_seq: int
    record_id: str
    sha256: str


class EvidenceAccessError(EvidenceError):
    """Opening failed (and that was recorded, where the tenant was known)."""


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def open_evidence(
    db_path: Path,
    key: str,
    identity_file: Path,
    *,
    reviewer: str,
    via: Via,
    allows: Callable[[str], bool] | None = None,
) -> OpenedEvidence:
    """Open evidence ``key`` (evidence id or flow record id) with the private key in
    ``identity_file``; raises `EvidenceAccessError` with the reason. ``allows(tenant)``
    False (a reviewer's scope) refuses, and that is recorded too."""
    conn = open_audit_db_readonly(db_path)
    tenant = SYSTEM_TENANT
    evidence_id = key
    try:
        try:
            found = find_evidence_record(conn, key)
        except ValueError as exc:
            raise EvidenceAccessError(
                str(exc), fix="pass an evidence id or a flow's record id (32 hex digits)"
            ) from None
        except sqlite3.Error as exc:
            raise EvidenceAccessError(
                f"cannot read the audit database: {exc}", fix="check the audit.path"
            ) from None
        if found is None:
            _record(db_path, tenant, evidence_id, reviewer, via, "failed", "no such evidence")
            raise EvidenceAccessError(
                f"no record names evidence or flow {key}",
                fix="copy the id from the record's details (evidence_id) or the flow's record id",
            )
        record, body_text = found
        tenant, evidence_id = record.tenant, record.evidence_id
        if allows is not None and not allows(tenant):
            _record(db_path, tenant, evidence_id, reviewer, via, "denied", "outside scope")
            raise EvidenceAccessError(
                f"evidence {evidence_id} belongs to tenant {tenant!r}, outside your scope",
                fix="ask a reviewer of that tenant",
            )
        try:
            stored = check_against_chain(record, body_text, load_evidence(conn, evidence_id))
        except AuditStoreError as exc:
            _record(db_path, tenant, evidence_id, reviewer, via, "failed", exc.message)
            raise EvidenceAccessError(exc.message, fix=exc.fix) from None
    finally:
        conn.close()
    try:
        envelope = open_sealed(stored.ciphertext, load_identities(identity_file))
        if envelope.evidence_id != evidence_id or envelope.tenant != tenant:
            raise EvidenceError(
                f"the sealed envelope names evidence {envelope.evidence_id} of "
                f"{envelope.tenant!r}, not {evidence_id} of {tenant!r}",
                fix="the blob was moved from another record; treat it as untrustworthy",
            )
    except EvidenceError as exc:
        reason = "wrong key" if isinstance(exc, WrongKeyError) else exc.message
        _record(db_path, tenant, evidence_id, reviewer, via, "failed", reason)
        raise EvidenceAccessError(exc.message, fix=exc.fix) from None
    _record(db_path, tenant, evidence_id, reviewer, via, "ok", None)
    return OpenedEvidence(envelope, tenant, record.tenant_seq, record.record_id, stored.sha256)


def _record(
    db_path: Path,
    tenant: str,
    evidence_id: str,
    reviewer: str,
    via: Via,
    outcome: Literal["ok", "failed", "denied"],
    reason: str | None,
) -> None:
    details: dict[str, str | int | bool] = {
        "evidence_id": fit_text(evidence_id, max_len=64) or "-",
        "reviewer": fit_text(reviewer, max_len=200) or "-",
        "os_user": fit_text(os_user(), max_len=200) or "-",
        "via": via,
    }
    if reason:
        details["reason"] = fit_text(reason, max_len=300) or "-"
    record = AuditRecord.new(
        kind="admin", tenant=tenant, event=ACCESS_EVENT, outcome=outcome, details=details
    )
    try:
        log = AuditLog.open(db_path)
        try:
            log.append([record])
        finally:
            log.close()
    except AuditStoreError as exc:
        raise EvidenceAccessError(
            f"the access to evidence {evidence_id} cannot be written to the audit trail, "
            f"so it stays sealed: {exc.message}",
            fix=f"open evidence as a user who may write the audit database ({db_path}); {exc.fix}",
        ) from None
