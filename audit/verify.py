"""`verify`: recompute each tenant's chain from the file and check it against signed checkpoints.

Per tenant: the chain from genesis (or from the retention anchor, whose signature is
checked), each record's hash, link, number and canonical body (`chainwalk`); each
checkpoint's Ed25519 signature and that the chain has the signed hash at the signed
number; and that no checkpoint names a number beyond the last record (a cut-off tail).
Records after the newest checkpoint are covered by the chain only, not by a signature;
the report counts them (``unsigned_tail``). Checkpoints kept off-box (from syslog) can be
passed in as ``extra_checkpoints``: they catch a tail cut together with its checkpoints.

The database is opened read-only; nothing is written.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .chainwalk import ChainRow, walk_chain
from .checkpoint import Checkpoint, signature_valid
from .errors import AuditStoreError
from .findings import Finding, FindingKind
from .schema import open_audit_db_readonly
from .store import GENESIS, INDEXED_COLUMNS, Head

PROGRESS_EVERY: Final = 5_000
_ROW_SQL: Final = (
    "SELECT seq, tenant, tenant_seq, record_id, body, prev_hash, hash, "  # noqa: S608 - constants
    f"{', '.join(INDEXED_COLUMNS)} FROM records WHERE tenant = ? ORDER BY tenant_seq, seq"
)


@dataclass(frozen=True, slots=True)
class TenantSummary:
    """What was checked for one tenant."""

    tenant: str
    records: int
    #: Number of the chain's last record (the anchor's number when none remain).
    tail: int
    anchor_seq: int | None
    checkpoints: int
    newest_checkpoint_seq: int | None
    newest_checkpoint_ts: str | None
    #: Records after the newest valid checkpoint: chained but not yet signed.
    unsigned_tail: int
    #: When the anchor was signed: an anchor proves the chain is whole from there, not
    #: that what went before was old enough, so the summary shows its age.
    anchor_ts: str | None = None


@dataclass(frozen=True, slots=True)
class VerifyReport:
    findings: tuple[Finding, ...]
    tenants: tuple[TenantSummary, ...]

    @property
    def ok(self) -> bool:
        return not self.findings

    def describe(self) -> str:
        """A text for the operator: one line per tenant, then one per finding."""
        lines = [
            f"{t.tenant}: {t.records} records up to #{t.tail}, {t.checkpoints} checkpoints"
            + (
                f", anchored at #{t.anchor_seq} (signed {t.anchor_ts})"
                if t.anchor_seq is not None
                else ""
            )
            + (f", {t.unsigned_tail} not yet signed" if t.unsigned_tail else "")
            for t in self.tenants
        ]
        lines += [finding.describe() for finding in self.findings]
        lines.append(
            "OK: every chain verifies" if self.ok else f"FAILED: {len(self.findings)} finding(s)"
        )
        return "\n".join(lines)


def verify(
    db_path: Path,
    public_key: Ed25519PublicKey,
    tenant: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    *,
    extra_checkpoints: Iterable[Checkpoint] = (),
) -> VerifyReport:
    """Verify the audit database at ``db_path`` (one tenant, or all); see the module docstring."""
    conn = open_audit_db_readonly(db_path)
    try:
        if _is_fleet_copy(conn):
            raise AuditStoreError(
                f"{db_path} is a review copy of a fleet's records (`warden audit pull`), "
                "where the instances' chains are interleaved",
                fix="verify the fleet where its chains are whole: `warden audit verify --fleet`",
            )
        extra: dict[str, list[Checkpoint]] = {}
        for checkpoint in extra_checkpoints:
            extra.setdefault(checkpoint.tenant, []).append(checkpoint)
        tenants = [tenant] if tenant is not None else _tenants(conn, extra)
        if tenant is None:
            (total,) = conn.execute("SELECT COUNT(*) FROM records").fetchone()
        else:
            (total,) = conn.execute(
                "SELECT COUNT(*) FROM records WHERE tenant = ?", (tenant,)
            ).fetchone()
        counter = _Progress(progress, total)
        findings: list[Finding] = []
        summaries: list[TenantSummary] = []
        for name in tenants:
            summary, found = _verify_tenant(conn, name, public_key, extra.get(name, []), counter)
            summaries.append(summary)
            findings += found
        counter.done()
    finally:
        conn.close()
    return VerifyReport(tuple(findings), tuple(summaries))


def _is_fleet_copy(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT value FROM meta WHERE key = 'fleet_copy'").fetchone()
    return row is not None


class _Progress:
    def __init__(self, callback: Callable[[int, int], None] | None, total: int) -> None:
        self.callback = callback
        self.total = total
        self.count = 0

    def wrap(self, rows: Iterator[ChainRow]) -> Iterator[ChainRow]:
        for row in rows:
            self.count += 1
            if self.callback is not None and self.count % PROGRESS_EVERY == 0:
                self.callback(self.count, self.total)
            yield row

    def done(self) -> None:
        if self.callback is not None:
            self.callback(self.count, self.total)


def _tenants(conn: sqlite3.Connection, extra: dict[str, list[Checkpoint]]) -> list[str]:
    names = {row[0] for row in conn.execute("SELECT DISTINCT tenant FROM records")}
    names |= {row[0] for row in conn.execute("SELECT DISTINCT tenant FROM checkpoints")}
    names |= {row[0] for row in conn.execute("SELECT tenant FROM anchors")}
    return sorted(names | set(extra))


def _checkpoint(row: tuple[str, int, bytes, str, bytes, str]) -> Checkpoint:
    return Checkpoint(*row)


def _verify_tenant(
    conn: sqlite3.Connection,
    tenant: str,
    public_key: Ed25519PublicKey,
    extra: list[Checkpoint],
    counter: _Progress,
) -> tuple[TenantSummary, list[Finding]]:
    anchor_row = conn.execute(
        "SELECT tenant, tenant_seq, head_hash, ts, signature, key_id FROM anchors WHERE tenant = ?",
        (tenant,),
    ).fetchone()
    stored = [
        _checkpoint(row)
        for row in conn.execute(
            "SELECT tenant, tenant_seq, head_hash, ts, signature, key_id FROM checkpoints "
            "WHERE tenant = ? ORDER BY tenant_seq, id",
            (tenant,),
        )
    ]
    rows = (
        ChainRow(row[0], row[1], row[2], row[3], row[4], row[5], row[6], tuple(row[7:]))
        for row in conn.execute(_ROW_SQL, (tenant,))
    )
    anchor = _checkpoint(anchor_row) if anchor_row else None
    return check_tenant(tenant, public_key, anchor, [*stored, *extra], counter.wrap(rows))


def check_tenant(
    tenant: str,
    public_key: Ed25519PublicKey,
    anchor: Checkpoint | None,
    checkpoints: Iterable[Checkpoint],
    rows: Iterable[ChainRow],
) -> tuple[TenantSummary, list[Finding]]:
    """One tenant's chain (``rows`` in chain order) against its checkpoints and anchor,
    wherever they were read from: this file, or a fleet's central copy (`fleet`)."""
    findings: list[Finding] = []
    start = GENESIS
    if anchor is not None:
        start = Head(anchor.tenant_seq, anchor.head_hash)
        if not signature_valid(anchor, public_key):
            findings.append(
                Finding(
                    tenant,
                    FindingKind.BAD_SIGNATURE,
                    f"the retention anchor at #{anchor.tenant_seq} is not signed by key "
                    f"{anchor.key_id}'s holder or was altered: the start of the chain is unproven",
                    tenant_seq=anchor.tenant_seq,
                )
            )
    valid: list[Checkpoint] = []
    for checkpoint in checkpoints:
        if signature_valid(checkpoint, public_key):
            valid.append(checkpoint)
        else:
            findings.append(
                Finding(
                    tenant,
                    FindingKind.BAD_SIGNATURE,
                    f"the checkpoint at #{checkpoint.tenant_seq} ({checkpoint.ts}, key "
                    f"{checkpoint.key_id}) does not carry a valid signature of the given key",
                    tenant_seq=checkpoint.tenant_seq,
                )
            )
    result = walk_chain(tenant, rows, start, {c.tenant_seq for c in valid})
    findings += result.findings
    newest: Checkpoint | None = None
    for checkpoint in sorted(valid, key=lambda c: (c.tenant_seq, c.ts)):
        number = checkpoint.tenant_seq
        if newest is None or number >= newest.tenant_seq:
            newest = checkpoint
        if number > result.tail:
            continue
        actual = start.hash if number == start.tenant_seq else result.hashes_at.get(number)
        if number < start.tenant_seq or actual is None:
            continue
        if actual != checkpoint.head_hash:
            findings.append(
                Finding(
                    tenant,
                    FindingKind.CHECKPOINT_MISMATCH,
                    f"the chain at #{number} does not have the hash signed at {checkpoint.ts}: "
                    "records up to it were rewritten and re-hashed after signing",
                    tenant_seq=number,
                )
            )
    if newest is not None and newest.tenant_seq > result.tail:
        findings.append(
            Finding(
                tenant,
                FindingKind.TRUNCATED,
                f"records #{result.tail + 1}..#{newest.tenant_seq} are missing at the end: a "
                f"checkpoint signed at {newest.ts} says the chain reached #{newest.tenant_seq}",
                tenant_seq=result.tail + 1,
            )
        )
    summary = TenantSummary(
        tenant=tenant,
        records=result.rows,
        tail=result.tail,
        anchor_seq=anchor.tenant_seq if anchor else None,
        checkpoints=len(valid),
        newest_checkpoint_seq=newest.tenant_seq if newest else None,
        newest_checkpoint_ts=newest.ts if newest else None,
        unsigned_tail=max(0, result.tail - (newest.tenant_seq if newest else start.tenant_seq)),
        anchor_ts=anchor.ts if anchor else None,
    )
    return summary, findings
