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
from warden.state.postgres import DSN_ENV


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
