"""Shared fixtures: the real peers of the test bed (see tests/peers.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers import NODE_BIN, UNSAFE_ENV, Aimock, WardenProcess
from tests.postgres import PostgresServer

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def aimock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Aimock]:
    if shutil.which("node") is None or not (NODE_BIN / "llmock").exists():
        pytest.fail("aimock is not installed: run `npm ci` (the Makefile's test target does)")
    peer = Aimock(FIXTURES / "aimock", tmp_path_factory.mktemp("aimock") / "aimock.log")
    peer.start()
    yield peer
    peer.stop()


@pytest.fixture(scope="session")
def gateway(aimock: Aimock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WardenProcess]:
    """One gateway for the e2e tests, routed to aimock with the test-only setting."""
    workdir = tmp_path_factory.mktemp("warden")
    warden = WardenProcess(
        workdir,
        {
            "unsafe_testing": {"route_catalog_hosts_to": aimock.url},
            "catalog": {
                "unsanctioned": [
                    {
                        "host": "*.deepseek.com",
                        "reason": "Not approved; ask it-security@example.com.",
                    }
                ]
            },
        },
        env=UNSAFE_ENV,
    )
    warden.start()
    yield warden
    warden.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL for the session (tests/postgres.py); fails if it is not installed."""
    server = PostgresServer()
    server.start()
    yield server
    server.remove()


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """The DSN of a fresh, empty database on the session's server."""
    return postgres_server.create_database()
