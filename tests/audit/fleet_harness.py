"""Instances of a fleet for the central audit copy's tests: a local store, a signing key,
shipping by hand (the tests drive each transaction), and the migrated PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.audit.conftest import flow_record
from warden.audit import AuditLog, CheckpointSigner
from warden.audit.fleet import FleetShipper
from warden.audit.fleet_schema import MIGRATIONS
from warden.audit.schema import open_audit_db_readonly
from warden.gateway.state import POSTGRESQL, Domain, migrate
from warden.gateway.state.postgres import PgConnection, open_pool


@dataclass
class Instance:
    name: str
    db: Path
    signer: CheckpointSigner
    log: AuditLog

    def write(
        self,
        count: int,
        start: int = 0,
        tenants: tuple[str, ...] = ("acme",),
        signed_at: str = "2025-03-01T13:00:00.000Z",
    ) -> None:
        self.log.append([flow_record(tenants[i % len(tenants)], n=start + i) for i in range(count)])
        self.log.add_checkpoints(self.signer, tenants, signed_at)

    def shipper(self, dsn: str, batch: int = 7, **options: Any) -> FleetShipper:
        return FleetShipper(
            self.db, self.name, self.signer.public_key(), dsn, batch=batch, **options
        )


def migrate_fleet(dsn: str) -> None:
    """The audit.fleet domain's steps, as `warden db migrate` applies them."""
    pool = open_pool(dsn)
    try:
        migrate(
            PgConnection(pool),
            POSTGRESQL,
            [Domain("audit.fleet", MIGRATIONS, ("postgresql",))],
            "test",
        )
    finally:
        pool.close()


def open_instance(tmp_path: Path, name: str) -> Iterator[Instance]:
    db = tmp_path / name / "audit.db"
    log = AuditLog.open(db, instance=name)
    yield Instance(name, db, CheckpointSigner(Ed25519PrivateKey.generate()), log)
    log.close()


def ship_all(
    instance: Instance, pg: psycopg.Connection[Any], dsn: str, batch: int = 7, **options: Any
) -> int:
    shipper = instance.shipper(dsn, batch, **options)
    shipper.register(pg)
    local = open_audit_db_readonly(instance.db)
    moved = total = 0
    try:
        while moved := shipper.ship_once(pg, local):
            total += moved
    finally:
        local.close()
    return total


def central_count(pg: psycopg.Connection[Any], instance: str, table: str = "records") -> int:
    row = pg.execute(
        f"SELECT count(*) FROM audit_fleet_{table} WHERE instance = %s",
        (instance,),
    ).fetchone()
    assert row is not None
    return int(row[0])
