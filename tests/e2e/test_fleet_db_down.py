"""A fleet instance whose PostgreSQL is down or stalled keeps serving from memory.

The issue's rule: hot paths never wait on the database per request. Here one ``warden
run`` with ``identity.mode: off`` on a real PostgreSQL (tests/postgres.py): a flow from an
address the gateway has never seen is served while every PostgreSQL process is stopped
(SIGSTOP: connections hang, they are not refused), and while the server is stopped
altogether (connections refused). The signed-in case (identity enforced, a device
credential) is in tests/e2e/test_fleet_state.py, whose stalled-database test now also
sends from a new address.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import httpx
import pytest

from tests.peers import UNSAFE_ENV, Aimock, WardenProcess
from tests.proctree import frozen
from warden.gateway.state.postgres import DSN_ENV

pytestmark = pytest.mark.e2e

CHAT = "https://api.openai.com/v1/chat/completions"
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello warden"}]}


@pytest.fixture(scope="module")
def instance(
    aimock: Aimock, postgres_server: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WardenProcess]:
    from tests.postgres import PostgresServer

    assert isinstance(postgres_server, PostgresServer)
    tmp = tmp_path_factory.mktemp("fleet-db-down")
    dsn, _ = postgres_server.migrated_database(tmp)
    (tmp / "gw").mkdir()
    warden = WardenProcess(
        tmp / "gw",
        {
            "unsafe_testing": {"route_catalog_hosts_to": aimock.url},
            "state": {"backend": "postgresql"},
            "fleet": {"instance_id": "gw-down"},
        },
        env={**UNSAFE_ENV, DSN_ENV: dsn},
        workers=2,
    )
    warden.start()
    yield warden
    warden.stop()


def _post_from(warden: WardenProcess, source: str) -> httpx.Response:
    """One chat request through ``warden`` from the loopback address ``source`` (each
    127.0.0.0/8 address is a client the gateway has not seen before)."""
    transport = httpx.HTTPTransport(
        proxy=warden.proxy_url,
        local_address=source,
        verify=ssl.create_default_context(cafile=str(warden.ca_cert)),
    )
    # 10 s per answer: served from memory it is milliseconds; a loop or a flow held by the
    # stalled database would hold it until PostgreSQL came back (never, in this test)
    with httpx.Client(transport=transport, timeout=10, trust_env=False) as client:
        return client.post(CHAT, json=BODY)


def test_a_new_address_is_served_while_postgresql_is_stalled(
    instance: WardenProcess, postgres_server: object
) -> None:
    from tests.postgres import PostgresServer

    assert isinstance(postgres_server, PostgresServer) and postgres_server.proc is not None
    assert _post_from(instance, "127.0.0.2").status_code == 200
    with frozen(postgres_server.proc.pid):
        for n in range(3, 6):  # addresses the gateway has never seen
            answer = _post_from(instance, f"127.0.0.{n}")
            assert answer.status_code == 200, answer.text
        # the control plane's loop answers too
        assert httpx.get(f"{instance.control_url}/metrics", timeout=10).status_code == 200


def test_a_new_address_is_served_while_postgresql_is_stopped(
    instance: WardenProcess, postgres_server: object
) -> None:
    from tests.postgres import PostgresServer

    assert isinstance(postgres_server, PostgresServer)
    postgres_server.stop()
    try:
        for n in range(10, 13):
            answer = _post_from(instance, f"127.0.0.{n}")
            assert answer.status_code == 200, answer.text
    finally:
        postgres_server.start()
    assert _post_from(instance, "127.0.0.20").status_code == 200
