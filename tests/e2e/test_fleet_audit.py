"""The audit trail of a fleet: two ``warden run`` instances (A with 2 workers) on one real
PostgreSQL (tests/postgres.py), each keeping its own chains and shipping them.

Shown here: both instances' records reach the central copy, ``warden audit verify
--fleet`` passes and names both, the console (on ``warden audit pull``'s copy) lists both
instances' flows; an instance killed with SIGKILL after answering loses no answered
record, its own chain verifies after the restart and the central copy catches up; while
PostgreSQL is down flows go on (the local store is the commit point) and shipping resumes
by itself when it is back.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.peers import UNSAFE_ENV, Aimock, WardenProcess, wait_until
from warden.gateway.state.postgres import DSN_ENV

pytestmark = pytest.mark.e2e

CHAT = "https://api.openai.com/v1/chat/completions"
MARK = "gpt-4o-mini-"
#: What aimock's fixtures answer (tests/fixtures); the model is free, so it marks the flow.
MESSAGES = [{"role": "user", "content": "hello warden"}]


@dataclass
class Fleet:
    a: WardenProcess
    b: WardenProcess
    dsn: str


def _instance(tmp: Path, name: str, aimock: Aimock, dsn: str, workers: int) -> WardenProcess:
    (tmp / name).mkdir()
    return WardenProcess(
        tmp / name,
        {
            "unsafe_testing": {"route_catalog_hosts_to": aimock.url},
            "state": {"backend": "postgresql"},
            "fleet": {"instance_id": name},
        },
        env={**UNSAFE_ENV, DSN_ENV: dsn},
        workers=workers,
    )


@pytest.fixture(scope="module")
def fleet(
    aimock: Aimock, postgres_server: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    from tests.postgres import PostgresServer

    assert isinstance(postgres_server, PostgresServer)
    tmp = tmp_path_factory.mktemp("fleet-audit")
    dsn, migrated = postgres_server.migrated_database(tmp)
    assert "audit.fleet 1" in migrated and "audit.fleet 2" in migrated, migrated
    a = _instance(tmp, "gw-a", aimock, dsn, workers=2)
    b = _instance(tmp, "gw-b", aimock, dsn, workers=1)
    a.start()
    try:
        b.start()
    except Exception:
        a.stop()
        raise
    yield Fleet(a, b, dsn)
    b.stop()
    a.stop()


def _send(warden: WardenProcess, count: int) -> list[str]:
    """``count`` answered chat requests through ``warden``, each with its own model mark."""
    marks = []
    verify = ssl.create_default_context(cafile=str(warden.ca_cert))
    with httpx.Client(proxy=warden.proxy_url, verify=verify, timeout=30, trust_env=False) as c:
        for _ in range(count):
            mark = MARK + uuid.uuid4().hex
            answer = c.post(CHAT, json={"model": mark, "messages": MESSAGES})
            assert answer.status_code == 200, answer.text
            marks.append(mark)
    return marks


def _marks(records: list[dict[str, object]]) -> set[str]:
    """The model marks of answered flow records."""
    found = set()
    for rec in records:
        destination = rec.get("destination")
        if rec.get("kind") == "flow" and isinstance(destination, dict):
            model = destination.get("model")
            if isinstance(model, str) and model.startswith(MARK):
                found.add(model)
    return found


def _central(dsn: str, instance: str) -> list[dict[str, object]]:
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as pg:
        rows = pg.execute(
            "SELECT body FROM audit_fleet_records WHERE instance = %s", (instance,)
        ).fetchall()
    return [json.loads(body) for (body,) in rows]


def _shipped(dsn: str, instance: str, marks: set[str]) -> bool:
    try:
        return marks <= _marks(_central(dsn, instance))
    except psycopg.OperationalError:
        return False  # PostgreSQL is (still) restarting


def _wait_shipped(
    fleet: Fleet, instance: str, marks: set[str], proc: subprocess.Popen[bytes] | None = None
) -> None:
    # The shipper wakes on each commit; the bound only reports a shipper that never does
    # (generous: a loaded 2-core machine, and a reconnect back-off of up to 5 s).
    wait_until(lambda: _shipped(fleet.dsn, instance, marks), 60, f"{instance} to ship", proc)


def _verify_fleet(warden: WardenProcess) -> subprocess.CompletedProcess[str]:
    return warden.cli("audit", "verify", "--fleet")


async def _console_models(copy: Path, warden: WardenProcess) -> set[str]:
    """The models the review console's flow list shows for the review copy ``copy``."""
    from warden.console.app import build_app
    from warden.console.flows_screen import FlowsScreen
    from warden.console.scope import ReviewerScope

    app = build_app(
        copy,
        warden.workdir / "state" / "state.db",
        warden.workdir / "state" / "audit" / "audit-signing.pub",
        None,
        None,
        ReviewerScope.administrator(),
        poll_interval=3600.0,
    )
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, FlowsScreen)
        return {row.model for row in screen.window.rows if row.model}


def test_both_instances_records_are_in_the_fleet_view_and_verify(
    fleet: Fleet, tmp_path: Path
) -> None:
    from_a, from_b = set(_send(fleet.a, 6)), set(_send(fleet.b, 4))
    _wait_shipped(fleet, "gw-a", from_a, fleet.a.proc)
    _wait_shipped(fleet, "gw-b", from_b, fleet.b.proc)
    # every record names the instance that wrote it, locally and centrally
    assert {r.get("instance") for r in fleet.a.audit_records()} == {"gw-a"}
    assert {r.get("instance") for r in _central(fleet.dsn, "gw-b")} == {"gw-b"}
    verified = _verify_fleet(fleet.a)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "instance gw-a" in verified.stdout and "instance gw-b" in verified.stdout
    # the console, on the review copy, lists both instances' flows
    copy = tmp_path / "review.db"
    pulled = fleet.b.cli("audit", "pull", "-o", str(copy))
    assert pulled.returncode == 0, pulled.stderr
    shown = asyncio.run(_console_models(copy, fleet.a))
    assert from_a | from_b <= shown


def test_an_instance_killed_with_sigkill_loses_no_answered_record(fleet: Fleet) -> None:
    answered: list[str] = []
    stop = threading.Event()
    verify = ssl.create_default_context(cafile=str(fleet.b.ca_cert))

    def load() -> None:
        end = time.monotonic() + 120  # bounded whatever happens
        while not stop.is_set() and time.monotonic() < end:
            mark = MARK + uuid.uuid4().hex
            try:
                with httpx.Client(
                    proxy=fleet.b.proxy_url, verify=verify, timeout=30, trust_env=False
                ) as c:
                    r = c.post(CHAT, json={"model": mark, "messages": MESSAGES})
            except httpx.HTTPError:
                continue  # cut by the kill: never answered, nothing promised
            if r.status_code == 200:
                answered.append(mark)

    threads = [threading.Thread(target=load) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: len(answered) >= 15, 60, "load through instance B", None)
        assert fleet.b.proc is not None
        os.killpg(fleet.b.proc.pid, signal.SIGKILL)  # the whole instance, writer included
        fleet.b.proc.wait(30)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    marks = set(answered)
    fleet.b.start()  # same folder, same instance id, same key
    local = fleet.b.cli("audit", "verify")
    assert local.returncode == 0, local.stdout + local.stderr
    assert marks <= _marks(fleet.b.audit_records())
    _wait_shipped(fleet, "gw-b", marks, fleet.b.proc)
    verified = _verify_fleet(fleet.a)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def _record_ids(records: list[dict[str, object]]) -> set[str]:
    return {str(r["record_id"]) for r in records}


def test_shipping_resumes_after_postgresql_restarts(fleet: Fleet, postgres_server: object) -> None:
    """Records committed while PostgreSQL is down reach the central copy once it is back.

    The flows themselves are served meanwhile (``identity.mode: off``: an address the
    gateway does not know is not looked up in the database, tests/e2e/test_fleet_db_down.py),
    their records committed to the local store, and those are what is shipped afterwards.
    """
    from tests.postgres import PostgresServer

    assert isinstance(postgres_server, PostgresServer)
    before = _record_ids(fleet.a.audit_records())
    postgres_server.stop()
    try:
        verify = ssl.create_default_context(cafile=str(fleet.a.ca_cert))
        with httpx.Client(proxy=fleet.a.proxy_url, verify=verify, timeout=30, trust_env=False) as c:
            for _ in range(3):
                r = c.post(CHAT, json={"model": MARK + "outage", "messages": MESSAGES})
                assert r.status_code == 200, r.text
        during = _record_ids(fleet.a.audit_records()) - before
        assert during, "the outage's flows left records in the local store"
        # the operator sees it: /metrics (the writer's shipper, through the control plane)
        # and warden doctor name the cause, while /healthz stays green (nothing is at risk)
        wait_until(lambda: _shipping_problem(fleet.a) == "unreachable", 60, "metrics", None)
        # the shipper counts what waits at its next attempt after a commit (its back-off
        # is at most 5 s; the bound is generous for a loaded machine)
        wait_until(
            lambda: _figures(fleet.a)["warden_audit_fleet_unshipped_records"] >= len(during),
            60,
            "the unshipped count to include the outage's records",
            None,
        )
        figures = _figures(fleet.a)
        assert figures["warden_audit_fleet_lag_seconds"] > 0, figures
        assert figures["warden_audit_fleet_shipping"] == 0, figures
        assert httpx.get(f"{fleet.a.control_url}/healthz", timeout=10).status_code == 200
        doctor = _shipping_check(fleet.a)
        assert doctor["status"] == "fail", doctor
        assert "cannot ship audit records to PostgreSQL yet" in doctor["detail"], doctor
        assert "WARDEN_STATE_DSN" in doctor["fix"], doctor
    finally:
        postgres_server.start()

    def shipped() -> bool:
        try:
            return during <= _record_ids(_central(fleet.dsn, "gw-a"))
        except psycopg.OperationalError:
            return False

    # bound: the shipper's reconnect back-off is at most 5 s; generous for a loaded machine
    wait_until(shipped, 60, "gw-a to ship what it committed during the outage", fleet.a.proc)
    verified = _verify_fleet(fleet.a)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # the shipper logs its recovery after the batch it shipped, then reports it: wait for
    # the report, not for the central copy, before reading the log
    wait_until(lambda: _shipping_problem(fleet.a) is None, 60, "metrics to recover", None)
    assert "cannot ship audit records to PostgreSQL yet" in fleet.a.log()
    assert "shipping audit records to PostgreSQL again" in fleet.a.log()
    assert _shipping_check(fleet.a)["status"] in ("pass", "warn")  # warn: a backlog drains


def _figures(warden: WardenProcess) -> dict[str, float]:
    """The fleet shipping samples of ``warden``'s /metrics, by series (and cause)."""
    found: dict[str, float] = {}
    for line in warden.metrics().splitlines():  # merged over the worker label
        if line.startswith("warden_audit_fleet_"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


def _shipping_problem(warden: WardenProcess) -> str | None:
    causes = [
        name.split('"')[1]
        for name, value in _figures(warden).items()
        if name.startswith("warden_audit_fleet_problem{") and value == 1
    ]
    return causes[0] if causes else None


def _shipping_check(warden: WardenProcess) -> dict[str, str]:
    done = warden.cli("doctor", "--json")
    checks = [c for c in json.loads(done.stdout) if c["name"] == "audit shipping"]
    assert len(checks) == 1, done.stdout + done.stderr
    return {k: str(v) for k, v in checks[0].items()}


def test_a_frozen_postgresql_holds_no_flow_and_shipping_catches_up(
    fleet: Fleet, postgres_server: object
) -> None:
    """Every PostgreSQL process stopped with SIGSTOP (a paused VM, a stuck host: its
    kernel still accepts connections and acknowledges bytes, nothing answers), then SIGCONT.

    Meanwhile flows through A (2 workers) are served and their records committed locally;
    the shipper's call on the frozen server is cut by its bound (warden/pgbounds.py) and
    reported as ``unreachable``, not left hanging. After SIGCONT the shipper catches up by
    itself: every answered record is in the central copy and the fleet verifies."""
    from tests.postgres import PostgresServer
    from tests.proctree import frozen

    assert isinstance(postgres_server, PostgresServer) and postgres_server.proc is not None
    _wait_shipped(fleet, "gw-a", set(_send(fleet.a, 1)), fleet.a.proc)  # shipping now
    with frozen(postgres_server.proc.pid):
        answered = set(_send(fleet.a, 4))  # each within the client's 30 s, from memory
        # the shipper's batch waits on the frozen server until its bound cuts it; /metrics
        # (the control plane) answers and names the cause
        wait_until(lambda: _shipping_problem(fleet.a) == "unreachable", 60, "the cut", None)
        answered |= set(_send(fleet.a, 4))  # and flows go on after the cut too
        assert answered <= _marks(fleet.a.audit_records())  # committed before answered
        assert "PostgreSQL did not answer within" in fleet.a.log()
    # no restart of anything: the shipper reconnects and ships what waited
    _wait_shipped(fleet, "gw-a", answered, fleet.a.proc)
    wait_until(lambda: _shipping_problem(fleet.a) is None, 60, "metrics to recover", None)
    verified = _verify_fleet(fleet.a)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def _central_state(dsn: str, instance: str, tenant: str) -> tuple[int | None, int, int]:
    """(the central anchor's number, records at or below it, the newest checkpoint's
    number) of ``instance``'s ``tenant``."""
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as pg:
        anchor = pg.execute(
            "SELECT tenant_seq FROM audit_fleet_anchors WHERE instance = %s AND tenant = %s",
            (instance, tenant),
        ).fetchone()
        upto = int(anchor[0]) if anchor else 0
        (below,) = pg.execute(
            "SELECT count(*) FROM audit_fleet_records WHERE instance = %s AND tenant = %s"
            " AND tenant_seq <= %s",
            (instance, tenant, upto),
        ).fetchone() or (0,)
        (signed,) = pg.execute(
            "SELECT COALESCE(MAX(tenant_seq), 0) FROM audit_fleet_checkpoints"
            " WHERE instance = %s AND tenant = %s",
            (instance, tenant),
        ).fetchone() or (0,)
    return (int(anchor[0]) if anchor else None), int(below), int(signed)


def test_an_instances_retention_purge_reaches_the_central_copy(
    fleet: Fleet, tmp_path: Path
) -> None:
    """`warden audit purge` on instance B (what its daily retention does): its shipper
    ships the new anchor, the central copy deletes B's records up to it, `verify --fleet`
    starts B's chain there, and a pull takes them out of the review copy."""
    copy = tmp_path / "review.db"
    marks = set(_send(fleet.b, 3))
    _wait_shipped(fleet, "gw-b", marks, fleet.b.proc)
    with psycopg.connect(fleet.dsn, autocommit=True, connect_timeout=5) as pg:
        rows = pg.execute(
            "SELECT tenant, tenant_seq, body FROM audit_fleet_records WHERE instance = 'gw-b'"
        ).fetchall()
    ours = [(t, int(n)) for t, n, body in rows if _marks([json.loads(body)]) & marks]
    (tenant,) = {t for t, _ in ours}
    last = max(n for _, n in ours)
    # a checkpoint every 10 s (audit.checkpoints.every_seconds); the bound only reports
    # one that never comes
    wait_until(
        lambda: _central_state(fleet.dsn, "gw-b", tenant)[2] >= last, 60, "a checkpoint", None
    )
    assert fleet.a.cli("audit", "pull", "-o", str(copy)).returncode == 0
    purged = fleet.b.cli("audit", "purge", "--tenant", tenant, "--older-than-days", "0")
    assert purged.returncode == 0, purged.stdout + purged.stderr
    wait_until(
        lambda: (
            (state := _central_state(fleet.dsn, "gw-b", tenant))[0] is not None
            and state[0] >= last
            and state[1] == 0
        ),
        60,
        "the central copy to follow B's retention",
        fleet.b.proc,
    )
    assert not _marks(_central(fleet.dsn, "gw-b")) & marks
    verified = _verify_fleet(fleet.a)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"anchored at #{_central_state(fleet.dsn, 'gw-b', tenant)[0]}" in verified.stdout
    assert fleet.a.cli("audit", "pull", "-o", str(copy)).returncode == 0
    shown = asyncio.run(_console_models(copy, fleet.a))
    assert not shown & marks
