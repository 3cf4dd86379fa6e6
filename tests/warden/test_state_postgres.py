"""The state database on a real PostgreSQL: migrations, every store, restarts, the CLI.

The server is Debian's ``postgresql`` run by tests/postgres.py (initdb into a temporary
folder, a free loopback port, stopped by PID); each test gets a fresh database.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.peers import WARDEN
from tests.postgres import PostgresServer
from warden.config import Config, ConfigError, parse_config
from warden.gateway.state import (
    POSTGRESQL,
    MigrationsPending,
    SchemaTooNew,
    StateError,
    migrate,
    status,
)
from warden.gateway.state.postgres import DSN_ENV, PgConnection, open_pool, qmark_to_format
from warden.gateway.state.store import (
    DOMAINS,
    SESSION_TABLES,
    StateDatabase,
    migrate_state,
    open_database,
)
from warden.identity.scim import ScimCredentials
from warden.identity.scim.store import DuplicateUserName, ScimStore
from warden.identity.sessions import SessionStore, UserIdentity
from warden.policy.quotastore import CounterRow, QuotaStore

from .test_store import TABLES as SQLITE_TABLES

TABLES = SQLITE_TABLES | {"policy_published"}  # the fleet's policy: PostgreSQL only

#: Tables of domains that exist on PostgreSQL only: the fleet's central audit copy.
PG_ONLY_TABLES = {
    "audit_fleet_instances",
    "audit_fleet_records",
    "audit_fleet_checkpoints",
    "audit_fleet_anchors",
}


def _config(tmp_path: Path) -> Config:
    return parse_config({"state": {"backend": "postgresql"}}, "test", tmp_path, {})


@pytest.fixture
def pg(postgres_dsn: str) -> Iterator[PgConnection]:
    pool = open_pool(postgres_dsn)
    yield PgConnection(pool)
    pool.close()


def _tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {name for (name,) in rows}


@pytest.fixture
def database(postgres_dsn: str, tmp_path: Path) -> Iterator[StateDatabase]:
    env = {DSN_ENV: postgres_dsn}
    migrate_state(_config(tmp_path), env)
    db = open_database(_config(tmp_path), env)
    yield db
    db.close()


def test_qmark_placeholders_outside_literals_and_comments() -> None:
    assert qmark_to_format("SELECT a FROM t WHERE b = ? AND c LIKE '50%?'") == (
        "SELECT a FROM t WHERE b = %s AND c LIKE '50%%?'"
    )
    assert qmark_to_format('SELECT "x?" , ? -- why? 100%\n, ?') == (
        'SELECT "x?" , %s -- why? 100%%\n, %s'
    )


def test_migrations_create_every_table_once_even_when_two_instances_race(
    postgres_dsn: str, tmp_path: Path
) -> None:
    results: list[Any] = []

    def one() -> None:
        pool = open_pool(postgres_dsn)
        try:
            results.append(migrate(PgConnection(pool), POSTGRESQL, DOMAINS, "pg"))
        except Exception as exc:
            results.append(exc)
        finally:
            pool.close()

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(isinstance(r, list) for r in results), results
    assert sorted(len(r) for r in results) == [0, sum(d.version for d in DOMAINS)]
    assert _tables(postgres_dsn) == TABLES | PG_ONLY_TABLES
    pool = open_pool(postgres_dsn)
    try:
        states = status(PgConnection(pool), POSTGRESQL, DOMAINS)
    finally:
        pool.close()
    assert all(s.current == s.known and not s.pending for s in states)


def test_an_instance_refuses_pending_and_newer_schemas(postgres_dsn: str, tmp_path: Path) -> None:
    env = {DSN_ENV: postgres_dsn}
    with pytest.raises(MigrationsPending) as pending:
        open_database(_config(tmp_path), env)
    assert "warden db migrate" in pending.value.diagnostics()
    assert "identity.sessions 0 -> 2" in str(pending.value)
    assert postgres_dsn.split(":")[2].split("@")[0] not in str(pending.value)  # no password

    migrate_state(_config(tmp_path), env)
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO state_migrations VALUES ('identity.scim', 5, 'future', 'x')")
    with pytest.raises(
        SchemaTooNew, match=r"identity\.scim is at version 5, this warden knows up to 1"
    ):
        open_database(_config(tmp_path), env)
    with pytest.raises(SchemaTooNew):
        migrate_state(_config(tmp_path), env)


def test_no_dsn_is_a_clear_error_and_never_read_from_the_config(tmp_path: Path) -> None:
    with pytest.raises(StateError, match=f"the environment has no {DSN_ENV}"):
        open_database(_config(tmp_path), {})
    with pytest.raises(ConfigError) as caught:
        parse_config(
            {"state": {"backend": "postgresql", "dsn": "postgresql://u:pw@h/db"}}, "t", tmp_path, {}
        )
    assert "set WARDEN_STATE_DSN in the gateway's environment" in str(caught.value)
    assert "pw@h" not in str(caught.value)


def test_an_unreachable_server_is_named_without_its_password(tmp_path: Path) -> None:
    from tests.peers import free_port

    dsn = f"postgresql://warden:s3cret-pw@127.0.0.1:{free_port()}/warden?connect_timeout=1"
    with pytest.raises(StateError) as caught:
        open_database(_config(tmp_path), {DSN_ENV: dsn})
    text = caught.value.diagnostics()
    assert "cannot connect to the state database" in text and "s3cret" not in text


def test_sessions_live_in_postgresql(database: StateDatabase) -> None:
    store = SessionStore(database.conn)
    user = UserIdentity("acme", "https://idp", "u-1", "a@acme.example", "eng", ("g1", "g2"))
    issued = store.create_session(user, "oidc", 3600, refresh_token=b"\x00\xffsealed")
    device = store.issue_device_credential(issued.session, "laptop")
    store.bind_surrogate("10.0.0.7", issued.session, 600)
    store.bind_surrogate("10.0.0.7", issued.session, 300)  # an upsert, not a duplicate
    store.revoke_user("acme", None, "u-gone", "offboarded")

    again = SessionStore(database.connect())  # another instance, loading from the database
    found = again.session_by_device_credential(device)
    assert found is not None and found.user == user
    assert again.session_by_token(issued.token) == found
    assert again.session_by_surrogate("10.0.0.7") == found
    assert again.not_before("acme", "u-gone") is not None
    assert [(s.id, r) for s, r in again.refresh_due(found.created_at + 10, 0)] == [
        (found.id, b"\x00\xffsealed")
    ]

    assert again.revoke_device_credential(device)
    third = SessionStore(database.connect())
    assert third.session_by_device_credential(device) is None
    assert third.session_by_token(issued.token) is not None


def test_a_miss_on_postgresql_is_answered_from_memory_not_the_database(
    database: StateDatabase,
) -> None:
    """The request path never reads PostgreSQL: another instance's sign-in reaches this
    one by notification (reload), not by a look per unknown credential or address, even
    where the store is marked as shared (the workers of one host), as a look would hold
    the event loop on a stalled server and fail the flow on a stopped one."""
    here = SessionStore(database.conn)
    here.shared = True
    assert here.shared is False  # only a local SQLite file is looked at on a miss
    elsewhere = SessionStore(database.connect())
    issued = elsewhere.create_session(
        UserIdentity("acme", "https://idp", "u-2", None, None, ()), "oidc", 3600
    )
    device = elsewhere.issue_device_credential(issued.session)
    elsewhere.bind_surrogate("10.0.0.9", issued.session, 600)
    assert here.session_by_surrogate("10.0.0.9") is None
    assert here.session_by_device_credential(device) is None
    assert here.session_by_token(issued.token) is None
    here.reload()  # what the notification listener runs
    assert here.session_by_surrogate("10.0.0.9") is not None
    assert here.session_by_device_credential(device) is not None


def test_scim_and_its_tokens_live_in_postgresql(database: StateDatabase) -> None:
    scim = ScimStore(database.conn)
    with scim.transaction():
        scim.insert_user("acme", "u1", "Alice", "alice", None, True, {"userName": "Alice"}, "t0")
    with pytest.raises(DuplicateUserName), scim.transaction():
        scim.insert_user("acme", "u2", "ALICE", "alice", None, True, {"userName": "ALICE"}, "t0")
    assert not database.conn.in_transaction  # the failed transaction was rolled back
    user = scim.user("acme", "u1")
    assert user is not None and user.user_name == "Alice" and user.active
    assert scim.count("acme", "User") == 1

    creds = ScimCredentials(database.conn)
    token = creds.add_token("acme")
    caller = ScimCredentials(database.connect()).authenticate(token)
    assert caller is not None and caller.tenant == "acme"


def test_quota_counters_live_in_postgresql(database: StateDatabase) -> None:
    quotas = QuotaStore(database.connect())
    big = 5_000_000_000  # tokens per month beyond 32 bits: BIGINT on PostgreSQL
    row = CounterRow("acme", "tenant", "", "tokens_per_month", 1_700_000_000, big, 7)
    assert quotas.save([row], 1_700_000_100) == 1
    assert quotas.save([CounterRow(*[*vars_of(row)[:5], big + 1, 7])], 1_700_000_200) == 1
    assert quotas.load() == [
        CounterRow("acme", "tenant", "", "tokens_per_month", 1_700_000_000, big + 1, 7)
    ]


def vars_of(row: CounterRow) -> list[Any]:
    return [row.tenant, row.scope, row.key, row.metric, row.window_start, row.value, row.estimated]


def test_a_restarted_server_is_reconnected_by_itself(
    postgres_server: PostgresServer, database: StateDatabase
) -> None:
    store = ScimCredentials(database.conn)
    token = store.add_token("acme")
    postgres_server.stop()
    with pytest.raises(sqlite3.OperationalError, match="unavailable"):
        store.authenticate(token)  # fails closed: no caller while the database is down
    postgres_server.start()
    # the pool replaces its broken connections; the first statements after the restart
    # may still meet one of them (see _authenticates_again)
    _authenticates_again(store, token)


def test_warden_db_migrate_and_status_on_postgresql(postgres_dsn: str, tmp_path: Path) -> None:
    cfg = tmp_path / "w.yaml"
    cfg.write_text("state:\n  backend: postgresql\n")
    env = {**os.environ, DSN_ENV: postgres_dsn}

    def warden(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(WARDEN), "--config", str(cfg), *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )

    before = warden("db", "status")
    assert before.returncode == 1, before.stderr
    assert "PostgreSQL" in before.stdout and "host=127.0.0.1" in before.stdout
    assert postgres_dsn.split(":")[2].split("@")[0] not in before.stdout  # the password
    done = warden("db", "migrate")
    assert done.returncode == 0, done.stderr
    assert "applied policy.quotas 1: quota counters" in done.stdout
    after = warden("db", "status")
    assert after.returncode == 0 and after.stdout.count("up to date") == len(DOMAINS)
    assert _tables(postgres_dsn) == TABLES | PG_ONLY_TABLES
    no_dsn = subprocess.run(
        [str(WARDEN), "--config", str(cfg), "db", "status"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != DSN_ENV},
    )
    assert no_dsn.returncode == 2 and DSN_ENV in no_dsn.stderr


class Instance:
    """One gateway's state side: its own pool, session store and change listener."""

    def __init__(self, dsn: str, tmp_path: Path) -> None:
        self.db = open_database(_config(tmp_path), {DSN_ENV: dsn})
        self.sessions = SessionStore(self.db.conn)
        self.reloaded = threading.Event()

        def reload() -> None:
            self.sessions.reload()
            self.reloaded.set()

        self.listener = self.db.watch([(SESSION_TABLES, reload)])
        assert self.listener is not None and self.listener.listening.is_set()

    def close(self) -> None:
        self.listener.stop()
        self.db.close()


@pytest.fixture
def fleet(postgres_dsn: str, tmp_path: Path) -> Iterator[tuple[Instance, Instance]]:
    migrate_state(_config(tmp_path), {DSN_ENV: postgres_dsn})
    a, b = Instance(postgres_dsn, tmp_path), Instance(postgres_dsn, tmp_path)
    yield a, b
    a.close()
    b.close()


def _until(check: Callable[[], bool], within: float, event: threading.Event) -> float:
    """Seconds until ``check()`` held, re-checked at each ``event`` (a reload); fails after
    ``within``."""
    start = time.monotonic()
    while True:
        event.clear()
        if check():
            return time.monotonic() - start
        left = within - (time.monotonic() - start)
        assert left > 0, f"not within {within} s"
        event.wait(left)


def test_a_sign_in_on_one_instance_is_served_by_the_other(fleet: tuple[Instance, Instance]) -> None:
    a, b = fleet
    user = UserIdentity("acme", "https://idp", "u-1", "a@acme.example")
    issued = a.sessions.create_session(user, "device", 3600)
    device = a.sessions.issue_device_credential(issued.session)
    # the requirement is 1 s; a notification and an in-memory reload take milliseconds
    _until(lambda: b.sessions.session_by_device_credential(device) is not None, 1.0, b.reloaded)
    assert b.sessions.session_by_device_credential(device) == issued.session


def test_a_revocation_on_one_instance_cuts_the_other_within_a_second(
    fleet: tuple[Instance, Instance],
) -> None:
    a, b = fleet
    user = UserIdentity("acme", "https://idp", "u-2")
    issued = a.sessions.create_session(user, "device", 3600)
    device = a.sessions.issue_device_credential(issued.session)
    _until(lambda: b.sessions.session_by_device_credential(device) is not None, 5.0, b.reloaded)
    seen = b.sessions.revocations
    a.sessions.revoke_user("acme", None, "u-2", "offboarded")
    took = _until(lambda: b.sessions.session_by_device_credential(device) is None, 1.0, b.reloaded)
    assert b.sessions.revocations > seen  # open connections on B re-check their person
    assert took < 1.0


def test_the_listener_comes_back_after_a_database_restart(
    postgres_server: PostgresServer, fleet: tuple[Instance, Instance]
) -> None:
    a, b = fleet
    user = UserIdentity("acme", "https://idp", "u-3")
    issued = a.sessions.create_session(user, "device", 3600)
    device = a.sessions.issue_device_credential(issued.session)
    _until(lambda: b.sessions.session_by_device_credential(device) is not None, 5.0, b.reloaded)

    postgres_server.stop()
    # while it is down B keeps serving the sessions it knows, from memory
    assert b.sessions.session_by_device_credential(device) is not None
    with pytest.raises(sqlite3.OperationalError):  # and nothing can be written: no revocation
        a.sessions.revoke_user("acme", None, "u-3", "offboarded")  # is lost half-done
    postgres_server.start()
    assert b.listener.listening.wait(30), "B's listener did not reconnect"
    for _ in range(10):  # the pool may hand out a connection broken by the restart once
        try:
            a.sessions.revoke_user("acme", None, "u-3", "offboarded")
            break
        except sqlite3.OperationalError:
            continue
    _until(lambda: b.sessions.session_by_device_credential(device) is None, 1.0, b.reloaded)


def _frozen(server: PostgresServer) -> contextlib.AbstractContextManager[list[int]]:
    """Every process of the server stopped with SIGSTOP (a paused VM, a stuck host): its
    kernel still accepts connections and acknowledges bytes, nothing answers."""
    from tests.proctree import frozen

    assert server.proc is not None
    return frozen(server.proc.pid)


def test_a_frozen_server_fails_a_statement_within_its_bound_and_it_resumes_by_itself(
    postgres_server: PostgresServer, database: StateDatabase
) -> None:
    from warden.pgbounds import CALL_TIMEOUT_S, WATCHDOG

    store = ScimCredentials(database.conn)
    token = store.add_token("acme")
    cut = WATCHDOG.timeouts()
    outcome: list[BaseException | object] = []

    def call() -> None:
        try:
            outcome.append(store.authenticate(token))
        except BaseException as exc:
            outcome.append(exc)

    with _frozen(postgres_server):
        thread = threading.Thread(target=call, daemon=True)
        thread.start()
        # the bound under test: checkout + connection check + one statement's deadline,
        # with room for a loaded machine; unbounded, this call waits for ever
        thread.join(CALL_TIMEOUT_S + 10)
        assert not thread.is_alive(), "a statement hangs on a frozen server"
    assert len(outcome) == 1 and isinstance(outcome[0], sqlite3.OperationalError), outcome
    assert WATCHDOG.timeouts() > cut, outcome  # cut by its bound, and counted (metrics)
    # back: the pool dropped the cut connection and serves again, nothing to restart
    _authenticates_again(store, token)


def test_the_listener_notices_a_frozen_server_and_reloads_when_it_answers(
    postgres_server: PostgresServer, fleet: tuple[Instance, Instance]
) -> None:
    from warden.gateway.state.listen import HEARTBEAT_S, HEARTBEAT_TIMEOUT_S

    a, b = fleet
    with _frozen(postgres_server):
        # a quiet LISTEN connection on a frozen server looks healthy: only the bounded
        # heartbeat finds out (bound under test: heartbeat period + its timeout, + room)
        start = time.monotonic()
        while b.listener.listening.is_set():
            assert time.monotonic() - start < HEARTBEAT_S + HEARTBEAT_TIMEOUT_S + 10
            time.sleep(0.1)
    assert b.listener.listening.wait(30), "B's listener did not reconnect"
    user = UserIdentity("acme", "https://idp", "u-4")
    for _ in range(10):  # the pool may hand out a connection cut while frozen once
        try:
            issued = a.sessions.create_session(user, "device", 3600)
            device = a.sessions.issue_device_credential(issued.session)
            break
        except sqlite3.OperationalError:
            continue
    _until(lambda: b.sessions.session_by_device_credential(device) is not None, 5.0, b.reloaded)


def test_a_scim_change_on_one_instance_voids_the_others_remembered_answers(
    postgres_dsn: str, tmp_path: Path
) -> None:
    """SCIM writes on A (a deactivation) notify B, whose listener makes its connections
    and its remembered "still allowed" answers look again (warden/gateway/process.py
    watches SCIM_TABLES with ``sessions.recheck``)."""
    from warden.gateway.state.store import SCIM_TABLES
    from warden.identity.scim.access import RememberedAnswers

    migrate_state(_config(tmp_path), {DSN_ENV: postgres_dsn})
    a = open_database(_config(tmp_path), {DSN_ENV: postgres_dsn})
    b = open_database(_config(tmp_path), {DSN_ENV: postgres_dsn})
    b_sessions = SessionStore(b.conn)
    rechecked = threading.Event()

    def recheck() -> None:
        b_sessions.recheck()
        rechecked.set()

    listener = b.watch([(SCIM_TABLES, recheck)])
    verdict = [True]
    remembered = RememberedAnswers(lambda user: verdict[0], lambda: b_sessions.revocations)
    carol = UserIdentity("acme", "https://idp", "carol", "carol@acme.example")
    try:
        assert remembered(carol) and remembered.cached(carol) is True
        rechecked.clear()  # the listener's first pass, at its connection
        scim = ScimStore(a.conn)
        with scim.transaction():
            scim.insert_user("acme", "c1", "carol", "carol", None, False, {"userName": "c"}, "t0")
        # the requirement is 1 s; a notification takes milliseconds (room for load)
        assert rechecked.wait(5), "B was not told of A's SCIM write"
        verdict[0] = False
        assert remembered.cached(carol) is None  # void: asked again (off the loop)
        assert remembered(carol) is False
    finally:
        listener.stop()
        a.close()
        b.close()


def _authenticates_again(store: ScimCredentials, token: str) -> None:
    """After an outage the pool replaces its broken connections; a statement may still meet
    one of them, so a few tries (each a real statement), then acme's caller must be back."""
    caller = None
    for _ in range(10):
        try:
            caller = store.authenticate(token)
            break
        except sqlite3.OperationalError:
            continue
    assert caller is not None and caller.tenant == "acme"
