"""One record in full, for the detail screen: the record, its chain link and its session.

`chain_status` re-checks the record's own link: its hash recomputed with
`warden.audit.canonical.chain_hash` from its stored ``prev_hash`` and body, the body in
canonical form, and ``prev_hash`` equal to the stored hash of its predecessor (the
tenant's record numbered one less, or the retention anchor, or genesis). It also names
the first signed checkpoint at or after the record and whether that signature holds.
That proves the record is consistent with its neighbour; that the whole chain up to the
checkpoint is intact is what the Integrity screen's full verify proves.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from warden.audit.canonical import GENESIS_HASH, canonical_record, chain_hash
from warden.audit.checkpoint import Checkpoint, signature_valid
from warden.audit.errors import AuditRecordError
from warden.audit.record import AuditRecord

from .scope import ReviewerScope

#: The redaction placeholders the DLP operators write into prompts, e.g. <EMAIL_ADDRESS_1>.
PLACEHOLDER: Final = re.compile(r"<[A-Z][A-Z0-9_]*_\d+>")


@dataclass(frozen=True, slots=True)
class ChainStatus:
    ok: bool
    summary: str
    problems: tuple[str, ...]
    checkpoint: str | None


@dataclass(frozen=True, slots=True)
class RecordDetail:
    seq: int
    tenant_seq: int
    hash: bytes
    prev_hash: bytes
    record: AuditRecord | None
    raw: dict[str, object]
    chain: ChainStatus


def load_detail(
    conn: sqlite3.Connection,
    scope: ReviewerScope,
    seq: int,
    public_key: Ed25519PublicKey | None,
) -> RecordDetail | None:
    """Record ``seq`` if it exists within ``scope`` (None otherwise: out of scope looks absent)."""
    scope_sql, params = scope.sql("tenant")
    row = conn.execute(
        "SELECT seq, tenant, tenant_seq, body, prev_hash, hash FROM records "  # noqa: S608 - constant SQL
        f"WHERE seq = ? AND {scope_sql}",
        [seq, *params],
    ).fetchone()
    if row is None:
        return None
    seq, tenant, tenant_seq, body, prev_hash, digest = row
    raw: dict[str, object] = json.loads(body)
    try:
        record: AuditRecord | None = AuditRecord.from_dict(raw)
    except AuditRecordError:
        record = None
    status = chain_status(conn, tenant, tenant_seq, body, prev_hash, digest, record, public_key)
    return RecordDetail(seq, tenant_seq, digest, prev_hash, record, raw, status)


def chain_status(
    conn: sqlite3.Connection,
    tenant: str,
    tenant_seq: int,
    body: str,
    prev_hash: bytes,
    digest: bytes,
    record: AuditRecord | None,
    public_key: Ed25519PublicKey | None,
) -> ChainStatus:
    problems: list[str] = []
    if record is None:
        problems.append("its body is not a valid audit record")
    elif canonical_record(record) != body.encode("utf-8"):
        problems.append("its body is not in canonical form")
    if len(prev_hash) != 32 or chain_hash(tenant, tenant_seq, prev_hash, body.encode()) != digest:
        problems.append("its content no longer matches its hash (edited)")
    expected = _predecessor_hash(conn, tenant, tenant_seq, prev_hash)
    if expected is None:
        problems.append(f"its predecessor #{tenant_seq - 1} is missing (deleted?)")
    elif expected != prev_hash:
        problems.append(f"it does not link to the stored hash of #{tenant_seq - 1}")
    checkpoint = _covering_checkpoint(conn, tenant, tenant_seq, public_key)
    if problems:
        return ChainStatus(False, "FAILED: " + "; ".join(problems), tuple(problems), checkpoint)
    return ChainStatus(
        True,
        f"verified: hash recomputed and linked to #{tenant_seq - 1}"
        if tenant_seq > 1
        else "verified: hash recomputed and linked to the start of the chain",
        (),
        checkpoint,
    )


def _predecessor_hash(
    conn: sqlite3.Connection, tenant: str, tenant_seq: int, prev_hash: bytes
) -> bytes | None:
    """The stored hash of the record before; in a fleet's review copy (audit/fleet.py)
    several instances have a #n-1, and the one this record links to is its own."""
    anchor = conn.execute(
        "SELECT tenant_seq, head_hash FROM anchors WHERE tenant = ?", (tenant,)
    ).fetchone()
    if anchor is not None and anchor[0] == tenant_seq - 1:
        return bytes(anchor[1])
    if tenant_seq == 1:
        return GENESIS_HASH
    hashes = [
        bytes(row[0])
        for row in conn.execute(
            "SELECT hash FROM records WHERE tenant = ? AND tenant_seq = ?",
            (tenant, tenant_seq - 1),
        )
    ]
    if not hashes:
        return None
    return prev_hash if prev_hash in hashes else hashes[0]


def _covering_checkpoint(
    conn: sqlite3.Connection, tenant: str, tenant_seq: int, public_key: Ed25519PublicKey | None
) -> str | None:
    row = conn.execute(
        "SELECT tenant, tenant_seq, head_hash, ts, signature, key_id FROM checkpoints "
        "WHERE tenant = ? AND tenant_seq >= ? ORDER BY tenant_seq, id LIMIT 1",
        (tenant, tenant_seq),
    ).fetchone()
    if row is None:
        return "not yet covered by a signed checkpoint"
    checkpoint = Checkpoint(row[0], row[1], bytes(row[2]), row[3], bytes(row[4]), row[5])
    if public_key is None:
        signed = "signature not checked (no public key)"
    elif signature_valid(checkpoint, public_key):
        signed = "signature valid"
    else:
        signed = "signature INVALID"
    return f"next checkpoint #{checkpoint.tenant_seq} at {checkpoint.ts} ({signed})"


def prompt_spans(prompt: str) -> list[tuple[str, bool]]:
    """``prompt`` cut into (text, is_placeholder) pieces, for highlighting redactions."""
    pieces: list[tuple[str, bool]] = []
    pos = 0
    for match in PLACEHOLDER.finditer(prompt):
        if match.start() > pos:
            pieces.append((prompt[pos : match.start()], False))
        pieces.append((match.group(0), True))
        pos = match.end()
    if pos < len(prompt):
        pieces.append((prompt[pos:], False))
    return pieces
