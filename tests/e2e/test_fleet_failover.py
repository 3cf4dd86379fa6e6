"""A whole instance of a fleet killed with SIGKILL under load: clients fail over through the
PAC file's order, no answered request loses its audit record, every chain verifies.

Two ``warden run`` instances, each with 2 proxy workers, share one real PostgreSQL
(tests/postgres.py). The clients are what a managed laptop runs: they fetch the fleet's
PAC file (``proxy.instances: [A, B]``) once, evaluate it with a real PAC engine (pypac:
the PAC's JavaScript run by dukpy), and follow the order it returns as browsers do: the
first proxy, and the next one when the first cannot be reached (pypac bans the dead one,
as Chromium marks a bad proxy). Each request carries a unique model name, the mark its
audit record is found by.

"Acknowledged" means answered 200: the gateway commits a flow's record before it
releases the answer, so every such mark must be in A's or B's audit store. Requests cut
by the kill were never answered, and nothing was promised for them.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from pypac import PACSession
from pypac.parser import PACFile
from requests.auth import HTTPProxyAuth

from tests.e2e.test_identity import PORTAL_SECRET, Bed, device_login, identity_config, start_bed
from tests.peers import UNSAFE_ENV, Aimock, WardenProcess, wait_until
from tests.proctree import alive, descendants
from warden.gateway.state.postgres import DSN_ENV

pytestmark = pytest.mark.e2e

CHAT = "https://api.openai.com/v1/chat/completions"
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello warden"}]}
MARK = "gpt-4o-mini-"


@dataclass
class Fleet:
    a: Bed
    b: WardenProcess
    pac: str  # the PAC file as the fleet serves it
    ca_bundle: Path  # both instances' interception CAs (a real fleet shares one)


@pytest.fixture(scope="module")
def fleet(
    aimock: Aimock, postgres_server: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    from tests.postgres import PostgresServer

    assert isinstance(postgres_server, PostgresServer)
    tmp = tmp_path_factory.mktemp("failover")
    dsn, _ = postgres_server.migrated_database(tmp)
    state = {"state": {"backend": "postgresql"}}
    os.environ[DSN_ENV] = dsn  # start_bed's gateway inherits it; removed again below
    try:
        a = start_bed(tmp, aimock, surrogate=False, extra_config=state, workers=2)
    finally:
        del os.environ[DSN_ENV]
    a.warden.env = {**a.warden.env, DSN_ENV: dsn}  # for its restart
    (tmp / "b").mkdir()
    b = WardenProcess(
        tmp / "b",
        {"unsafe_testing": {"route_catalog_hosts_to": aimock.url}, **state},
        env={**UNSAFE_ENV, "WARDEN_TEST_PORTAL_SECRET": PORTAL_SECRET, DSN_ENV: dsn},
        workers=2,
    )
    config = yaml.safe_load(b.config_path.read_text())
    config["identity"] = identity_config(a.idp, b, surrogate=False)
    # the fleet in fallback order: A first, then B (B serves the PAC file here)
    config["proxy"]["instances"] = [f"127.0.0.1:{a.warden.proxy_port}", f"127.0.0.1:{b.proxy_port}"]
    b.config_path.write_text(yaml.safe_dump(config))
    try:
        b.start()
        pac = httpx.get(f"{b.control_url}/proxy.pac", timeout=10).text
    except Exception:
        a.warden.stop()
        a.idp.stop()
        raise
    bundle = tmp / "fleet-ca.pem"
    bundle.write_text(a.warden.ca_cert.read_text() + b.ca_cert.read_text())
    yield Fleet(a, b, pac, bundle)
    b.stop()
    a.warden.stop()
    a.idp.stop()


def _session(fleet: Fleet, credential: str) -> PACSession:
    """A client that follows the PAC file's order (proxy credentials as for any proxy)."""
    session = PACSession(PACFile(fleet.pac), proxy_auth=HTTPProxyAuth("device", credential))
    session.trust_env = False
    session.verify = str(fleet.ca_bundle)
    return session


def _answered_marks(warden: WardenProcess) -> set[str]:
    """The marks of the flows whose answer ``warden`` recorded."""
    marks: set[str] = set()
    for rec in warden.audit_records("acme"):
        if rec.get("kind") != "flow" or rec.get("details", {}).get("phase") == "request":
            continue
        marks.update(t for t in json.dumps(rec).split('"') if t.startswith(MARK))
    return marks


def test_the_pac_file_lists_the_fleet_in_order_and_never_direct(fleet: Fleet) -> None:
    resolved = PACFile(fleet.pac).find_proxy_for_url(CHAT, "api.openai.com")
    a, b = fleet.a.warden.proxy_port, fleet.b.proxy_port
    assert resolved.replace(" ", "") == f"PROXY127.0.0.1:{a};PROXY127.0.0.1:{b}"


def test_a_whole_instance_killed_under_load_fails_over_and_loses_no_answered_record(
    fleet: Fleet,
) -> None:
    login = device_login(fleet.a, "bob", "dev-bob-password")
    answered: list[str] = []
    failed: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def load() -> None:
        end = time.monotonic() + 180  # bounded whatever happens
        with _session(fleet, login["credential"]) as session:
            while not stop.is_set() and time.monotonic() < end:
                mark = f"{MARK}{uuid.uuid4().hex}"
                try:
                    r = session.post(CHAT, json={**BODY, "model": mark}, timeout=30)
                except OSError:  # requests' errors (pypac raises them) are OSErrors
                    with lock:  # cut by the kill: not answered, nothing promised
                        failed.append(mark)
                    continue
                with lock:
                    (answered if r.status_code == 200 else failed).append(mark)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        # the PAC's first proxy is A: the load goes there while A lives
        wait_until(lambda: len(answered) >= 20, 120, "load through A", fleet.a.warden.proc)
        assert fleet.a.warden.proc is not None
        victims = [fleet.a.warden.proc.pid, *descendants(fleet.a.warden.proc.pid)]
        for pid in victims:  # the host dies: supervisor, workers, audit writer at once
            os.kill(pid, signal.SIGKILL)
        fleet.a.warden.proc.wait(30)
        wait_until(lambda: not any(alive(p) for p in victims), 30, "A's processes to end", None)
        killed_at = len(answered)
        wait_until(lambda: len(answered) >= killed_at + 20, 120, "load through B", None)
    finally:
        stop.set()
        for t in threads:
            t.join(60)

    on_a, on_b = _answered_marks(fleet.a.warden), _answered_marks(fleet.b)
    lost = [m for m in answered if m not in on_a | on_b]
    assert not lost, f"{len(lost)} of {len(answered)} answered requests have no record"
    assert set(answered[:20]) <= on_a  # before the kill: A, the PAC's first choice
    assert set(answered[killed_at:]) <= on_b  # after it: B, the next one
    for warden in (fleet.a.warden, fleet.b):  # A's store as the kill left it
        verify = warden.cli("audit", "verify")
        assert verify.returncode == 0, verify.stdout + verify.stderr
    # A comes back on the same store and its chain still verifies
    fleet.a.warden.start()
    verify = fleet.a.warden.cli("audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
