"""Shared audit fixtures: one signing key per session, a record factory, a fresh log per test."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from warden.audit import (
    AuditLog,
    AuditRecord,
    CheckpointSigner,
    Decision,
    Destination,
    DlpFinding,
    Principal,
    Timing,
    Usage,
)

T0 = datetime.datetime(2025, 3, 1, 12, 0, 0, tzinfo=datetime.UTC)

type MakeRecord = Callable[..., AuditRecord]


def flow_record(tenant: str = "acme", n: int = 0, **changes: Any) -> AuditRecord:
    """A full flow record, distinct per ``n``, stamped ``n`` seconds after T0."""
    fields: dict[str, Any] = {
        "principal": Principal(
            issuer="https://idp.acme.example",
            subject=f"user-{n % 7}",
            email=f"user{n % 7}@acme.example",
            department="research",
            groups=("staff", "ml"),
            auth_method="oidc",
            session_id=f"s-{n % 3}",
            client_addr="10.1.2.3",
        ),
        "destination": Destination(
            provider="openai",
            service="openai-api",
            host="api.openai.com",
            api_kind="api",
            api="openai.chat",
            model="gpt-4o",
        ),
        "decision": Decision(action="allow", rule_id="r-1", policy_version="v7", reason="default"),
        "findings": (DlpFinding("EMAIL_ADDRESS", 2, "messages[0].content"),),
        "usage": Usage(tokens_in=100 + n, tokens_out=20, estimated=False),
        "timing": Timing(
            started_at="2025-03-01T12:00:00.000Z", upstream_latency_ms=250, ttfb_ms=80, total_ms=300
        ),
        "status": 200,
        "details": {"stream": True, "bytes_out": 1234},
    }
    fields.update(changes)
    return AuditRecord.new(
        kind="flow",
        tenant=tenant,
        outcome=fields.pop("outcome", "allowed"),
        now=T0 + datetime.timedelta(seconds=n),
        **fields,
    )


@pytest.fixture(scope="session")
def signer() -> CheckpointSigner:
    return CheckpointSigner(Ed25519PrivateKey.generate())


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "audit.db"


@pytest.fixture
def log(db_path: Path) -> Iterator[AuditLog]:
    opened = AuditLog.open(db_path)
    yield opened
    opened.close()


# -- the fleet's central copy (a real PostgreSQL: tests/postgres.py) ----------------------


@pytest.fixture
def fleet_dsn(postgres_dsn: str) -> str:
    """A fresh database with the audit.fleet domain migrated (as `warden db migrate` does)."""
    from tests.audit.fleet_harness import migrate_fleet

    migrate_fleet(postgres_dsn)
    return postgres_dsn


@pytest.fixture
def pg(fleet_dsn: str) -> Iterator[Any]:
    import psycopg

    with psycopg.connect(fleet_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def a(tmp_path: Path) -> Iterator[Any]:
    from tests.audit.fleet_harness import open_instance

    yield from open_instance(tmp_path, "gw-a")


@pytest.fixture
def b(tmp_path: Path) -> Iterator[Any]:
    from tests.audit.fleet_harness import open_instance

    yield from open_instance(tmp_path, "gw-b")
