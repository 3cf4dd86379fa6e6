"""``warden audit verify --fleet`` and ``warden audit pull`` as an operator runs them, and
``fleet.instance_id`` in the config (a real PostgreSQL: tests/postgres.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.peers import WARDEN
from warden.config import Config
from warden.gateway.state.postgres import DSN_ENV


def _warden(tmp_path: Path, *args: str, dsn: str | None) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "warden.yaml"
    config.write_text(
        yaml.safe_dump({"state_dir": str(tmp_path / "state"), "state": {"backend": "postgresql"}})
    )
    env = {k: v for k, v in os.environ.items() if k != DSN_ENV}
    if dsn is not None:
        env[DSN_ENV] = dsn
    return subprocess.run(
        [str(WARDEN), "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_verify_fleet_names_the_missing_dsn(tmp_path: Path) -> None:
    done = _warden(tmp_path, "audit", "verify", "--fleet", dsn=None)
    assert done.returncode != 0
    assert DSN_ENV in done.stdout + done.stderr


def test_verify_fleet_before_the_migration_says_to_migrate(
    tmp_path: Path, postgres_dsn: str
) -> None:
    done = _warden(tmp_path, "audit", "verify", "--fleet", dsn=postgres_dsn)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "warden db migrate" in done.stderr


def test_an_empty_fleet_verifies_and_pulls_nothing(tmp_path: Path, postgres_dsn: str) -> None:
    migrated = _warden(tmp_path, "db", "migrate", dsn=postgres_dsn)
    assert migrated.returncode == 0, migrated.stderr
    assert "applied audit.fleet 1" in migrated.stdout
    assert "applied audit.fleet 2" in migrated.stdout  # central retention
    done = _warden(tmp_path, "audit", "verify", "--fleet", dsn=postgres_dsn)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pin each instance's audit-signing.pub with --key-dir" in done.stdout
    pins = tmp_path / "pins"
    pins.mkdir()
    (pins / "NOT AN ID.pub").write_text("x")
    bad = _warden(tmp_path, "audit", "verify", "--fleet", "--key-dir", str(pins), dsn=postgres_dsn)
    assert bad.returncode == 2 and "<instance id>.pub" in bad.stderr
    pulled = _warden(tmp_path, "audit", "pull", "-o", str(tmp_path / "copy.db"), dsn=postgres_dsn)
    assert pulled.returncode == 0, pulled.stderr
    assert "review copy of 0 instance(s)" in pulled.stdout


@pytest.mark.parametrize("bad", ["GW-A", "gw_a", "-gw", "a" * 64, "gw a"])
def test_the_config_refuses_a_bad_instance_id(bad: str) -> None:
    with pytest.raises(ValueError, match="instance_id"):
        Config.model_validate({"fleet": {"instance_id": bad}})


def test_the_config_takes_a_good_instance_id() -> None:
    assert (
        Config.model_validate({"fleet": {"instance_id": "gw-a.eu"}}).fleet.instance_id == "gw-a.eu"
    )


def test_console_fleet_pulls_a_copy_and_keeps_it_current(
    tmp_path: Path, postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``warden console --fleet``'s copy: pulled before the console opens, then again while
    it runs (what the console then shows is tests/e2e/test_fleet_audit.py's)."""
    import sqlite3

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from tests.audit.conftest import flow_record
    from tests.peers import wait_until
    from warden.audit import AuditLog
    from warden.audit.fleet import FleetShipper
    from warden.cli import console as console_cli

    assert _warden(tmp_path, "db", "migrate", dsn=postgres_dsn).returncode == 0
    log = AuditLog.open(tmp_path / "gw" / "audit.db", instance="gw-a")
    shipper = FleetShipper(
        log.path, "gw-a", Ed25519PrivateKey.generate().public_key(), postgres_dsn, idle_s=0.05
    )
    shipper.start()
    monkeypatch.setenv(DSN_ENV, postgres_dsn)
    monkeypatch.setattr(console_cli, "FLEET_PULL_EVERY_S", 0.05)
    config = Config.model_validate({"state_dir": str(tmp_path / "state")})

    def copied(path: Path) -> int:
        conn = sqlite3.connect(path)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM records").fetchone()[0])
        finally:
            conn.close()

    try:
        log.append([flow_record(n=i) for i in range(3)])
        shipper.poke()
        wait_until(
            lambda: shipper.problem is None and _central_count(postgres_dsn) == 3, 30, "ship", None
        )
        path, stop = console_cli._fleet_copy(config)
        try:
            assert path == tmp_path / "state" / "fleet-review.db"
            assert copied(path) == 3
            log.append([flow_record(n=i) for i in range(3, 5)])
            shipper.poke()
            # bound: a shipment (0.1 s) and a pull (0.05 s) on a loaded machine
            wait_until(lambda: copied(path) == 5, 30, "the console's copy to take in more", None)
        finally:
            stop()
    finally:
        shipper.stop()
        log.close()


def _central_count(dsn: str) -> int:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as pg:
        row = pg.execute("SELECT count(*) FROM audit_fleet_records").fetchone()
    return int(row[0]) if row else 0


def test_purge_fleet_anchors_an_instance_and_says_what_it_did(
    tmp_path: Path, postgres_dsn: str
) -> None:
    """``warden audit purge --fleet`` on the central copy of an instance that is gone."""
    import psycopg

    from tests.audit.fleet_harness import open_instance, ship_all

    assert _warden(tmp_path, "db", "migrate", dsn=postgres_dsn).returncode == 0
    for instance in open_instance(tmp_path, "gw-a"):
        instance.write(20, signed_at="2025-03-01T13:00:00.000Z")
        instance.write(10, start=100, signed_at="2025-06-01T13:00:00.000Z")
        with psycopg.connect(postgres_dsn, autocommit=True) as pg:
            ship_all(instance, pg, postgres_dsn)
    # the records are from 2025: 30 days before today covers both checkpoints
    done = _warden(
        tmp_path, "audit", "purge", "--fleet", "--older-than-days", "30", dsn=postgres_dsn
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "gw-a acme: now anchored at #30 (checkpoint signed 2025-06-01T13:00:00.000Z)" in (
        done.stdout
    )
    assert "deleted 30 record(s), 1 checkpoint(s)" in done.stdout
    again = _warden(
        tmp_path, "audit", "purge", "--fleet", "--older-than-days", "30", dsn=postgres_dsn
    )
    assert "gw-a acme: anchored at #30" in again.stdout and "deleted 0 record(s)" in again.stdout
    verified = _warden(tmp_path, "audit", "verify", "--fleet", dsn=postgres_dsn)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert (
        "acme: 0 records up to #30, 1 checkpoints, anchored at #30 (signed 2025-06-01T13:00:00.000Z)"
        in verified.stdout
    )
    other = _warden(
        tmp_path,
        "audit",
        "purge",
        "--fleet",
        "--older-than-days",
        "30",
        "--tenant",
        "nobody",
        dsn=postgres_dsn,
    )
    assert other.returncode == 0 and "no checkpoint of tenant nobody" in other.stdout


@pytest.mark.parametrize(
    ("args", "migrated", "said"),
    [
        (("--fleet",), True, "needs --older-than-days N"),
        (("--fleet", "--older-than-days", "30", "--instance", "gw-x"), True, "gw-x is not in"),
        (("--fleet", "--older-than-days", "30"), False, "run `warden db migrate`"),
        (("--older-than-days", "30"), True, "purge needs --tenant T (or --fleet"),
        (("--fleet", "--older-than-days", "-1"), True, "'-1' is not a whole number of days"),
        (("--tenant", "acme", "--older-than-days", "-1"), True, "0 or more"),
    ],
)
def test_purge_fleet_names_what_is_wrong(
    tmp_path: Path, postgres_dsn: str, args: tuple[str, ...], migrated: bool, said: str
) -> None:
    if migrated:
        assert _warden(tmp_path, "db", "migrate", dsn=postgres_dsn).returncode == 0
    done = _warden(tmp_path, "audit", "purge", *args, dsn=postgres_dsn)
    assert done.returncode == 2, done.stdout + done.stderr
    assert said in done.stderr
