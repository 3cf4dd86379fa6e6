"""The audit trail: record schema, hash-chained append-only SQLite log, checkpoints, syslog, export.

The public surface is re-exported here; the module docstrings of `canonical` (the hash
chain and checkpoint formats) and `schema` (the tables and triggers) are the reference
for anyone verifying an audit database without this code. Nothing here imports
mitmproxy or another warden domain package.
"""

from .checkpoint import (
    Checkpoint,
    CheckpointPolicy,
    CheckpointSigner,
    export_public_key,
    key_id,
    load_or_create_signing_key,
    load_public_key,
)
from .errors import AuditRecordError, AuditStoreError, AuditUnavailable, SigningKeyError
from .export import CSV_COLUMNS, export
from .findings import Finding, FindingKind
from .reader import StoredRecord
from .record import (
    SYSTEM_TENANT,
    AuditRecord,
    Decision,
    Destination,
    DlpFinding,
    Principal,
    Timing,
    Usage,
    format_ts,
)
from .retention import PurgeResult, purge
from .store import Appended, AuditLog, Head
from .tail import tail
from .verify import TenantSummary, VerifyReport, verify

__all__ = [
    "CSV_COLUMNS",
    "SYSTEM_TENANT",
    "Appended",
    "AuditLog",
    "AuditRecord",
    "AuditRecordError",
    "AuditStoreError",
    "AuditUnavailable",
    "Checkpoint",
    "CheckpointPolicy",
    "CheckpointSigner",
    "Decision",
    "Destination",
    "DlpFinding",
    "Finding",
    "FindingKind",
    "Head",
    "Principal",
    "PurgeResult",
    "SigningKeyError",
    "StoredRecord",
    "TenantSummary",
    "Timing",
    "Usage",
    "VerifyReport",
    "export",
    "export_public_key",
    "format_ts",
    "key_id",
    "load_or_create_signing_key",
    "load_public_key",
    "purge",
    "tail",
    "verify",
]
