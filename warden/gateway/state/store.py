"""The state database of this gateway: which domains keep tables in it, opened one way.

``DOMAINS`` is the ordered list of every owner of tables (a table no domain declares does
not exist); ``warden.gateway.state`` opens the database and applies their migrations.

- ``state.backend: sqlite`` (the default): ``state_dir/state.db``, migrated at start, so
  ``make run`` needs no extra step.
- ``state.backend: postgresql``: the DSN from ``WARDEN_STATE_DSN``; ``warden db migrate``
  applies migrations (once, for the whole fleet) and an instance refuses to start on a
  schema with steps pending or newer than it knows.

``warden db status`` / ``warden db migrate`` work on both.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from warden.audit import fleet_schema as audit_fleet
from warden.config import Config
from warden.gateway.state import POSTGRESQL, SQLITE, Applied, Domain, StateError, migrate, status
from warden.gateway.state import sqlite as sqlite_state
from warden.gateway.state.dialect import NOTIFY_CHANNEL
from warden.gateway.state.migrate import DomainStatus, require_current
from warden.gateway.wiring import coach_feed
from warden.identity import sessions
from warden.identity.scim import credentials as scim_credentials
from warden.identity.scim import store as scim_store
from warden.policy import published, quotastore

# Before versioned migrations, one ledger row created an unused ``meta`` table; every
# domain created its own tables. Adopting such a store drops those two and keeps the rest.
_OWNER_STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "adopt the pre-versioned layout (drop the unused meta table and its ledger)",
        ("DROP TABLE IF EXISTS meta", "DROP TABLE IF EXISTS schema_migrations"),
    ),
)

# PostgreSQL only: every committed write to a table an instance keeps in memory tells
# every instance (warden/gateway/state/listen.py). One notification per statement, not per row.
SESSION_TABLES = ("sessions", "device_credentials", "surrogate_bindings", "person_revocations")
SCIM_TABLES = ("scim_users", "scim_groups", "scim_members")
NOTIFIED_TABLES = (*SESSION_TABLES, *SCIM_TABLES, "scim_tokens")
_NOTIFY_STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "notify every instance of changes to sessions, credentials and SCIM data",
        (
            "CREATE FUNCTION warden_state_changed() RETURNS trigger LANGUAGE plpgsql AS $$"
            f" BEGIN PERFORM pg_notify('{NOTIFY_CHANNEL}', TG_TABLE_NAME); RETURN NULL; END $$",
            *(
                f"CREATE TRIGGER {table}_changed AFTER INSERT OR UPDATE OR DELETE ON {table}"
                " FOR EACH STATEMENT EXECUTE FUNCTION warden_state_changed()"
                for table in NOTIFIED_TABLES
            ),
        ),
    ),
    (
        "notify every instance of a newly published policy version",
        (
            f"CREATE TRIGGER {published.TABLE}_changed AFTER INSERT OR UPDATE OR DELETE"
            f" ON {published.TABLE} FOR EACH STATEMENT EXECUTE FUNCTION warden_state_changed()",
        ),
    ),
    (
        "notify every instance of coaching acknowledgements",
        (
            f"CREATE TRIGGER {coach_feed.TABLE}_changed AFTER INSERT ON {coach_feed.TABLE}"
            " FOR EACH STATEMENT EXECUTE FUNCTION warden_state_changed()",
        ),
    ),
)

DOMAINS: tuple[Domain, ...] = (
    Domain("state", _OWNER_STEPS),
    Domain("identity.sessions", sessions.MIGRATIONS),
    Domain("identity.scim", scim_store.MIGRATIONS),
    Domain("identity.scim_tokens", scim_credentials.MIGRATIONS),
    Domain("policy.quotas", quotastore.MIGRATIONS),
    Domain("policy.coaching", coach_feed.MIGRATIONS),
    # the fleet's policy version in force (warden/gateway/wiring/policy_fleet.py):
    # PostgreSQL only, the embedded default keeps its policy in its file
    Domain("policy.published", published.MIGRATIONS, dialects=("postgresql",)),
    Domain("state.notify", _NOTIFY_STEPS, dialects=("postgresql",)),
    # the fleet's central copy of every instance's audit chains (warden/audit/fleet.py)
    Domain("audit.fleet", audit_fleet.MIGRATIONS, dialects=("postgresql",)),
)


@dataclass
class StateDatabase:
    """The open state database: ``conn`` for the stores, ``connect()`` for one more.

    On PostgreSQL ``conn`` is a ``PgConnection`` over the pool, typed as the
    ``sqlite3.Connection`` surface it presents to the stores (see warden/gateway/state/postgres.py).
    """

    backend: str
    where: str  # for messages: a path, or the DSN without its password
    conn: sqlite3.Connection
    _connect: Callable[[], sqlite3.Connection]
    _close: Callable[[], None]
    pool: Any = None  # psycopg_pool.ConnectionPool on PostgreSQL
    dsn: str | None = field(default=None, repr=False)  # PostgreSQL: carries a password

    def connect(self) -> sqlite3.Connection:
        """Another connection (SQLite: its own file handle; PostgreSQL: the same pool)."""
        return self._connect()

    def close(self) -> None:
        self._close()

    def watch(self, callbacks: Iterable[tuple[Iterable[str], Callable[[], None]]]) -> Any:
        """On PostgreSQL, a started ``ChangeListener`` calling ``callbacks`` (tables, reload)
        when another instance (or this one) commits a change to those tables; the caller
        stops it. None on SQLite, where this process is the only writer it must follow."""
        if self.dsn is None:
            return None
        from warden.gateway.state.listen import ChangeListener

        listener = ChangeListener(self.dsn, callbacks)
        listener.start()
        return listener


def open_state(path: Path) -> sqlite3.Connection:
    """The embedded state database at ``path``, migrated to this build's schema.

    Raises ``StateError`` (with a fix) when the file cannot be opened or was written by a
    newer warden.
    """
    conn = sqlite_state.connect(path)
    try:
        migrate_sqlite(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def migrate_sqlite(conn: sqlite3.Connection, path: Path) -> list[Applied]:
    try:
        return migrate(conn, SQLITE, DOMAINS, str(path))
    except sqlite3.Error as exc:
        raise StateError(
            f"cannot migrate the state database {path}: {exc}",
            fix="check that the disk is not full and the file is not damaged "
            "(`sqlite3 FILE 'PRAGMA integrity_check'`); restore it from a backup if it is",
        ) from exc


def _dsn(env: Mapping[str, str]) -> str:
    from warden.gateway.state.postgres import DSN_ENV

    dsn = env.get(DSN_ENV, "").strip()
    if not dsn:
        raise StateError(
            f"state.backend is postgresql but the environment has no {DSN_ENV}",
            fix=f"set {DSN_ENV} to the database's URL, e.g. "
            "postgresql://warden@db.example:5432/warden (the password in ~/.pgpass or "
            "PGPASSWORD, or in the URL), in the gateway's environment, never in the config",
        )
    return dsn


def _open_postgres(
    config: Config, env: Mapping[str, str], *, migrating: bool = False
) -> tuple[Any, Any, str]:
    from warden.gateway.state.postgres import MIGRATION_TIMEOUT_S, PgConnection, open_pool, redact

    dsn = _dsn(env)
    if migrating:  # a schema step may run for minutes on a big table: bounded, but loosely
        pool = open_pool(dsn, max_size=2, statement_timeout_s=None)
        return (
            pool,
            PgConnection(pool, call_timeout_s=MIGRATION_TIMEOUT_S),
            f"PostgreSQL {redact(dsn)}",
        )
    pool = open_pool(dsn, max_size=config.state.pool_size)
    return pool, PgConnection(pool), f"PostgreSQL {redact(dsn)}"


def open_database(config: Config, env: Mapping[str, str] | None = None) -> StateDatabase:
    """The state database ``config`` names, ready for the stores.

    SQLite is migrated here; PostgreSQL must already be current (``warden db migrate``).
    """
    env = os.environ if env is None else env
    if config.state.backend == "sqlite":
        path = config.state_db
        conn = open_state(path)
        return StateDatabase(
            "sqlite", str(path), conn, lambda: sqlite_state.connect(path), conn.close
        )
    pool, conn, where = _open_postgres(config, env)
    try:
        require_current(conn, POSTGRESQL, DOMAINS, where)
    except BaseException:
        pool.close()
        raise
    as_sqlite = cast(sqlite3.Connection, conn)  # the surface the stores use; see the docstring
    return StateDatabase(
        "postgresql", where, as_sqlite, lambda: as_sqlite, pool.close, pool, _dsn(env)
    )


def describe_state(
    config: Config, env: Mapping[str, str] | None = None
) -> tuple[str, list[DomainStatus]]:
    """``warden db status``: where the state is and each domain's version, changing nothing."""
    env = os.environ if env is None else env
    if config.state.backend == "sqlite":
        path = config.state_db
        if not path.exists():
            return f"{path} (not created yet)", [
                DomainStatus(d.name, 0, d.version) for d in DOMAINS
            ]
        conn = sqlite_state.connect(path)
        try:
            return str(path), status(conn, SQLITE, DOMAINS)
        finally:
            conn.close()
    pool, pg, where = _open_postgres(config, env)
    try:
        return where, status(pg, POSTGRESQL, DOMAINS)
    finally:
        pool.close()


def migrate_state(
    config: Config, env: Mapping[str, str] | None = None
) -> tuple[str, list[Applied]]:
    """``warden db migrate``: create or bring the state database up to this build."""
    env = os.environ if env is None else env
    if config.state.backend == "sqlite":
        path = config.state_db
        conn = sqlite_state.connect(path)
        try:
            return str(path), migrate_sqlite(conn, path)
        finally:
            conn.close()
    pool, pg, where = _open_postgres(config, env, migrating=True)
    try:
        return where, migrate(pg, POSTGRESQL, DOMAINS, where)
    except sqlite3.Error as exc:  # the adapter's translation of psycopg's errors
        raise StateError(
            f"cannot migrate the state database ({where}): {exc}",
            fix="check that the database user may create tables in the database's schema "
            "and that PostgreSQL is reachable; nothing was changed (one transaction)",
        ) from exc
    finally:
        pool.close()


def open_state_reader(config: Config, env: Mapping[str, str] | None = None) -> StateDatabase | None:
    """A read-only state database for the review console on PostgreSQL; ``None`` on SQLite
    (the console opens that file read-only itself).

    Read-only on the server's side: every transaction of its connections is read-only
    (``default_transaction_read_only``), so no statement of the console can write,
    whatever it says. A small pool: one reviewer's screens."""
    env = os.environ if env is None else env
    if config.state.backend == "sqlite":
        return None
    import psycopg

    from warden.gateway.state.postgres import PgConnection, open_pool, redact

    dsn = _dsn(env)
    try:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise StateError(
            "the state database's DSN cannot be parsed",
            fix="set WARDEN_STATE_DSN to a postgresql:// URL or a key=value string",
        ) from exc
    options = f"{info.get('options') or ''} -c default_transaction_read_only=on".strip()
    readonly = psycopg.conninfo.make_conninfo(dsn, options=options)
    pool = open_pool(readonly, min_size=1, max_size=2)
    conn = PgConnection(pool)
    where = f"PostgreSQL {redact(dsn)}"
    try:
        require_current(conn, POSTGRESQL, DOMAINS, where)
    except BaseException:
        pool.close()
        raise
    as_sqlite = cast(sqlite3.Connection, conn)  # the surface the readers use
    return StateDatabase("postgresql", where, as_sqlite, lambda: as_sqlite, pool.close, pool)
