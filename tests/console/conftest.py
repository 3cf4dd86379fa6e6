"""Console fixtures: a deterministic audit DB (real `AuditLog`), a state DB (real
`SessionStore`), a gateway control-plane stand-in, and a frozen clock.

Databases are built once per test session and only read; a test that tampers copies them.
"""

from __future__ import annotations

import datetime
import json
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from aiohttp import web
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
    export_public_key,
    format_ts,
)
from warden.console import ReviewerScope, build_app
from warden.console.app import ConsoleApp
from warden.gateway.state.store import open_state
from warden.identity.sessions import SessionStore, UserIdentity

NOW = datetime.datetime(2025, 3, 2, 12, 0, 0, tzinfo=datetime.UTC)
RECORDS = 240
TOKEN = "test-admin-token"
USERS = {
    "acme": [("alice", "research"), ("bob", "sales"), ("carol", "legal")],
    "globex": [("gina", "finance"), ("hank", "engineering")],
}
OUTCOMES = ("allowed", "allowed", "redacted", "blocked", "allowed", "coached", "upstream_error")
ACTIONS = {"allowed": "allow", "redacted": "redact", "blocked": "block", "coached": "coach",
           "upstream_error": "allow"}  # fmt: skip
ENTITIES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD")


def issuer(tenant: str) -> str:
    return f"https://idp.{tenant}.example"


def deterministic_tokens() -> Callable[[int], str]:
    """Stands in for `secrets.token_urlsafe` so session ids (token hashes) are stable."""
    counter = iter(range(1, 1_000_000))

    def token(nbytes: int = 32) -> str:
        return f"test-token-{next(counter):06d}"

    return token


def record(n: int, sessions: dict[tuple[str, str], str]) -> AuditRecord:
    """Record ``n``: tenants alternate acme, acme, globex; one minute apart, ending at NOW."""
    tenant = ("acme", "acme", "globex")[n % 3]
    name, department = USERS[tenant][(n // 3) % len(USERS[tenant])]
    outcome = OUTCOMES[n % len(OUTCOMES)]
    findings: tuple[DlpFinding, ...] = ()
    prompt = None
    if outcome in ("redacted", "blocked"):
        findings = (DlpFinding(ENTITIES[n % 3], 1 + n % 2, "messages[0].content"),)
        prompt = f"Please mail <EMAIL_ADDRESS_1> about case {n} of <PERSON_1>, thanks."
    moment = NOW - datetime.timedelta(minutes=RECORDS - n)
    return AuditRecord(
        record_id=f"{n + 1:032x}",
        ts=format_ts(moment),
        kind="flow",
        tenant=tenant,
        outcome=outcome,
        status=200 if outcome in ("allowed", "redacted") else 403,
        principal=Principal(
            issuer=issuer(tenant),
            subject=name,
            email=f"{name}@{tenant}.example",
            department=department,
            groups=("staff",),
            auth_method=("oidc", "device")[n % 2],
            session_id=sessions[(tenant, name)][:16],
            client_addr=f"10.0.0.{n % 5 + 1}",
        ),
        destination=Destination(
            ("openai", "anthropic")[n % 2],
            ("openai-api", "anthropic-api")[n % 2],
            ("api.openai.com", "api.anthropic.com")[n % 2],
            "api",
            ("openai.chat", "anthropic.messages")[n % 2],
            ("gpt-4o", "claude-sonnet-4")[n % 2],
        ),
        decision=Decision(ACTIONS[outcome], f"rule-{outcome}", "2025-03-01.1", None),
        findings=findings,
        usage=Usage(tokens_in=100 + n, tokens_out=10 + n % 50),
        timing=Timing(format_ts(moment), 200 + n, 80, 300 + n * 3),
        details={"stream": n % 2 == 0},
        prompt=prompt,
    )


@dataclass
class Files:
    audit_db: Path
    state_db: Path
    audit_pub: Path
    signer: CheckpointSigner
    session_ids: dict[tuple[str, str], str] = field(default_factory=dict)


def build_state(path: Path) -> dict[tuple[str, str], str]:
    """Sessions (one per user, two for alice), a device credential and a binding each."""
    ids: dict[tuple[str, str], str] = {}
    conn = open_state(path)
    with mock.patch("warden.identity.sessions.secrets.token_urlsafe", deterministic_tokens()):
        store = SessionStore(conn, clock=lambda: NOW.timestamp() - 3600)
        for tenant, users in USERS.items():
            for i, (name, department) in enumerate(users):
                user = UserIdentity(tenant, issuer(tenant), name, f"{name}@{tenant}.example",
                                    department)  # fmt: skip
                issued = store.create_session(user, "oidc", 8 * 3600)
                ids[(tenant, name)] = issued.session.id
                store.issue_device_credential(issued.session, label=f"{name}-laptop")
                store.bind_surrogate(f"10.{len(tenant)}.0.{i + 1}", issued.session, 4 * 3600)
        alice = UserIdentity("acme", issuer("acme"), "alice", "alice@acme.example", "research")
        store.create_session(alice, "device", 8 * 3600)
    conn.close()
    return ids


def build_files(folder: Path, count: int = RECORDS) -> Files:
    folder.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    signer = CheckpointSigner(key)
    (folder / "audit-signing.pub").write_bytes(export_public_key(key.public_key()))
    sessions = build_state(folder / "state.db")
    log = AuditLog.open(folder / "audit.db")
    try:
        log.append([record(n, sessions) for n in range(count // 2)])
        log.add_checkpoints(signer, ["acme", "globex"], format_ts(NOW))
        log.append([record(n, sessions) for n in range(count // 2, count)])
        while log.index_text():  # as the writer does between batches
            pass
        log.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        log.close()
    return Files(folder / "audit.db", folder / "state.db", folder / "audit-signing.pub", signer,
                 sessions)  # fmt: skip


@pytest.fixture(scope="session")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    return build_files(tmp_path_factory.mktemp("console"))


@dataclass
class GatewayStandIn:
    """Stands in for the running gateway's control plane (``POST /admin/sessions/revoke``),
    which the lead builds in ``warden/``: it checks the bearer token, records every call
    and answers ``{"revoked": N}`` as the real endpoint does."""

    url: str
    token_file: Path
    calls: list[dict[str, Any]]
    answer: int = 1


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[GatewayStandIn]:
    calls: list[dict[str, Any]] = []
    token_file = tmp_path / "admin-token"
    token_file.write_text(TOKEN + "\n")
    stand_in = GatewayStandIn("", token_file, calls)

    async def revoke(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": "unauthorized"}, status=401)
        calls.append(json.loads(await request.text()))
        return web.json_response({"revoked": stand_in.answer})

    app = web.Application()
    app.router.add_post("/admin/sessions/revoke", revoke)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    stand_in.url = f"http://127.0.0.1:{port}"
    yield stand_in
    await runner.cleanup()


ADMIN = ReviewerScope.administrator()
ACME = ReviewerScope.limited("rita@acme.example", ["acme"])

type MakeApp = Callable[..., ConsoleApp]


@pytest.fixture
def make_app(files: Files) -> MakeApp:
    def make(
        scope: ReviewerScope = ADMIN,
        gateway: GatewayStandIn | None = None,
        data: Files | None = None,
        **kwargs: Any,
    ) -> ConsoleApp:
        f = data or files
        return build_app(
            f.audit_db,
            f.state_db,
            f.audit_pub,
            gateway.url if gateway else None,
            gateway.token_file if gateway else None,
            scope,
            clock=lambda: NOW,
            poll_interval=kwargs.pop("poll_interval", 3600.0),
        )

    return make


@pytest.fixture
def copy_files(files: Files, tmp_path: Path) -> Iterator[Files]:
    folder = tmp_path / "copy"
    folder.mkdir()
    for name in ("audit.db", "state.db", "audit-signing.pub"):
        shutil.copy(files.audit_db.parent / name, folder / name)
    yield Files(folder / "audit.db", folder / "state.db", folder / "audit-signing.pub",
                files.signer, files.session_ids)  # fmt: skip
