"""Two ``warden run`` instances sharing one real PostgreSQL (``state.backend: postgresql``).

A device credential issued by instance A works on instance B; a reviewer's revocation
through A cuts B's open connection within a second (LISTEN/NOTIFY, no polling); a per-user
quota of 10 requests a minute admits at most 10 + the documented slack (policy/quotas.py:
N x fleet_slack(10) = 2) across both. The database is the one tests/postgres.py runs.
"""

from __future__ import annotations

import datetime
import os
import signal
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import psycopg
import pytest
import yaml

from tests.e2e.test_identity import PORTAL_SECRET, Bed, device_login, identity_config, start_bed
from tests.peers import UNSAFE_ENV, Aimock, WardenProcess
from tests.proctree import frozen
from warden.gateway.state.postgres import DSN_ENV
from warden.policy.quotas import fleet_slack

pytestmark = pytest.mark.e2e

CHAT = "https://api.openai.com/v1/chat/completions"
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello warden"}]}
RPM = 10
POLICY = {
    "defaults": {"default_action": "allow"},
    "tenants": {
        "acme": {
            "quotas": {"per_user": {"requests_per_minute": RPM}},
            "rules": [
                {
                    "id": "acme-o1-coach",
                    "match": {"model": "o1*"},
                    "action": "coach",
                    "coach": {"message": "Reasoning models cost ten times more.", "period": "P1D"},
                }
            ],
        },
        "globex": {},  # no quota: its flows show what continues while the database is down
    },
}


@dataclass
class Fleet:
    a: Bed
    b: WardenProcess
    dsn: str


def _fleet_config(tmp: Path, name: str = "policy.yaml") -> dict[str, object]:
    """Each instance has a policy file of its own, as on two hosts: a change reaches the
    other one only through the database."""
    policy = tmp / name
    policy.write_text(yaml.safe_dump(POLICY))
    return {"state": {"backend": "postgresql"}, "policy": {"file": str(policy)}}


@pytest.fixture(scope="module")
def fleet(
    aimock: Aimock, postgres_server: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    from tests.postgres import PostgresServer

    assert isinstance(postgres_server, PostgresServer)
    tmp = tmp_path_factory.mktemp("fleet")
    dsn, _ = postgres_server.migrated_database(tmp)
    extra = _fleet_config(tmp)

    os.environ[DSN_ENV] = dsn  # start_bed's gateway inherits it; removed again below
    try:
        a = start_bed(tmp, aimock, surrogate=False, extra_config=extra)
    finally:
        del os.environ[DSN_ENV]
    (tmp / "b").mkdir()
    b = WardenProcess(
        tmp / "b",
        {
            "unsafe_testing": {"route_catalog_hosts_to": aimock.url},
            **_fleet_config(tmp, "policy-b.yaml"),
        },
        env={**UNSAFE_ENV, "WARDEN_TEST_PORTAL_SECRET": PORTAL_SECRET, DSN_ENV: dsn},
    )
    config = yaml.safe_load(b.config_path.read_text())
    config["identity"] = identity_config(a.idp, b, surrogate=False)
    b.config_path.write_text(yaml.safe_dump(config))
    try:
        b.start()
    except Exception:
        a.warden.stop()
        a.idp.stop()
        raise
    yield Fleet(a, b, dsn)
    b.stop()
    a.warden.stop()
    a.idp.stop()


def _client(warden: WardenProcess, credential: str, source: str | None = None) -> httpx.Client:
    """``source``: the loopback address to send from (a client the gateway has not seen)."""
    proxy = warden.proxy_url.replace("http://", f"http://device:{credential}@")
    verify = ssl.create_default_context(cafile=str(warden.ca_cert))
    if source is None:
        return httpx.Client(proxy=proxy, verify=verify, timeout=10, trust_env=False)
    transport = httpx.HTTPTransport(proxy=proxy, verify=verify, local_address=source)
    return httpx.Client(transport=transport, timeout=10, trust_env=False)


def _served_by(warden: WardenProcess, credential: str, within: float) -> None:
    """Until ``warden`` serves ``credential``. B learns of a sign-in on A when A's commit
    notifies it (milliseconds); a client that switches at once may meet B just before, and
    a connection refused at its CONNECT stays refused, so each try is a new connection."""
    t0 = time.monotonic()
    while True:
        with _client(warden, credential) as client:
            answer = client.post(CHAT, json=BODY)
        if answer.status_code != 407:
            break
        assert time.monotonic() - t0 < within, answer.text
    assert answer.status_code == 200, answer.text


def test_a_credential_issued_by_one_instance_is_served_by_the_other(fleet: Fleet) -> None:
    login = device_login(fleet.a, "alice", "dev-alice-password")
    _served_by(fleet.b, login["credential"], 1.0)  # the bound
    with _client(fleet.b, "wdc_" + "x" * 43) as forged:  # control: B checks credentials
        assert forged.post(CHAT, json=BODY).status_code == 407


def test_a_revocation_through_one_instance_cuts_the_other_within_a_second(fleet: Fleet) -> None:
    login = device_login(fleet.a, "alice", "dev-alice-password")
    _served_by(fleet.b, login["credential"], 1.0)
    with _client(fleet.b, login["credential"]) as via_b:
        first = via_b.post(CHAT, json=BODY)
        assert first.status_code == 200, first.text
        token = (fleet.a.warden.workdir / "state" / "admin.token").read_text().strip()
        revoked = httpx.post(
            f"{fleet.a.warden.control_url}/admin/sessions/revoke",
            json={"tenant": "acme", "subject": "alice"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert revoked.status_code == 200, revoked.text
        t0 = time.monotonic()
        # the same keep-alive connection, request after request, until B refuses it; the
        # bound under test is the 1 s (a notification and a reload take ms)
        # (a 429 is B still knowing alice: her 10 requests a minute may run out first)
        while (r := via_b.post(CHAT, json=BODY)).status_code in (200, 429):
            assert time.monotonic() - t0 < 1.0, "B still served alice a second after revocation"
        elapsed = time.monotonic() - t0
    assert r.status_code == 407, r.text
    assert elapsed < 1.0


def _fresh_minute() -> None:
    """Start just after a minute boundary: the quota window is a fixed UTC minute, and
    this test's 30 requests must all fall into one (they take a few seconds)."""
    now = datetime.datetime.now(datetime.UTC)
    if now.second > 30:
        time.sleep(60.5 - now.second - now.microsecond / 1e6)


def test_a_per_user_quota_holds_across_both_instances(fleet: Fleet) -> None:
    """Bob alternates between A and B as fast as each answers, until both say the
    minute's limit is reached. An instance whose share until its next flush is used
    answers 429 with ``Retry-After: 1`` (policy/quotas.py): a client waits and sends
    again, as SDKs do, so that refusal is waited out, never counted as the limit. A
    refusal with a longer ``Retry-After`` is the limit itself. On a loaded machine the
    flushes lag and the short refusals grow; what may not change is the count: at least
    the limit, at most the limit plus the documented slack."""
    login = device_login(fleet.a, "bob", "dev-bob-password")
    _fresh_minute()
    statuses: list[int] = []
    limited: set[str] = set()
    with (
        _client(fleet.a.warden, login["credential"]) as via_a,
        _client(fleet.b, login["credential"]) as via_b,
    ):
        clients = {"A": via_a, "B": via_b}
        # the bound: the rest of the minute _fresh_minute left (>= 29 s)
        ends = time.monotonic() + 25.0
        while limited != set(clients) and time.monotonic() < ends:
            for name, client in clients.items():
                if name in limited:
                    continue
                r = client.post(CHAT, json=BODY)
                statuses.append(r.status_code)
                if r.status_code == 429:
                    if int(r.headers.get("Retry-After", "0")) > 1:
                        limited.add(name)
                    else:
                        time.sleep(0.2)  # this instance's share: its flush comes at once
    admitted = statuses.count(200)
    assert set(statuses) <= {200, 429}, statuses
    assert limited == {"A", "B"}, f"the limit was never reported by both: {statuses}"
    assert RPM <= admitted <= RPM + 2 * fleet_slack(RPM), statuses


def test_a_coaching_acknowledged_on_one_instance_counts_on_the_other(fleet: Fleet) -> None:
    """Dave is coached on A, acknowledges on A's portal, and B lets him through: the
    acknowledgement reaches B by the table's notification (no request reads it), within
    the issue's 1 s for what one instance changes."""
    login = device_login(fleet.a, "dave", "dev-dave-password")
    _served_by(fleet.b, login["credential"], 1.0)
    o1 = {**BODY, "model": "o1-mini"}
    with _client(fleet.b, login["credential"]) as via_b:  # control: B coaches him too
        coached_b = via_b.post(CHAT, json=o1)
        assert coached_b.status_code == 403, coached_b.text
        assert coached_b.json()["error"]["code"] == "coaching_required"
    with _client(fleet.a.warden, login["credential"]) as via_a:
        coached = via_a.post(CHAT, json=o1)
    assert coached.status_code == 403, coached.text
    message = coached.json()["error"]["message"]
    assert "Reasoning models cost ten times more." in message
    url = message[message.index("http") :].split()[0].rstrip(".")
    assert url.startswith(fleet.a.warden.control_url)  # A's own portal signs and takes it
    ack = httpx.post(
        url.split("?")[0],
        data={"token": unquote(url.split("token=")[1])},
        timeout=10,
        follow_redirects=False,
    )
    assert ack.status_code == 302, ack.text
    t0 = time.monotonic()
    with _client(fleet.b, login["credential"]) as via_b:
        while (r := via_b.post(CHAT, json=o1)).status_code == 403:
            assert time.monotonic() - t0 < 1.0, "B still coached dave a second after A took it"
    assert r.status_code == 200, r.text


# globex (no quota, so the other tests' counts stay as they are) may no longer use gpt-4.1
NO_GPT41: dict[str, Any] = yaml.safe_load(yaml.safe_dump(POLICY))
NO_GPT41["tenants"]["globex"] = {
    "rules": [
        {
            "id": "no-gpt-4.1",
            "match": {"model": "gpt-4.1"},
            "action": "block",
            "reason": "Not for globex.",
        }
    ]
}
GPT41 = {**BODY, "model": "gpt-4.1"}


def _policy_file(warden: WardenProcess) -> Path:
    return Path(yaml.safe_load(warden.config_path.read_text())["policy"]["file"])


def _fleet_reloads(warden: WardenProcess) -> list[dict[str, object]]:
    return [
        r["details"]
        for r in warden.audit_records()
        if r["event"] == "policy.reload" and r["details"].get("source") == "fleet"
    ]


def test_a_policy_change_on_one_instance_is_enforced_by_the_other_within_a_second(
    fleet: Fleet,
) -> None:
    login = device_login(fleet.a, "carol", "dev-carol-password")  # globex
    _served_by(fleet.b, login["credential"], 1.0)
    b_file = _policy_file(fleet.b).read_text()
    with _client(fleet.b, login["credential"]) as via_b:
        assert via_b.post(CHAT, json=GPT41).status_code == 200
        _policy_file(fleet.a.warden).write_text(yaml.safe_dump(NO_GPT41))
        assert fleet.a.warden.proc is not None
        fleet.a.warden.proc.send_signal(signal.SIGHUP)  # systemctl reload on A's host
        t0 = time.monotonic()
        # the bound under test is the 1 s (a publication, a notification and a
        # validation take milliseconds)
        while (r := via_b.post(CHAT, json=GPT41)).status_code == 200:
            assert time.monotonic() - t0 < 1.0, "B still allowed gpt-4.1 a second later"
        assert r.status_code == 403, r.text
        assert via_b.post(CHAT, json=BODY).status_code == 200  # the rest of the policy stays
    assert _policy_file(fleet.b).read_text() == b_file  # B's file is not the way it came
    taken = _fleet_reloads(fleet.b)[-1]
    assert taken["ok"] is True and str(taken["published_by"]).endswith(
        f":{fleet.a.warden.control_port}"
    )
    assert "warden_policy_fleet_in_step 1.0" in fleet.b.metrics()


def test_an_instance_refuses_a_version_it_cannot_validate_and_a_restart_takes_the_one_in_force(
    fleet: Fleet,
) -> None:
    """Runs after the test above: NO_GPT41 is the version in force."""
    login = device_login(fleet.a, "carol", "dev-carol-password")
    _served_by(fleet.b, login["credential"], 1.0)
    # a row written around warden: valid YAML, but a tenant neither instance knows
    document = yaml.safe_dump({"defaults": {"default_action": "allow"}, "tenants": {"x": {}}})
    with psycopg.connect(fleet.dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO policy_published (version, document_sha256, document, published_at,"
            " published_by) VALUES ('sha256:0123456789abcdef', encode(sha256(%s::bytea), 'hex'),"
            " %s, 0, 'psql')",
            (document.encode(), document),
        )
    t0 = time.monotonic()
    while "warden_policy_fleet_in_step 0.0" not in fleet.b.metrics():
        assert time.monotonic() - t0 < 10, "B did not look at the new row"  # generous: a report
        time.sleep(0.05)
    assert "warden_policy_fleet_refused_total 1.0" in fleet.b.metrics()
    with _client(fleet.b, login["credential"]) as via_b:
        assert via_b.post(CHAT, json=GPT41).status_code == 403  # the old version stays
    refused = _fleet_reloads(fleet.b)[-1]
    assert refused["ok"] is False and "tenants.x" in str(refused["errors"])

    # publish a good version again (A's file, as an operator would), then restart B: with
    # its own, older file it starts on the version in force
    _policy_file(fleet.a.warden).write_text(yaml.safe_dump(NO_GPT41) + "# again\n")
    assert fleet.a.warden.proc is not None
    fleet.a.warden.proc.send_signal(signal.SIGHUP)
    t0 = time.monotonic()
    while "warden_policy_fleet_in_step 1.0" not in fleet.b.metrics():
        assert time.monotonic() - t0 < 10, "B did not take the republished version"
        time.sleep(0.05)
    fleet.b.stop()
    fleet.b.start()
    assert yaml.safe_load(_policy_file(fleet.b).read_text()) == POLICY
    _served_by(fleet.b, login["credential"], 10.0)  # after a restart: a generous bound
    with _client(fleet.b, login["credential"]) as via_b:
        assert via_b.post(CHAT, json=GPT41).status_code == 403


def test_a_stalled_database_does_not_stall_proxied_flows(
    fleet: Fleet, postgres_server: object
) -> None:
    """A has one process (proxy.workers: 1): the admin API, the portal and SCIM share the
    proxy's event loop. Their writes run on threads, so a reviewer's revocation waiting on
    a stalled PostgreSQL (every server process stopped with SIGSTOP: connections hang, they
    are not refused) leaves signed-in flows served from memory; and the write itself is
    bounded (warden/pgbounds.py): it fails closed with a 503 while the server stays
    stopped, instead of hanging until it comes back. Afterwards everything works again
    by itself."""
    from tests.postgres import PostgresServer
    from warden.pgbounds import CALL_TIMEOUT_S

    assert isinstance(postgres_server, PostgresServer) and postgres_server.proc is not None
    login = device_login(fleet.a, "carol", "dev-carol-password")  # globex: no quota
    token = (fleet.a.warden.workdir / "state" / "admin.token").read_text().strip()
    answers: list[int] = []

    def revoke() -> None:
        answers.append(
            httpx.post(
                f"{fleet.a.warden.control_url}/admin/sessions/revoke",
                json={"tenant": "acme", "subject": "nobody"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=120,
            ).status_code
        )

    with _client(fleet.a.warden, login["credential"]) as via_a:
        assert via_a.post(CHAT, json=BODY).status_code == 200
        reviewer = threading.Thread(target=revoke)
        with frozen(postgres_server.proc.pid):
            reviewer.start()
            # each answer within the client's 10 s: a loop held by the stalled write would
            # hold them until the database came back
            for _ in range(5):
                assert via_a.post(CHAT, json=BODY).status_code == 200
            # a new connection from an address the gateway has never seen: memory too
            with _client(fleet.a.warden, login["credential"], "127.0.0.9") as fresh:
                assert fresh.post(CHAT, json=BODY).status_code == 200
            # the bound under test: the write gives up while the server is still stopped
            # (checkout, the pool's check and the statement's deadline; room for load)
            reviewer.join(CALL_TIMEOUT_S * 3 + 10)
            assert not reviewer.is_alive(), "the revocation hangs on the stopped database"
            assert answers == [503], answers  # failed closed, said so
            cut = [
                float(line.rpartition(" ")[2])
                for line in fleet.a.warden.metrics().splitlines()
                if line.startswith("warden_state_db_timeouts_total")
            ]
            assert cut and cut[0] > 0, cut  # counted for the operator's alert
        reviewer.join(120)

    def revoked() -> bool:  # the pool may lend a connection cut while stopped once
        answers.clear()
        revoke()
        return answers == [200]

    for _ in range(10):
        if revoked():
            break
    assert answers == [200], answers


def test_a_database_restart_under_load(fleet: Fleet, postgres_server: object) -> None:
    """Signed-in flows continue from memory while PostgreSQL is down; writes (here a
    revocation) fail closed; once it is back, everything recovers by itself."""
    from tests.postgres import PostgresServer

    assert isinstance(postgres_server, PostgresServer)
    login = device_login(fleet.a, "carol", "dev-carol-password")  # globex: no quota
    _served_by(fleet.b, login["credential"], 1.0)

    statuses: list[int] = []
    served = threading.Condition()
    stop = threading.Event()

    def load() -> None:
        with _client(fleet.b, login["credential"]) as client:
            while not stop.is_set():
                code = client.post(CHAT, json=BODY).status_code
                with served:
                    statuses.append(code)
                    served.notify_all()

    def wait_for(count: int) -> None:
        with served:
            assert served.wait_for(lambda: len(statuses) >= count, timeout=30), statuses

    worker = threading.Thread(target=load)
    worker.start()
    try:
        wait_for(3)
        postgres_server.stop()
        down_from = len(statuses)
        wait_for(down_from + 10)  # served from memory while the database is down
        token = (fleet.a.warden.workdir / "state" / "admin.token").read_text().strip()

        def revoke() -> httpx.Response:
            return httpx.post(
                f"{fleet.a.warden.control_url}/admin/sessions/revoke",
                json={"tenant": "globex", "subject": "carol"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )

        assert revoke().status_code >= 500  # not committed anywhere: the reviewer is told
        assert set(statuses) == {200}, statuses
        postgres_server.start()
        for _ in range(20):  # the pool replaces connections broken by the restart
            if (r := revoke()).status_code == 200:
                break
        assert r.status_code == 200, r.text
        # recovery is what is tested here (the 1 s of normal operation is the test above):
        # the first statements after a restart may meet connections it broke
        with served:
            assert served.wait_for(lambda: statuses[-1] == 407, timeout=10), statuses[-5:]
    finally:
        stop.set()
        worker.join(30)
