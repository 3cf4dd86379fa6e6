"""The audit trail of a fleet: each instance's chains copied to PostgreSQL, verified there.

Choice: the records are **also stored centrally**, rather than the console reading every
instance's store. Reading every store would need every instance up, reachable and
exposing its audit database to the reviewer's machine; a dead instance (the very case a
fleet exists for) would hide its records exactly when they are wanted. PostgreSQL is
already the fleet's one shared service (``state.backend: postgresql``), so it holds a
copy of every chain, and `verify_fleet` and the console (through `pull`) read that.

What stays as it was: each instance's local SQLite store (`store.AuditLog`) is the
durable source and the commit-before-release point; no flow ever waits on PostgreSQL or
on another instance. `FleetShipper` (a thread of the host's one audit writer process)
copies what that store committed, in batches, to ``audit_fleet_records`` keyed by
(instance, tenant, tenant_seq), and its checkpoints to ``audit_fleet_checkpoints``. The
position shipped so far is kept in the instance's row of ``audit_fleet_instances`` and
moved in the same transaction as the rows, so a restart, a killed writer or a
PostgreSQL outage resumes exactly where the last commit left off: the local store is the
buffer, nothing committed locally is lost, and re-sending is harmless (``ON CONFLICT DO
NOTHING``, then every row is compared with what the central copy holds: a different
hash at a shipped position stops shipping with an error, it is never overwritten).

Keys: an instance registers its checkpoint public key with its first shipment; the row's
key cannot change afterwards (a trigger refuses it). `verify_fleet` checks each
instance's checkpoints against that key, or against a key the operator pins
(``--key-dir`` with ``<instance>.pub``), which is what catches someone who can write the
database *and* replace a key. Checkpoints keep their signed message (`canonical`): the
instance is bound by the head hash they sign, since every record since fleets exist
names its instance in its hashed body.

Central tables are append-only (triggers refuse UPDATE and DELETE); like the local
ones, that guards against mistakes, and the chains and signatures catch the rest. The one
exception is retention (`fleet_retention`): the shipper also copies each tenant's local
retention anchor when it moves, and the central rows up to it are deleted then, so the
copy keeps a tenant's records no longer than its instance does; `verify_fleet` starts the
chain at that anchor and checks its signature, as local `verify` does.

Over 400 lines because shipping, verifying and pulling read the same central tables.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from warden.pgbounds import WATCHDOG, bounded_conninfo

from .chainwalk import ChainRow
from .checkpoint import Checkpoint, export_public_key, key_id, load_public_key
from .errors import AuditStoreError, SigningKeyError
from .fields import INSTANCE_PATTERN
from .findings import Finding, FindingKind
from .fleet_retention import (
    PURGE_BATCH,
    central_anchors,
    purge_below_anchors,
    set_anchor,
)
from .fleet_status import HEARTBEAT_S, STATUS_FILE, Cause, ShippingStatus, read_status, write_status
from .review_index import forget_rows, index_records, index_text
from .schema import open_audit_db, open_audit_db_readonly
from .store import INDEXED_COLUMNS
from .verify import TenantSummary, VerifyReport, check_tenant

log = logging.getLogger(__name__)

_COLUMNS: Final = ", ".join(INDEXED_COLUMNS)
_RECORD_COLUMNS: Final = (
    f"instance, seq, tenant, tenant_seq, record_id, {_COLUMNS}, body, prev_hash, hash"
)
#: This connection's staging table (temporary: emptied at each commit, gone with it).
_STAGING: Final = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS audit_fleet_incoming"
    " (LIKE audit_fleet_records) ON COMMIT DELETE ROWS"
)
_COPY_STAGED: Final = f"COPY audit_fleet_incoming ({_RECORD_COLUMNS}) FROM STDIN"
#: A row at or below its tenant's central anchor is never inserted again (a re-sent batch
#: after the copy purged it): the central copy keeps no record its retention removed.
_INSERT_STAGED: Final = (
    f"INSERT INTO audit_fleet_records ({_RECORD_COLUMNS})"  # noqa: S608 - constants
    f" SELECT {_RECORD_COLUMNS} FROM audit_fleet_incoming i WHERE NOT EXISTS"
    " (SELECT 1 FROM audit_fleet_anchors a WHERE a.instance = i.instance"
    " AND a.tenant = i.tenant AND i.tenant_seq <= a.tenant_seq)"
    " ON CONFLICT (instance, tenant, tenant_seq) DO NOTHING"
)
#: A local anchor: (tenant, tenant_seq, head_hash, ts, signature, key_id, purged_at).
type LocalAnchor = tuple[str, int, bytes, str, bytes, str, str]
#: Records per shipping transaction: large enough that a backlog after an outage drains
#: fast, small enough that one transaction stays short.
SHIP_BATCH: Final = 500
#: After a shipment, how long commits may gather before the next one (the copy's lag
#: in normal operation is about this plus a transaction).
COALESCE_S: Final = 0.1
#: Waits between attempts while PostgreSQL is unreachable, in seconds.
RETRY_DELAYS: Final = (0.5, 1.0, 2.0, 5.0)
#: A conflicting central copy needs a person; it is looked at again this rarely.
CONFLICT_RETRY_S: Final = 60.0
#: One batch's transaction, client side: a frozen server (SIGSTOP) or a cut network
#: fails it after this long (warden/pgbounds.py); the batch is shipped again afterwards.
#: The server cancels a statement at ``BATCH_STATEMENT_TIMEOUT_S``.
BATCH_TIMEOUT_S: Final = 10.0
BATCH_STATEMENT_TIMEOUT_S: Final = 8.0


class FleetConflict(AuditStoreError):
    """The central copy disagrees with this instance's store; shipping stops until fixed."""


def _now() -> str:
    moment = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds") + "Z"


class FleetShipper:
    """Copies one instance's committed records and checkpoints to PostgreSQL (a thread).

    ``poke()`` after a commit wakes it at once; otherwise it looks every ``idle_s``.
    It never blocks the writer: it reads the audit database on its own read-only
    connection, and every failure is logged and retried. Where it stands (records behind,
    since when, the last failure) goes to ``fleet-shipping.json`` beside the database
    (`fleet_status`), for the gateway's ``/metrics`` and `warden doctor`.
    """

    def __init__(
        self,
        db_path: Path,
        instance: str,
        public_key: Ed25519PublicKey,
        dsn: str,
        *,
        batch: int = SHIP_BATCH,
        idle_s: float = 1.0,
        coalesce_s: float = COALESCE_S,
        purge_batch: int = PURGE_BATCH,
    ) -> None:
        self.db_path = db_path
        self.instance = instance
        self.public_key = public_key
        self._dsn = dsn
        self.batch = batch
        self.idle_s = idle_s
        self.coalesce_s = coalesce_s
        self.purge_batch = purge_batch
        #: The local anchors the central copy is known to have (None: not compared yet).
        self._anchors: dict[str, tuple[int, bytes]] | None = None
        #: Central rows below an anchor may remain (a purge interrupted, or just shipped).
        self._purge_pending = True
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Why the last attempt failed, until one succeeds (None: shipping).
        self.problem: str | None = None
        self.cause: Cause | None = None
        self.status_path = db_path.parent / STATUS_FILE
        self._problem_since: float | None = None
        self._written_at = 0.0
        self._status_error: str | None = None
        # Where the previous run stopped: a lower bound of what the central copy holds,
        # until the first shipment reads the real position.
        before = self._previous_status()
        self.local_seq = before.local_seq if before else 0
        self.shipped_seq = before.shipped_seq if before else 0
        self.oldest_unshipped_at: float | None = before.oldest_unshipped_at if before else None

    def _previous_status(self) -> ShippingStatus | None:
        try:
            status = read_status(self.status_path)
        except (OSError, ValueError):
            return None
        return status if status is not None and status.instance == self.instance else None

    def status(self, now: float | None = None) -> ShippingStatus:
        return ShippingStatus(
            instance=self.instance,
            updated_at=time.time() if now is None else now,
            local_seq=self.local_seq,
            shipped_seq=self.shipped_seq,
            oldest_unshipped_at=self.oldest_unshipped_at,
            problem=self.problem,
            cause=self.cause,
            problem_since=self._problem_since,
        )

    def report(self, *, force: bool = False) -> None:
        """Rewrite the status file: at once when ``force``, else at most every heartbeat."""
        now = time.time()
        if not force and now - self._written_at < HEARTBEAT_S:
            return
        try:
            write_status(self.status_path, self.status(now))
        except OSError as exc:
            if str(exc) != self._status_error:
                log.warning("cannot write the audit shipping status %s: %s", self.status_path, exc)
            self._status_error = str(exc)
            return
        self._status_error = None
        self._written_at = now

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="audit-fleet-shipper", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        self._wake.set()

    def stop(self, wait_s: float = 10.0) -> None:
        """Ship what is committed (within ``wait_s``), then stop."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(wait_s)

    def _run(self) -> None:
        failures = 0
        local: sqlite3.Connection | None = None
        self.report(force=True)
        while True:
            try:
                if local is None:
                    local = open_audit_db_readonly(self.db_path)
                with psycopg.connect(
                    bounded_conninfo(self._dsn, statement_timeout_s=BATCH_STATEMENT_TIMEOUT_S),
                    autocommit=True,
                ) as pg:
                    with WATCHDOG.bound(pg, "registering the audit shipper", BATCH_TIMEOUT_S):
                        self.register(pg)
                    while True:
                        with WATCHDOG.bound(pg, "shipping audit records", BATCH_TIMEOUT_S):
                            moved = self.ship_once(pg, local)
                        recovered = self.problem is not None
                        if recovered:
                            log.warning("shipping audit records to PostgreSQL again")
                            self.problem = self.cause = self._problem_since = None
                        self.report(force=recovered)
                        failures = 0
                        if moved >= self.batch or self._purge_pending:
                            continue  # a backlog (to ship or to delete): the next at once
                        if moved:
                            # let the next commits gather: one transaction for many
                            # records costs PostgreSQL and the writer less than many
                            self._stop.wait(self.coalesce_s)
                            continue
                        if self._stop.is_set():
                            return
                        self._wake.wait(self.idle_s)
                        self._wake.clear()
            except FleetConflict as exc:
                self._failed(exc.message + "; " + exc.fix, "conflict", local, error=True)
                if self._stop.wait(CONFLICT_RETRY_S):
                    return
            except (psycopg.Error, sqlite3.Error, AuditStoreError) as exc:
                if isinstance(exc, sqlite3.Error) and local is not None:
                    local.close()
                    local = None
                self._failed(
                    f"cannot ship audit records to PostgreSQL yet: {exc}", "unreachable", local
                )
                delay = RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)]
                failures += 1
                if self._stop.wait(delay):
                    return
            except Exception:  # a bug must not end shipping for the writer's lifetime
                log.exception("the audit fleet shipper failed; trying again")
                self._failed("the audit fleet shipper failed (see the log)", "internal", None)
                if self._stop.wait(RETRY_DELAYS[-1]):
                    return

    def _failed(
        self, text: str, cause: Cause, local: sqlite3.Connection | None, *, error: bool = False
    ) -> None:
        changed = text != self.problem
        if changed:  # once per cause, not once per retry
            (log.error if error else log.warning)("%s (records stay in the local store)", text)
            if self.problem is None:
                self._problem_since = time.time()
        self.problem, self.cause = text, cause
        behind = (self.local_seq, self.oldest_unshipped_at)
        if local is not None:  # how far behind: two primary-key reads
            with contextlib.suppress(sqlite3.Error):
                self.local_seq, oldest = _behind(local, self.shipped_seq)
                self.oldest_unshipped_at = _epoch(oldest)
        # a new cause, or records committed since the last attempt: the operator's figures
        # (/metrics, doctor) say so now, not at the next heartbeat
        self.report(force=changed or behind != (self.local_seq, self.oldest_unshipped_at))

    def register(self, pg: psycopg.Connection[Any]) -> None:
        """Record this instance and its key; refuse if the instance has another key."""
        mine = key_id(self.public_key)
        pg.execute(_STAGING)
        pg.execute(
            "INSERT INTO audit_fleet_instances (instance, key_id, public_key, registered_at)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (instance) DO NOTHING",
            (self.instance, mine, export_public_key(self.public_key).decode(), _now()),
        )
        row = pg.execute(
            "SELECT key_id FROM audit_fleet_instances WHERE instance = %s", (self.instance,)
        ).fetchone()
        if row is None or row[0] != mine:
            raise FleetConflict(
                f"instance {self.instance!r} is registered in the central audit copy with key "
                f"{row[0] if row else '?'}, but its audit folder signs with key {mine}",
                fix="two gateways share one instance id (give each its own fleet.instance_id "
                "and audit folder), or this folder's signing key was replaced: restore it",
            )

    def ship_once(self, pg: psycopg.Connection[Any], local: sqlite3.Connection) -> int:
        """Ship the next batch in one transaction, then delete one batch of central rows
        below a moved anchor (`fleet_retention`) in another; returns how many rows moved
        or went."""
        moved, shipped, last_local, oldest = self._ship_batch(pg, local)
        self.shipped_seq, self.local_seq = shipped, last_local
        self.oldest_unshipped_at = _epoch(oldest)
        if self._purge_pending:
            records, checkpoints = purge_below_anchors(pg, self.instance, self.purge_batch)
            self._purge_pending = max(records, checkpoints) >= self.purge_batch
            if records or checkpoints:
                log.info(
                    "central audit copy: deleted %d record(s) and %d checkpoint(s) of instance"
                    " %s at or below its retention anchors",
                    records,
                    checkpoints,
                    self.instance,
                )
            moved += records + checkpoints  # more left (`_purge_pending`): `_run` goes on
        return moved

    def _ship_batch(
        self, pg: psycopg.Connection[Any], local: sqlite3.Connection
    ) -> tuple[int, int, int, object]:
        """(rows moved, shipped up to, the local end, the time of the oldest record the
        copy lacks after this batch, or None)."""
        with pg.transaction():
            row = pg.execute(
                "SELECT shipped_seq, shipped_checkpoint FROM audit_fleet_instances"
                " WHERE instance = %s FOR UPDATE",
                (self.instance,),
            ).fetchone()
            if row is None:
                raise FleetConflict(
                    f"instance {self.instance!r} is missing from audit_fleet_instances",
                    fix="the central copy was altered; restore the state database",
                )
            shipped_seq, shipped_cp = int(row[0]), int(row[1])
            # one read snapshot: the checkpoints read sign records this snapshot has
            local.execute("BEGIN")
            try:
                records = local.execute(
                    f"SELECT seq, tenant, tenant_seq, record_id, {_COLUMNS}, body, prev_hash, "  # noqa: S608 - constants
                    "hash FROM records WHERE seq > ? ORDER BY seq LIMIT ?",
                    (shipped_seq, self.batch),
                ).fetchall()
                checkpoints = []
                if len(records) < self.batch:  # caught up: their checkpoints may follow
                    checkpoints = local.execute(
                        "SELECT id, tenant, tenant_seq, head_hash, ts, signature, key_id"
                        " FROM checkpoints WHERE id > ? ORDER BY id LIMIT ?",
                        (shipped_cp, self.batch),
                    ).fetchall()
                after = int(records[-1][0]) if records else shipped_seq
                last_local, oldest = _behind(local, after)
                anchors: list[LocalAnchor] = local.execute(
                    "SELECT tenant, tenant_seq, head_hash, ts, signature, key_id, purged_at"
                    " FROM anchors"
                ).fetchall()
            finally:
                local.execute("COMMIT")
            if not records and shipped_seq > last_local:
                raise FleetConflict(
                    f"the central audit copy holds records of instance {self.instance!r} up to "
                    f"#{shipped_seq}, but its local store ends at #{last_local}",
                    fix="the local audit database was replaced by an older one or a new one: "
                    "restore the current file, or give this store a new fleet.instance_id",
                )
            seen = {a[0]: (int(a[1]), bytes(a[2])) for a in anchors}
            moved_anchors = 0
            if seen != self._anchors:
                moved_anchors = self._ship_anchors(pg, anchors)
            if not records and not checkpoints:
                if moved_anchors:
                    pg.execute(
                        "UPDATE audit_fleet_instances SET shipped_at = %s WHERE instance = %s",
                        (_now(), self.instance),
                    )
                self._shipped_anchors(seen, moved_anchors)
                return moved_anchors, shipped_seq, last_local, oldest
            self._ship_records(pg, records)
            with pg.cursor() as cur:
                cur.executemany(
                    "INSERT INTO audit_fleet_checkpoints (instance, local_id, tenant, tenant_seq,"
                    " head_hash, ts, signature, key_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (instance, local_id) DO NOTHING",
                    [(self.instance, *c) for c in checkpoints],
                )
            pg.execute(
                "UPDATE audit_fleet_instances SET shipped_seq = %s, shipped_checkpoint = %s,"
                " shipped_at = %s WHERE instance = %s",
                (
                    records[-1][0] if records else shipped_seq,
                    checkpoints[-1][0] if checkpoints else shipped_cp,
                    _now(),
                    self.instance,
                ),
            )
        self._shipped_anchors(seen, moved_anchors)
        return len(records) + len(checkpoints) + moved_anchors, after, last_local, oldest

    def _shipped_anchors(self, seen: dict[str, tuple[int, bytes]], moved: int) -> None:
        """Called once the transaction that shipped ``seen`` is committed (a ``with``
        block that raised never gets here)."""
        self._anchors = seen
        if moved:
            self._purge_pending = True

    def _ship_anchors(self, pg: psycopg.Connection[Any], anchors: list[LocalAnchor]) -> int:
        """Copy the local anchors that moved past the central ones (in the batch's
        transaction); returns how many moved. A local anchor the central chain
        contradicts stops shipping: its rows would be deleted on a foreign store's word."""
        central = central_anchors(pg, self.instance)
        moved = 0
        for tenant, number, head, ts, signature, key, purged_at in anchors:
            held = central.get(tenant)
            if held is not None and held.tenant_seq >= number:
                if held.tenant_seq == number and held.head_hash != bytes(head):
                    raise self._anchor_conflict(tenant, number)
                continue  # the central copy is there already (or purged further itself)
            row = pg.execute(
                "SELECT hash FROM audit_fleet_records WHERE instance = %s AND tenant = %s"
                " AND tenant_seq = %s",
                (self.instance, tenant, number),
            ).fetchone()
            if row is not None and bytes(row[0]) != bytes(head):
                raise self._anchor_conflict(tenant, number)
            anchor = Checkpoint(tenant, int(number), bytes(head), ts, bytes(signature), key)
            moved += set_anchor(pg, self.instance, anchor, purged_at, "instance")
        return moved

    def _anchor_conflict(self, tenant: str, number: int) -> FleetConflict:
        return FleetConflict(
            f"the local retention anchor of instance {self.instance!r}, tenant {tenant!r} at "
            f"#{number} does not match the central audit copy's chain there",
            fix="the local audit database was replaced, or two gateways share one instance "
            "id; restore the original file or give this one its own id",
        )

    def _ship_records(self, pg: psycopg.Connection[Any], records: list[Any]) -> None:
        if not records:
            return
        self._check_continues(pg, records)
        # COPY into this session's staging table, then one INSERT: psycopg's COPY formats
        # rows in C, where executemany spent ~30 µs of the writer's CPU on each row
        with pg.cursor() as cur:
            with cur.copy(_COPY_STAGED) as copy:
                for r in records:
                    copy.write_row((self.instance, *r))
            cur.execute(_INSERT_STAGED)
            inserted = cur.rowcount
        if inserted == len(records):
            return  # every row is new: nothing to compare
        # a re-sent batch (or a conflict): what the copy holds must be what was sent,
        # except what its retention purged (at or below an anchor: never inserted again)
        purged = {t: a.tenant_seq for t, a in central_anchors(pg, self.instance).items()}
        held = {
            (tenant, number): bytes(digest)
            for tenant, number, digest in pg.execute(
                "SELECT tenant, tenant_seq, hash FROM audit_fleet_records"
                " WHERE instance = %s AND seq BETWEEN %s AND %s",
                (self.instance, records[0][0], records[-1][0]),
            ).fetchall()
        }
        for r in records:
            tenant, number, digest = r[1], r[2], r[-1]
            if number <= purged.get(tenant, 0):
                continue
            if held.get((tenant, number)) != digest:
                raise FleetConflict(
                    f"the central audit copy already holds a different record at instance "
                    f"{self.instance!r}, tenant {tenant!r}, #{number}",
                    fix="the local audit database was replaced, or two gateways share one "
                    "instance id; restore the original file or give this one its own id",
                )

    def _check_continues(self, pg: psycopg.Connection[Any], records: list[Any]) -> None:
        """Each tenant's first record of the batch must link to what the copy holds
        before it: a store replaced by another one never grafts onto the central chain."""
        first: dict[str, tuple[int, bytes]] = {}
        for r in records:
            first.setdefault(r[1], (int(r[2]), bytes(r[-2])))
        before = {
            tenant: (int(number), bytes(digest))
            for tenant, number, digest in pg.execute(
                "SELECT t.tenant, r.tenant_seq, r.hash"
                " FROM unnest(%s::text[], %s::bigint[]) AS t (tenant, n)"
                " CROSS JOIN LATERAL (SELECT tenant_seq, hash FROM audit_fleet_records"
                "  WHERE instance = %s AND tenant = t.tenant AND tenant_seq < t.n"
                "  ORDER BY tenant_seq DESC LIMIT 1) AS r",
                (list(first), [n for n, _ in first.values()], self.instance),
            ).fetchall()
        }
        anchors: dict[str, Checkpoint] | None = None
        for tenant, (number, prev_hash) in first.items():
            row = before.get(tenant)
            if row is None or row[0] != number - 1:
                # the copy's first records of this tenant (after genesis), or records
                # after an anchor, below which rows are gone or still being deleted
                if anchors is None:
                    anchors = central_anchors(pg, self.instance)
                anchor = anchors.get(tenant)
                if anchor is not None and anchor.tenant_seq >= number:
                    continue  # re-sent rows the copy purged: never inserted again
                if anchor is not None and anchor.tenant_seq == number - 1:
                    row = (anchor.tenant_seq, anchor.head_hash)
                elif row is None:
                    continue
            if row[0] != number - 1 or row[1] != prev_hash:
                raise FleetConflict(
                    f"the central audit copy already holds a different record before instance "
                    f"{self.instance!r}, tenant {tenant!r}, #{number}: the local chain does not "
                    "continue it",
                    fix="the local audit database was replaced, or two gateways share one "
                    "instance id; restore the original file or give this one its own id",
                )


def _behind(local: sqlite3.Connection, shipped: int) -> tuple[int, object]:
    """The local store's last record number, and the time of its first record after
    ``shipped`` (None if there is none): primary-key reads. The number is SQLite's
    sequence of ``records`` too: a retention purge that took every record leaves none
    to read it from, and the store has not gone back."""
    (last,) = local.execute(
        "SELECT max(COALESCE((SELECT MAX(seq) FROM records), 0),"
        " COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'records'), 0))"
    ).fetchone()
    row = local.execute(
        "SELECT ts FROM records WHERE seq > ? ORDER BY seq LIMIT 1", (shipped,)
    ).fetchone()
    return int(last), row[0] if row else None


def _epoch(ts: object) -> float | None:
    """A record's ``ts`` (``2025-03-01T13:00:00.000Z``) as seconds since the epoch."""
    if not isinstance(ts, str):
        return None
    try:
        moment = datetime.datetime.fromisoformat(ts.removesuffix("Z"))
    except ValueError:
        return None
    return moment.replace(tzinfo=datetime.UTC).timestamp()


# -- reading the central copy -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InstanceReport:
    """One instance's chains as the central copy holds them."""

    instance: str
    key_id: str
    #: ``pinned`` (a key the operator gave) or ``registered`` (the one in the database).
    key_source: str
    shipped_seq: int
    shipped_at: str | None
    report: VerifyReport


@dataclass(frozen=True, slots=True)
class FleetReport:
    instances: tuple[InstanceReport, ...]
    #: Problems with an instance as a whole (a pinned key that differs, a pin unused).
    findings: tuple[Finding, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.findings and all(i.report.ok for i in self.instances)

    def describe(self) -> str:
        lines: list[str] = []
        for item in self.instances:
            lines.append(
                f"instance {item.instance} (key {item.key_id}, {item.key_source}; shipped up "
                f"to seq {item.shipped_seq}"
                + (f" at {item.shipped_at})" if item.shipped_at else ")")
            )
            lines += ["  " + line for line in item.report.describe().splitlines()]
        lines += [finding.describe() for finding in self.findings]
        count = sum(len(i.report.findings) for i in self.instances) + len(self.findings)
        lines.append(
            "OK: every instance's chains verify" if self.ok else f"FAILED: {count} finding(s)"
        )
        return "\n".join(lines)


def load_pinned_keys(key_dir: Path) -> dict[str, Ed25519PublicKey]:
    """``<instance>.pub`` files of ``key_dir`` (each instance's ``audit-signing.pub``)."""
    keys: dict[str, Ed25519PublicKey] = {}
    try:
        paths = sorted(key_dir.glob("*.pub"))
    except OSError as exc:
        raise SigningKeyError(f"cannot read the key folder {key_dir}: {exc}") from exc
    if not paths:
        raise SigningKeyError(
            f"{key_dir} holds no <instance>.pub file: copy each instance's "
            "audit-signing.pub there, named after its instance id"
        )
    for path in paths:
        if not INSTANCE_PATTERN.fullmatch(path.stem):
            raise SigningKeyError(f"{path.name}: name each key file <instance id>.pub")
        keys[path.stem] = load_public_key(path)
    return keys


def verify_fleet(
    pg: psycopg.Connection[Any],
    pinned: Mapping[str, Ed25519PublicKey] | None = None,
    *,
    instance: str | None = None,
    tenant: str | None = None,
) -> FleetReport:
    """Verify every instance's chains and checkpoints in the central copy."""
    pinned = dict(pinned or {})
    findings: list[Finding] = []
    rows = pg.execute(
        "SELECT instance, key_id, public_key, shipped_seq, shipped_at FROM audit_fleet_instances"
        " ORDER BY instance"
    ).fetchall()
    known = {r[0] for r in rows}
    if instance is not None and instance not in known:
        findings.append(
            Finding(
                "_fleet",
                FindingKind.TRUNCATED,
                f"instance {instance} has no records in the central copy: it never shipped, "
                "or the name is wrong (`warden audit verify --fleet` lists every instance)",
            )
        )
    for name in sorted(set(pinned) - known):
        findings.append(
            Finding(
                "_fleet",
                FindingKind.TRUNCATED,
                f"instance {name} has a pinned key but no records in the central copy: "
                "it never shipped, or its registration was removed",
            )
        )
    reports: list[InstanceReport] = []
    for name, registered_id, pem, shipped_seq, shipped_at in rows:
        if instance is not None and name != instance:
            continue
        source = "registered"
        try:
            key = _pem_key(pem)
        except SigningKeyError as exc:
            findings.append(Finding("_fleet", FindingKind.BAD_SIGNATURE, f"{name}: {exc}"))
            continue
        if name in pinned:
            source = "pinned"
            if key_id(pinned[name]) != registered_id or key_id(key) != registered_id:
                findings.append(
                    Finding(
                        "_fleet",
                        FindingKind.BAD_SIGNATURE,
                        f"instance {name} is registered with key {registered_id} but the pinned "
                        f"key is {key_id(pinned[name])}: its checkpoints are checked against "
                        "the pinned key",
                    )
                )
            key = pinned[name]
        # one snapshot per instance: its anchors, checkpoints and rows as of one moment,
        # so an anchor moved (and the rows below it deleted) meanwhile is not a gap
        with pg.transaction():
            pg.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            checked = _verify_instance(pg, name, key, tenant)
        reports.append(
            InstanceReport(name, key_id(key), source, int(shipped_seq), shipped_at, checked)
        )
    return FleetReport(tuple(reports), tuple(findings))


def instance_keys(
    pg: psycopg.Connection[Any],
    pinned: Mapping[str, Ed25519PublicKey] | None = None,
    instance: str | None = None,
) -> dict[str, Ed25519PublicKey]:
    """Each registered instance's key to check its checkpoints with (one instance, or
    all): the pinned one where given, else the registered one."""
    keys: dict[str, Ed25519PublicKey] = {}
    for name, pem in pg.execute(
        "SELECT instance, public_key FROM audit_fleet_instances ORDER BY instance"
    ).fetchall():
        if instance is not None and name != instance:
            continue
        if pinned and name in pinned:
            keys[name] = pinned[name]
            continue
        try:
            keys[name] = _pem_key(pem)
        except SigningKeyError as exc:
            raise SigningKeyError(f"instance {name}: {exc}") from None
    return keys


def _pem_key(pem: str) -> Ed25519PublicKey:
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise SigningKeyError(f"its registered public key does not load ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError("its registered public key is not an Ed25519 key")
    return key


def _verify_instance(
    pg: psycopg.Connection[Any], instance: str, key: Ed25519PublicKey, tenant: str | None
) -> VerifyReport:
    names = sorted(
        {
            r[0]
            for r in pg.execute(
                "SELECT DISTINCT tenant FROM audit_fleet_records WHERE instance = %s"
                " UNION SELECT DISTINCT tenant FROM audit_fleet_checkpoints WHERE instance = %s"
                " UNION SELECT tenant FROM audit_fleet_anchors WHERE instance = %s",
                (instance, instance, instance),
            ).fetchall()
        }
    )
    anchors = central_anchors(pg, instance)
    if tenant is not None:
        names = [tenant]
    summaries: list[TenantSummary] = []
    findings: list[Finding] = []
    for name in names:
        checkpoints = [
            Checkpoint(r[0], int(r[1]), bytes(r[2]), r[3], bytes(r[4]), r[5])
            for r in pg.execute(
                "SELECT tenant, tenant_seq, head_hash, ts, signature, key_id"
                " FROM audit_fleet_checkpoints WHERE instance = %s AND tenant = %s"
                " ORDER BY tenant_seq, local_id",
                (instance, name),
            ).fetchall()
        ]
        moved: list[Finding] = []
        # the chain starts at the anchor, whose signature `check_tenant` checks with this
        # instance's key; rows at or below it are being deleted (`fleet_retention`)
        anchor = anchors.get(name)
        after = anchor.tenant_seq if anchor else 0
        rows = _instance_checked(instance, name, _central_rows(pg, instance, name, after), moved)
        summary, found = check_tenant(name, key, anchor, checkpoints, rows)
        summaries.append(summary)
        findings += found + moved
    return VerifyReport(tuple(findings), tuple(summaries))


def _central_rows(
    pg: psycopg.Connection[Any], instance: str, tenant: str, after: int
) -> Iterator[ChainRow]:
    """One tenant chain of one instance after number ``after``, in chain order, streamed
    (a server-side cursor)."""
    with pg.transaction(), pg.cursor(name="audit_fleet_chain") as cur:
        cur.itersize = 2000
        cur.execute(
            f"SELECT seq, tenant, tenant_seq, record_id, body, prev_hash, hash, {_COLUMNS}"  # noqa: S608 - constants
            " FROM audit_fleet_records WHERE instance = %s AND tenant = %s AND tenant_seq > %s"
            " ORDER BY tenant_seq, seq",
            (instance, tenant, after),
        )
        for r in cur:
            yield ChainRow(
                int(r[0]), r[1], int(r[2]), r[3], r[4], bytes(r[5]), bytes(r[6]), tuple(r[7:])
            )


def _instance_checked(
    instance: str, tenant: str, rows: Iterable[ChainRow], out: list[Finding]
) -> Iterator[ChainRow]:
    """``rows``, noting each whose body names another instance (old records name none)."""
    for row in rows:
        try:
            named = json.loads(row.body).get("instance")
        except (ValueError, AttributeError):
            named = None  # an unreadable body is the chain walk's finding
        if named is not None and named != instance:
            out.append(
                Finding(
                    tenant,
                    FindingKind.INSERTED,
                    f"it is stored as instance {instance}'s but its body says it was written "
                    f"by instance {named}",
                    seq=row.seq,
                    tenant_seq=row.tenant_seq,
                    record_id=row.record_id,
                )
            )
        yield row


# -- the console's copy ------------------------------------------------------------------


def pull(pg: psycopg.Connection[Any], out: Path, *, batch: int = 2000) -> dict[str, int]:
    """Bring the fleet's records into ``out``, a SQLite review copy the console opens.

    The copy has the audit database's layout and review indexes (`review_index`), so the
    console's filters and search work on it unchanged; each run adds what is new since the
    last (a cursor per instance in its ``meta`` table). Two instances' chains both have a
    tenant's number 1, 2 …, so in the copy ``tenant_seq`` is not unique: the copy is for
    review, and the chains are verified where they are whole (`verify_fleet`). Returns
    the records added per instance.
    """
    conn = open_audit_db(out)
    try:
        _make_review_copy(conn)
        added: dict[str, int] = {}
        try:
            for (name,) in pg.execute(
                "SELECT instance FROM audit_fleet_instances ORDER BY instance"
            ).fetchall():
                added[name] = _pull_instance(pg, conn, name, batch)
        except psycopg.errors.UndefinedTable as exc:
            raise AuditStoreError(
                f"the fleet's database has no central audit copy, or not this release's ({exc})",
                fix="run `warden db migrate` once (it adds the audit.fleet domain's steps)",
            ) from None
        while index_text(conn, 5000):  # the console's free-text search, now rather than later
            pass
    finally:
        conn.close()
    return added


def _make_review_copy(conn: sqlite3.Connection) -> None:
    """Mark ``conn`` a review copy and let a number repeat across instances. The unique
    index is replaced by a plain one of the same name, which ``open_audit_db``'s
    ``CREATE UNIQUE INDEX IF NOT EXISTS`` then leaves alone."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'fleet_copy'").fetchone()
    if row is not None:
        if row[0] != _COPY_VERSION:
            _add_origins(conn)
        return
    (count,) = conn.execute("SELECT COUNT(*) FROM records").fetchone()
    if count:
        raise AuditStoreError(
            "the review copy's file already holds records of a gateway's own audit database",
            fix="give `warden audit pull` a new file (never the gateway's audit.db)",
        )
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DROP INDEX records_tenant_seq")
        conn.execute("CREATE INDEX records_tenant_seq ON records (tenant, tenant_seq)")
        conn.execute(_ORIGIN_DDL)
        conn.execute("INSERT INTO meta (key, value) VALUES ('fleet_copy', ?)", (_COPY_VERSION,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


#: ``2``: the copy notes each record's instance (``fleet_origin``), which central
#: retention needs to take an instance's purged records out of it; ``1`` did not.
_COPY_VERSION: Final = "2"
_ORIGIN_DDL: Final = (
    "CREATE TABLE IF NOT EXISTS fleet_origin (seq INTEGER PRIMARY KEY, instance TEXT NOT NULL)"
    " STRICT"
)
#: Records of the copy taken out per transaction when an anchor moved.
_FORGET_BATCH: Final = 5000


def _add_origins(conn: sqlite3.Connection) -> None:
    """A copy pulled by an earlier release: each record's instance from its body (records
    from before fleets name none: they stay in the copy; pull into a new file to drop
    them)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(_ORIGIN_DDL)
        conn.execute(
            "INSERT OR IGNORE INTO fleet_origin (seq, instance)"
            " SELECT seq, coalesce(json_extract(body, '$.instance'), '') FROM records"
        )
        conn.execute("UPDATE meta SET value = ? WHERE key = 'fleet_copy'", (_COPY_VERSION,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _forget_purged(conn: sqlite3.Connection, name: str, anchors: Mapping[str, int]) -> int:
    """Take out of the copy ``name``'s records at or below its central anchors (the
    central copy purged them, or is purging them); returns how many went."""
    removed = 0
    for tenant, upto in sorted(anchors.items()):
        mark = f"fleet_anchor:{name}:{tenant}"
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (mark,)).fetchone()
        if row is not None and int(row[0]) >= upto:
            continue
        while True:
            conn.execute("BEGIN IMMEDIATE")
            try:
                rows = conn.execute(
                    "SELECT r.seq, r.body FROM records r JOIN fleet_origin o ON o.seq = r.seq"
                    " WHERE o.instance = ? AND r.tenant = ? AND r.tenant_seq <= ? LIMIT ?",
                    (name, tenant, upto, _FORGET_BATCH),
                ).fetchall()
                if rows:
                    # the copy's append-only triggers let the retention purge's gate through
                    conn.execute(
                        "INSERT INTO purge_gate (tenant, upto) VALUES (?, ?)", (tenant, upto)
                    )
                    forget_rows(conn, tenant, rows)
                    seqs = [(seq,) for seq, _ in rows]
                    conn.executemany("DELETE FROM records WHERE seq = ?", seqs)
                    conn.executemany("DELETE FROM fleet_origin WHERE seq = ?", seqs)
                    conn.execute("DELETE FROM purge_gate WHERE tenant = ?", (tenant,))
                else:
                    _set_meta(conn, mark, str(upto))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            removed += len(rows)
            if not rows:
                break
    return removed


def _set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    """The review copy's bookkeeping (how far each instance was pulled or purged)."""
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def _pull_instance(
    pg: psycopg.Connection[Any], conn: sqlite3.Connection, name: str, batch: int
) -> int:
    mark = f"fleet_pulled:{name}"
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (mark,)).fetchone()
    pulled = int(row[0]) if row else 0
    added = 0
    # first what central retention took away; then nothing at or below an anchor comes in
    anchors = {t: a.tenant_seq for t, a in central_anchors(pg, name).items()}
    _forget_purged(conn, name, anchors)
    while True:
        rows = pg.execute(
            f"SELECT seq, tenant, tenant_seq, record_id, {_COLUMNS}, body, prev_hash, hash"  # noqa: S608 - constants
            " FROM audit_fleet_records WHERE instance = %s AND seq > %s ORDER BY seq LIMIT %s",
            (name, pulled, batch),
        ).fetchall()
        if not rows:
            return added
        conn.execute("BEGIN IMMEDIATE")
        try:
            (seq,) = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM records").fetchone()
            inserted = []
            indexed = []
            for r in rows:
                if r[2] <= anchors.get(r[1], 0):
                    continue
                seq += 1
                inserted.append((seq, *r[1:-2], bytes(r[-2]), bytes(r[-1])))
                indexed.append((seq, r[1], json.loads(r[4 + len(INDEXED_COLUMNS)])))
            conn.executemany(
                f"INSERT INTO records (seq, tenant, tenant_seq, record_id, {_COLUMNS}, body,"  # noqa: S608 - constants
                f" prev_hash, hash) VALUES (?{', ?' * (6 + len(INDEXED_COLUMNS))})",
                inserted,
            )
            conn.executemany(
                "INSERT INTO fleet_origin (seq, instance) VALUES (?, ?)",
                [(r[0], name) for r in inserted],
            )
            index_records(conn, indexed)
            pulled = int(rows[-1][0])
            _set_meta(conn, mark, str(pulled))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        added += len(inserted)
