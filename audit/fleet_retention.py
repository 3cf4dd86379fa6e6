"""Retention on the fleet's central audit copy: anchors, and deleting what lies below them.

The central copy follows each instance's retention. When an instance's retention purge
moves a tenant's anchor (`retention`), its shipper copies the anchor to
``audit_fleet_anchors`` (`fleet.FleetShipper`); the central records of that
instance/tenant up to the anchor, and its checkpoints before it, are then deleted here,
in bounded transactions (a first purge after an upgrade can reach millions of rows), so
that no tenant's records are kept centrally longer than its instances keep them.
`verify_fleet` starts that chain at the anchor, as local `verify` does, checking the
anchor's signature with the instance's key; `pull` drops the purged records from the
review copy.

An instance that no longer purges (dead, retired) is purged from here by
``warden audit purge --fleet`` (`purge_central`): the same rule as the local purge, on
the central rows: the newest checkpoint signed at or before the cut-off, whose signature
verifies with the instance's key and whose hash the central chain has at its number,
becomes the anchor, and everything up to it goes.

The triggers (`fleet_schema`, step 2) allow a DELETE only of rows at or below their
instance/tenant's anchor, and an anchor only to move forward.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .checkpoint import Checkpoint, signature_valid
from .record import format_ts

#: Rows deleted per transaction: a few hundred milliseconds of PostgreSQL's time (each
#: row passes the trigger's check), so a big first purge never holds a long transaction.
PURGE_BATCH: Final = 5000

_UPSERT_ANCHOR: Final = (
    "INSERT INTO audit_fleet_anchors (instance, tenant, tenant_seq, head_hash, ts, signature,"
    " key_id, purged_at, set_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (instance, tenant) DO UPDATE SET tenant_seq = excluded.tenant_seq,"
    " head_hash = excluded.head_hash, ts = excluded.ts, signature = excluded.signature,"
    " key_id = excluded.key_id, purged_at = excluded.purged_at, set_by = excluded.set_by"
    " WHERE audit_fleet_anchors.tenant_seq < excluded.tenant_seq"
)
_PURGE_RECORDS: Final = (
    "WITH doomed AS (SELECT r.tenant, r.tenant_seq FROM audit_fleet_anchors a"
    " JOIN audit_fleet_records r ON r.instance = a.instance AND r.tenant = a.tenant"
    " AND r.tenant_seq <= a.tenant_seq"
    " WHERE a.instance = %s AND (%s::text IS NULL OR a.tenant = %s) LIMIT %s)"
    " DELETE FROM audit_fleet_records r USING doomed d"
    " WHERE r.instance = %s AND r.tenant = d.tenant AND r.tenant_seq = d.tenant_seq"
)
_PURGE_CHECKPOINTS: Final = (
    "WITH doomed AS (SELECT c.local_id FROM audit_fleet_anchors a"
    " JOIN audit_fleet_checkpoints c ON c.instance = a.instance AND c.tenant = a.tenant"
    " AND c.tenant_seq < a.tenant_seq"
    " WHERE a.instance = %s AND (%s::text IS NULL OR a.tenant = %s) LIMIT %s)"
    " DELETE FROM audit_fleet_checkpoints c USING doomed d"
    " WHERE c.instance = %s AND c.local_id = d.local_id"
)


def central_anchors(pg: psycopg.Connection[Any], instance: str) -> dict[str, Checkpoint]:
    """Each tenant's anchor of ``instance`` in the central copy."""
    return {
        r[0]: Checkpoint(r[0], int(r[1]), bytes(r[2]), r[3], bytes(r[4]), r[5])
        for r in pg.execute(
            "SELECT tenant, tenant_seq, head_hash, ts, signature, key_id"
            " FROM audit_fleet_anchors WHERE instance = %s",
            (instance,),
        ).fetchall()
    }


def set_anchor(
    pg: psycopg.Connection[Any], instance: str, anchor: Checkpoint, purged_at: str, set_by: str
) -> bool:
    """Move ``instance``'s anchor of ``anchor.tenant`` forward to ``anchor`` (in the
    caller's transaction); False when the central one is already there or beyond."""
    cur = pg.execute(
        _UPSERT_ANCHOR,
        (
            instance,
            anchor.tenant,
            anchor.tenant_seq,
            anchor.head_hash,
            anchor.ts,
            anchor.signature,
            anchor.key_id,
            purged_at,
            set_by,
        ),
    )
    return cur.rowcount > 0


def purge_below_anchors(
    pg: psycopg.Connection[Any],
    instance: str,
    limit: int = PURGE_BATCH,
    tenant: str | None = None,
) -> tuple[int, int]:
    """Delete up to ``limit`` records of ``instance`` (one tenant, or all) at or below
    their tenant's anchor and up to ``limit`` checkpoints below it, in one transaction:
    (records, checkpoints). Fewer than ``limit`` of both: nothing is left to delete."""
    args = (instance, tenant, tenant, limit, instance)
    with pg.transaction():
        records = pg.execute(_PURGE_RECORDS, args).rowcount
        checkpoints = pg.execute(_PURGE_CHECKPOINTS, args).rowcount
    return max(records, 0), max(checkpoints, 0)


def purge_all_below_anchors(
    pg: psycopg.Connection[Any],
    instance: str,
    limit: int = PURGE_BATCH,
    tenant: str | None = None,
) -> tuple[int, int]:
    """`purge_below_anchors` until nothing is left: (records, checkpoints) deleted."""
    records = checkpoints = 0
    while True:
        r, c = purge_below_anchors(pg, instance, limit, tenant)
        records, checkpoints = records + r, checkpoints + c
        if r < limit and c < limit:
            return records, checkpoints


# -- ``warden audit purge --fleet``: instances that no longer purge themselves ---------------


@dataclass(frozen=True, slots=True)
class CentralPurge:
    """What the central purge did to one instance's tenant."""

    instance: str
    tenant: str
    cutoff: str
    #: The anchor after the purge (None: the chain still starts at genesis).
    anchor_seq: int | None
    anchor_ts: str | None
    #: Whether this run moved the anchor.
    moved: bool
    records_deleted: int
    checkpoints_deleted: int
    #: Why nothing was purged although a checkpoint was old enough (a finding to act on).
    refused: str | None = None

    def describe(self) -> str:
        where = f"{self.instance} {self.tenant}"
        if self.refused is not None:
            return f"{where}: REFUSED, nothing deleted: {self.refused}"
        if self.anchor_seq is None:
            return f"{where}: nothing signed at or before {self.cutoff}: nothing to delete"
        what = "now anchored" if self.moved else "anchored"
        return (
            f"{where}: {what} at #{self.anchor_seq} (checkpoint signed {self.anchor_ts}); "
            f"deleted {self.records_deleted} record(s), {self.checkpoints_deleted} checkpoint(s)"
        )


def purge_central(
    pg: psycopg.Connection[Any],
    keys: Mapping[str, Ed25519PublicKey],
    older_than_days: int,
    now: datetime.datetime,
    *,
    tenant: str | None = None,
    limit: int = PURGE_BATCH,
) -> list[CentralPurge]:
    """Apply retention to the central rows of the instances in ``keys`` (each with the
    key its checkpoints must verify with), one tenant or all; see the module docstring."""
    if older_than_days < 0:
        raise ValueError("older_than_days must not be negative")
    cutoff = format_ts(now - datetime.timedelta(days=older_than_days))
    purged_at = format_ts(now)
    results: list[CentralPurge] = []
    for instance in sorted(keys):
        tenants = sorted(
            {
                r[0]
                for r in pg.execute(
                    "SELECT DISTINCT tenant FROM audit_fleet_checkpoints WHERE instance = %s"
                    " UNION SELECT tenant FROM audit_fleet_anchors WHERE instance = %s",
                    (instance, instance),
                ).fetchall()
            }
        )
        if tenant is not None:
            tenants = [t for t in tenants if t == tenant]
        for name in tenants:
            result = _purge_tenant(pg, instance, keys[instance], name, cutoff, purged_at)
            if result.anchor_seq is not None:
                # also what an earlier run or the instance's shipper left (interrupted)
                records, checkpoints = purge_all_below_anchors(pg, instance, limit, name)
                result = dataclasses.replace(
                    result, records_deleted=records, checkpoints_deleted=checkpoints
                )
            results.append(result)
    return results


def _purge_tenant(
    pg: psycopg.Connection[Any],
    instance: str,
    key: Ed25519PublicKey,
    tenant: str,
    cutoff: str,
    purged_at: str,
) -> CentralPurge:
    with pg.transaction():
        # one central purge or shipment of this instance at a time
        pg.execute(
            "SELECT 1 FROM audit_fleet_instances WHERE instance = %s FOR UPDATE", (instance,)
        )
        current = central_anchors(pg, instance).get(tenant)
        row = pg.execute(
            "SELECT tenant, tenant_seq, head_hash, ts, signature, key_id"
            " FROM audit_fleet_checkpoints WHERE instance = %s AND tenant = %s AND ts <= %s"
            " ORDER BY tenant_seq DESC, local_id DESC LIMIT 1",
            (instance, tenant, cutoff),
        ).fetchone()
        candidate = (
            Checkpoint(row[0], int(row[1]), bytes(row[2]), row[3], bytes(row[4]), row[5])
            if row
            else None
        )

        def unchanged(refused: str | None = None) -> CentralPurge:
            """Nothing purged: the anchor stays where it is (and why, when refused)."""
            return CentralPurge(
                instance,
                tenant,
                cutoff,
                current.tenant_seq if current else None,
                current.ts if current else None,
                False,
                0,
                0,
                refused,
            )

        if candidate is None or (
            current is not None and candidate.tenant_seq <= current.tenant_seq
        ):
            return unchanged()
        refused = _refusal(pg, instance, key, candidate)
        if refused is not None:
            return unchanged(refused)
        set_anchor(pg, instance, candidate, purged_at, "central")
    return CentralPurge(instance, tenant, cutoff, candidate.tenant_seq, candidate.ts, True, 0, 0)


def _refusal(
    pg: psycopg.Connection[Any], instance: str, key: Ed25519PublicKey, candidate: Checkpoint
) -> str | None:
    """Why ``candidate`` must not become the anchor (None: it may)."""
    number = candidate.tenant_seq
    if not signature_valid(candidate, key):
        return (
            f"the checkpoint at #{number} (signed {candidate.ts}) does not verify with the "
            f"instance's key: run `warden audit verify --fleet --instance {instance}` and "
            "look into the central copy before deleting anything"
        )
    row = pg.execute(
        "SELECT hash FROM audit_fleet_records WHERE instance = %s AND tenant = %s"
        " AND tenant_seq = %s",
        (instance, candidate.tenant, number),
    ).fetchone()
    if row is None or bytes(row[0]) != candidate.head_hash:
        state = "is missing" if row is None else "has another hash"
        return (
            f"the record at #{number}, which the checkpoint signed at {candidate.ts} covers, "
            f"{state} in the central copy: run `warden audit verify --fleet --instance "
            f"{instance}` and look into the central copy before deleting anything"
        )
    return None
