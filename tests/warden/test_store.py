"""The gateway's state database: every table through versioned migrations, old stores adopted."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.peers import WARDEN
from warden.gateway.state import SQLITE, SchemaTooNew, status
from warden.gateway.state.sqlite import connect
from warden.gateway.state.store import DOMAINS as ALL_DOMAINS
from warden.gateway.state.store import open_state
from warden.identity.scim import ScimCredentials
from warden.identity.scim.store import ScimStore
from warden.identity.sessions import SessionStore
from warden.policy.quotastore import QuotaStore

from .legacy_state import DEVICE_TOKEN, NOW, SCIM_TOKEN, SESSION_TOKEN, build_legacy_store

# the domains that exist on SQLite (PostgreSQL adds its change notifications)
DOMAINS = [d for d in ALL_DOMAINS if d.dialects is None or "sqlite" in d.dialects]

TABLES = {
    "state_migrations",
    "sessions",
    "device_credentials",
    "surrogate_bindings",
    "person_revocations",
    "scim_users",
    "scim_groups",
    "scim_members",
    "scim_deprovision_outbox",
    "scim_tokens",
    "policy_quota_counters",
    "session_generation",
    "coach_acknowledgements",
}


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows if not name.startswith("sqlite_")}


def _ledger(conn: sqlite3.Connection) -> dict[str, int]:
    rows = conn.execute("SELECT domain, MAX(version) FROM state_migrations GROUP BY domain")
    return dict(rows.fetchall())


def test_a_new_store_gets_every_table_from_the_migrations_alone(tmp_path: Path) -> None:
    conn = open_state(tmp_path / "state.db")
    assert _tables(conn) == TABLES
    assert _ledger(conn) == {d.name: d.version for d in DOMAINS}
    # the stores create nothing of their own
    SessionStore(conn)
    ScimStore(conn)
    ScimCredentials(conn)
    QuotaStore(conn)
    assert _tables(conn) == TABLES
    assert (tmp_path / "state.db").stat().st_mode & 0o777 == 0o600


def test_opened_one_way(tmp_path: Path) -> None:
    conn = open_state(tmp_path / "state.db")
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    assert conn.isolation_level is None
    with pytest.raises(sqlite3.IntegrityError):  # foreign keys are enforced
        conn.execute("INSERT INTO surrogate_bindings VALUES ('10.0.0.1', 'no-such-session', 1)")


def test_reopening_applies_nothing_twice(tmp_path: Path) -> None:
    open_state(tmp_path / "state.db").close()
    conn = open_state(tmp_path / "state.db")
    (n,) = conn.execute("SELECT COUNT(*) FROM state_migrations").fetchone()
    assert n == sum(d.version for d in DOMAINS)


def test_a_store_of_the_pre_versioned_layout_keeps_every_row(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    build_legacy_store(db)
    assert [s.current for s in status(connect(db), SQLITE, DOMAINS)] == [0] * len(DOMAINS)

    conn = open_state(db)
    assert _tables(conn) == TABLES  # meta and the old ledger are gone, nothing else
    assert _ledger(conn) == {d.name: d.version for d in DOMAINS}

    sessions = SessionStore(conn, clock=lambda: NOW)
    by_cookie = sessions.session_by_token(SESSION_TOKEN)
    assert by_cookie is not None
    assert (by_cookie.user.email, by_cookie.user.groups) == ("alice@acme.example", ("staff", "ml"))
    assert sessions.session_by_device_credential(DEVICE_TOKEN) == by_cookie
    assert sessions.session_by_surrogate("10.0.0.5") == by_cookie
    assert sessions.not_before("acme", "u-mallory") == NOW - 5

    scim = ScimStore(conn)
    user = scim.user("acme", "user-1")
    assert user is not None and (user.user_name, user.version) == ("alice@acme.example", 3)
    assert [m.id for m in scim.members("acme", "group-1")] == ["user-1"]
    assert [p.user["id"] for p in scim.pending_deprovisions()] == ["user-9"]
    caller = ScimCredentials(conn, clock=lambda: NOW).authenticate(SCIM_TOKEN)
    assert caller is not None and (caller.tenant, caller.token_id) == ("acme", "tok-1")

    (row,) = QuotaStore(conn).load()
    assert (row.key, row.metric, row.value, row.estimated) == (
        "u-alice",
        "tokens_per_day",
        4242,
        42,
    )

    # a new row after adoption continues the old rowid sequence
    with scim.transaction():
        scim.queue_deprovision("acme", {"id": "user-10"}, "deleted", NOW)
    assert [p.seq for p in scim.pending_deprovisions()] == [1, 2]


def test_a_schema_newer_than_this_build_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    conn = open_state(db)
    conn.execute(
        "INSERT INTO state_migrations VALUES ('identity.sessions', 99, 'from the future', 'x')"
    )
    conn.execute("INSERT INTO state_migrations VALUES ('fleet.audit', 1, 'unknown', 'x')")
    conn.execute("CREATE TABLE future_only (x)")
    conn.close()
    before = db.read_bytes()

    with pytest.raises(SchemaTooNew) as caught:
        open_state(db)
    text = caught.value.diagnostics()
    assert "identity.sessions is at version 99, this warden knows up to 2" in text
    assert "fleet.audit is at version 1, this warden knows no such domain" in text
    assert "restore the backup" in text
    assert db.read_bytes() == before


def _warden(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(WARDEN), "--config", str(cfg), *args], capture_output=True, text=True, timeout=60
    )


def test_warden_db_status_and_migrate(tmp_path: Path) -> None:
    cfg = tmp_path / "w.yaml"
    cfg.write_text("state_dir: st\n")
    db = tmp_path / "st" / "state.db"
    db.parent.mkdir()
    build_legacy_store(db)

    status = _warden(cfg, "db", "status")
    assert status.returncode == 1, status.stderr
    assert "identity.sessions" in status.stdout and "1 step(s) pending" in status.stdout
    assert "warden db migrate" in status.stdout

    migrated = _warden(cfg, "db", "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "applied identity.sessions 1: sessions, device credentials" in migrated.stdout
    assert _warden(cfg, "db", "migrate").stdout.strip().endswith("up to date")

    status = _warden(cfg, "db", "status")
    assert status.returncode == 0 and status.stdout.count("up to date") == len(DOMAINS)

    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO state_migrations VALUES ('policy.quotas', 7, 'future', 'x')")
    conn.commit()
    conn.close()
    status = _warden(cfg, "db", "status")
    assert status.returncode == 2 and "newer than this warden (knows up to 1)" in status.stdout
    refused = _warden(cfg, "db", "migrate")
    assert refused.returncode == 2
    assert "policy.quotas is at version 7, this warden knows up to 1" in refused.stdout
    # and the sessions CLI, which opens the same store, refuses with the same words
    listing = _warden(cfg, "sessions", "list")
    assert listing.returncode == 2 and "written by a newer warden" in listing.stderr
    assert "Traceback" not in listing.stderr
