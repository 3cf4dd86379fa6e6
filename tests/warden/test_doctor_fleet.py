"""`warden doctor` checks every instance the PAC lists: a running warden passes, a dead
address and a port that is not a warden proxy fail with a fix."""

from __future__ import annotations

import datetime
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.audit.conftest import flow_record
from tests.peers import WardenProcess, free_port, wait_until
from warden.audit import AuditLog, CheckpointSigner
from warden.audit.fleet import FleetShipper
from warden.audit.fleet_status import STATUS_FILE, read_status
from warden.cli.doctor.fleet import instance_checks, shipping_checks
from warden.cli.doctor.results import CheckResult
from warden.config import Config, parse_config


class _NotAWarden(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html>a corporate web proxy</html>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def other_proxy() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotAWarden)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def test_every_listed_instance_is_checked_in_order(tmp_path: Path, other_proxy: int) -> None:
    (tmp_path / "w").mkdir()
    gateway = WardenProcess(tmp_path / "w", {})
    gateway.start()
    try:
        dead = f"127.0.0.1:{free_port()}"
        config = parse_config(
            {
                "proxy": {
                    "instances": [
                        f"127.0.0.1:{gateway.proxy_port}",
                        dead,
                        f"127.0.0.1:{other_proxy}",
                    ]
                }
            },
            "test",
            tmp_path,
            {},
        )
        results = list(instance_checks(config, timeout=5))
    finally:
        gateway.stop()
    assert [r.name for r in results] == ["instance 1", "instance 2", "instance 3"]
    good, gone, foreign = results
    assert good.ok and "Egress Warden proxy" in good.detail, good
    assert not gone.ok and dead in gone.detail and gone.fix and "proxy.instances" in gone.fix
    assert not foreign.ok and "not as an Egress Warden proxy" in foreign.detail


# -- audit shipping (state.backend: postgresql) ------------------------------------------


def _shipping_config(tmp_path: Path) -> Config:
    return parse_config(
        {"state": {"backend": "postgresql"}, "state_dir": str(tmp_path / "state")},
        "test",
        tmp_path,
        {},
    )


def _audit_log(config: Config, count: int) -> tuple[AuditLog, CheckpointSigner]:
    log = AuditLog.open(config.audit_db, instance="gw-t")
    log.append([flow_record(n=i) for i in range(count)])
    return log, CheckpointSigner(Ed25519PrivateKey.generate())


def _shipping(config: Config, at: datetime.datetime | None = None) -> CheckResult:
    results = list(shipping_checks(config, lambda: at or datetime.datetime.now(datetime.UTC)))
    assert [r.name for r in results] == ["audit shipping"]
    return results[0]


def test_shipping_is_not_checked_on_sqlite(tmp_path: Path) -> None:
    config = parse_config({"state_dir": str(tmp_path)}, "test", tmp_path, {})
    assert list(shipping_checks(config, lambda: datetime.datetime.now(datetime.UTC))) == []


def test_a_shipper_that_cannot_reach_postgresql_fails_with_cause_and_fix(tmp_path: Path) -> None:
    config = _shipping_config(tmp_path)
    assert _shipping(config).ok  # no audit database yet: nothing to ship
    log, signer = _audit_log(config, 6)
    try:
        never = _shipping(config)
        assert not never.ok and "no shipper has ever run" in never.detail
        # a real refusal: a loopback port nothing listens on
        dsn = f"postgresql://nobody@127.0.0.1:{free_port()}/none?connect_timeout=2"
        shipper = FleetShipper(config.audit_db, "gw-t", signer.public_key(), dsn)
        status_file = config.audit_dir / STATUS_FILE

        def failed() -> bool:
            status = read_status(status_file)
            return status is not None and status.cause is not None

        shipper.start()
        try:
            # the first attempt fails at once; the bound only reports one that never does
            wait_until(failed, 30, "the shipper to report its failure", None)
            down = _shipping(config)
        finally:
            shipper.stop()
    finally:
        log.close()
    assert not down.ok, down
    assert "cannot ship audit records to PostgreSQL yet" in down.detail
    assert "6 record(s) not in the central copy yet" in down.detail
    assert down.fix is not None and "WARDEN_STATE_DSN" in down.fix
    # an hour later no shipper has written: the gateway is stopped, records still wait
    later = _shipping(config, datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1))
    assert not later.ok and "no shipper has reported for" in later.detail
    assert later.fix is not None and "start the gateway" in later.fix


def test_a_shipper_that_keeps_up_passes_and_a_lagging_one_warns(
    tmp_path: Path, postgres_dsn: str
) -> None:
    from warden.audit.fleet_schema import MIGRATIONS
    from warden.gateway.state import POSTGRESQL, Domain, migrate
    from warden.gateway.state.postgres import PgConnection, open_pool

    pool = open_pool(postgres_dsn)
    try:
        domain = Domain("audit.fleet", MIGRATIONS, ("postgresql",))
        migrate(PgConnection(pool), POSTGRESQL, [domain], "test")
    finally:
        pool.close()
    config = _shipping_config(tmp_path)
    log, signer = _audit_log(config, 9)
    try:
        shipper = FleetShipper(config.audit_db, "gw-t", signer.public_key(), postgres_dsn)
        shipper.start()
        shipper.stop()  # ships everything committed, then stops
        assert shipper.problem is None
        shipper.report(force=True)  # as a running shipper's heartbeat would
        now = datetime.datetime.now(datetime.UTC)
        done = _shipping(config, now)
        assert done.ok and not done.warning and "shipped up to #9" in done.detail, done
        # the gateway stopped an hour ago with nothing left to ship: nothing to report
        idle = _shipping(config, now + datetime.timedelta(hours=1))
        assert idle.ok and "nothing waits to ship" in idle.detail, idle
        # records the shipper has not taken yet, from 2025: far more than a minute behind
        log.append([flow_record(n=100 + i) for i in range(3)])
        behind = _shipping(config, now)
        assert behind.ok and behind.warning, behind
        assert "3 record(s) not in the central copy yet" in behind.detail
        assert behind.fix is not None and "warden_audit_fleet_lag_seconds" in behind.fix
        # ... and stopped with these waiting, it is a failure
        assert not _shipping(config, now + datetime.timedelta(hours=1)).ok
    finally:
        log.close()
