"""``warden doctor``'s state-database check against a real PostgreSQL (tests/postgres.py):
reachable with the gateway's DSN and its schema current, each failure with cause and fix."""

from __future__ import annotations

import socket
from pathlib import Path

import psycopg

from warden.cli.doctor.database import database_checks
from warden.cli.doctor.results import CheckResult
from warden.config import Config, parse_config
from warden.gateway.state import store
from warden.gateway.state.postgres import DSN_ENV


def _config(tmp_path: Path, backend: str = "postgresql") -> Config:
    return parse_config(
        {"state": {"backend": backend}, "state_dir": str(tmp_path / "state")}, "test", tmp_path, {}
    )


def _check(config: Config, env: dict[str, str]) -> CheckResult:
    results = list(database_checks(config, env))
    assert [r.name for r in results] == ["state database"]
    return results[0]


def test_nothing_to_check_on_the_embedded_sqlite(tmp_path: Path) -> None:
    assert list(database_checks(_config(tmp_path, "sqlite"), {})) == []


def test_no_dsn_in_the_environment_fails_naming_it(tmp_path: Path) -> None:
    result = _check(_config(tmp_path), {})
    assert not result.ok and DSN_ENV in result.detail and result.fix


def test_a_database_nobody_listens_on_fails_with_the_fix(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = _check(_config(tmp_path), {DSN_ENV: f"postgresql://warden@127.0.0.1:{port}/x"})
    assert not result.ok and "cannot connect" in result.detail
    assert result.fix and DSN_ENV in result.fix


def test_pending_steps_fail_until_migrated_then_it_passes(
    tmp_path: Path, postgres_dsn: str
) -> None:
    config, env = _config(tmp_path), {DSN_ENV: postgres_dsn}
    before = _check(config, env)
    assert not before.ok and "pending" in before.detail
    assert before.fix and "warden db migrate" in before.fix
    store.migrate_state(config, env)
    after = _check(config, env)
    assert after.ok and "schema current" in after.detail, after
    assert "password" not in after.detail


def test_a_schema_written_by_a_newer_warden_fails(tmp_path: Path, postgres_dsn: str) -> None:
    config, env = _config(tmp_path), {DSN_ENV: postgres_dsn}
    store.migrate_state(config, env)
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO state_migrations (domain, version, summary, applied_at)"
            " SELECT domain, MAX(version) + 1, 'from the future', now()::text"
            " FROM state_migrations GROUP BY domain LIMIT 1"
        )
    result = _check(config, env)
    assert not result.ok and "newer warden" in result.detail
    assert result.fix and "upgrade" in result.fix
