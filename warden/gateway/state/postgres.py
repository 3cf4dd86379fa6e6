"""The state database on PostgreSQL (``state.backend: postgresql``): a pool and an adapter.

The stores speak the small part of ``sqlite3.Connection`` they were written against:
``execute``/``executemany`` with ``?`` placeholders, ``BEGIN``/``COMMIT``/``ROLLBACK`` as
statements, ``in_transaction``, ``commit()``, ``with conn:``, and ``sqlite3`` exception
classes. ``PgConnection`` presents exactly that over a ``psycopg_pool.ConnectionPool``:

- a statement outside a transaction borrows a pooled connection for itself and returns it
  with every row already read, so a PostgreSQL restart costs the statements that ran into
  it and nothing after: the pool replaces broken connections by itself;
- ``BEGIN`` pins one pooled connection to the calling thread until ``COMMIT``/``ROLLBACK``;
- placeholders become ``%s`` (outside quoted literals), ``BEGIN IMMEDIATE`` becomes
  ``BEGIN``, and psycopg's errors are raised as the ``sqlite3`` class of the same meaning
  (``IntegrityError``, ``OperationalError``), so every store keeps its one error path.

The DSN comes from the environment only (``WARDEN_STATE_DSN``), never from the config
file: it carries a password. Nothing here logs it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg
import psycopg_pool

from warden.gateway.state.errors import StateError
from warden.pgbounds import CALL_TIMEOUT_S, WATCHDOG, bounded_conninfo

DSN_ENV = "WARDEN_STATE_DSN"
# A statement waits this long for a connection, then fails closed. Short: the stores write
# on the event loop (sign-in, revocation, SCIM), so an unreachable database must not hold
# it for long; reads of the hot path never come here (they are answered from memory).
CHECKOUT_TIMEOUT_S = 1.0
# The pool's look at a lent connection: a live server answers in a millisecond.
CHECK_TIMEOUT_S = 1.0
STATEMENT_TIMEOUT_S = 5.0
# ``warden db migrate``: no statement_timeout, and this client-side bound per statement.
MIGRATION_TIMEOUT_S = 1800.0


def qmark_to_format(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (and a literal ``%`` as ``%%``), outside
    single-quoted literals, double-quoted names and ``--`` comments; linear time."""
    out: list[str] = []
    quote: str | None = None
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if quote is not None:
            if c == "%":
                out.append("%%")
            else:
                out.append(c)
                if c == quote:
                    quote = None
        elif c in "'\"":
            quote = c
            out.append(c)
        elif c == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end].replace("%", "%%"))
            i = end
            continue
        elif c == "?":
            out.append("%s")
        elif c == "%":
            out.append("%%")
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _translate(exc: Exception) -> sqlite3.Error:
    # a CallTimeout (warden/pgbounds.py) is an OperationalError: unavailable, fail closed
    if isinstance(exc, psycopg.IntegrityError):
        return sqlite3.IntegrityError(str(exc))
    if isinstance(exc, psycopg.OperationalError | psycopg_pool.PoolTimeout):
        return sqlite3.OperationalError(f"the state database (PostgreSQL) is unavailable: {exc}")
    return sqlite3.DatabaseError(str(exc))


class Result:
    """A statement's rows, read in full before its connection went back to the pool."""

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[tuple[Any, ...]]:
        rest = self._rows[self._next :]
        self._next = len(self._rows)
        return rest

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.fetchall())


def _run(conn: psycopg.Connection[Any], sql: str, params: Sequence[Any], bound: float) -> Result:
    # our own SQL, never client text; without parameters psycopg reads no placeholder
    query = qmark_to_format(sql) if params else sql
    with WATCHDOG.bound(conn, "a state database statement", bound):
        cur = conn.execute(query, tuple(params) or None)
        rows = cur.fetchall() if cur.description else []
    return Result(rows, cur.rowcount)


class PgConnection:
    """The stores' connection surface over a pool; one instance may serve many threads."""

    def __init__(
        self, pool: psycopg_pool.ConnectionPool[Any], *, call_timeout_s: float = CALL_TIMEOUT_S
    ) -> None:
        self.pool = pool
        #: Each statement's client-side bound (warden/pgbounds.py); long for migrations.
        self.call_timeout_s = call_timeout_s
        self._local = threading.local()

    @property
    def _pinned(self) -> psycopg.Connection[Any] | None:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        return conn

    @property
    def in_transaction(self) -> bool:
        return self._pinned is not None

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Result:
        verb = sql.lstrip()[:8].upper()
        try:
            if verb.startswith("BEGIN"):
                return self._begin()
            if verb.startswith(("COMMIT", "ROLLBACK")):
                return self._end(verb.split()[0])
            pinned = self._pinned
            if pinned is not None:
                return _run(pinned, sql, params, self.call_timeout_s)
            with self.pool.connection(timeout=CHECKOUT_TIMEOUT_S) as conn:
                return _run(conn, sql, params, self.call_timeout_s)
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise _translate(exc) from exc

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> Result:
        batch = [tuple(r) for r in rows]
        own = self._pinned is None
        if own:
            self.execute("BEGIN")
        try:
            pinned = self._pinned
            assert pinned is not None
            with (
                WATCHDOG.bound(pinned, "a state database write", self.call_timeout_s),
                pinned.cursor() as cur,
            ):
                cur.executemany(qmark_to_format(sql), batch)
                count = cur.rowcount
        except psycopg.Error as exc:
            if own:
                self.execute("ROLLBACK")
            raise _translate(exc) from exc
        if own:
            self.execute("COMMIT")
        return Result([], count)

    def _begin(self) -> Result:
        if self._pinned is not None:
            raise sqlite3.OperationalError("cannot start a transaction within a transaction")
        conn = self.pool.getconn(timeout=CHECKOUT_TIMEOUT_S)
        try:
            with WATCHDOG.bound(conn, "BEGIN", self.call_timeout_s):
                conn.execute("BEGIN")
        except BaseException:
            self.pool.putconn(conn)
            raise
        self._local.conn = conn
        return Result([], -1)

    def _end(self, verb: str) -> Result:
        conn = self._pinned
        if conn is None:
            if verb == "ROLLBACK":
                return Result([], -1)
            raise sqlite3.OperationalError("cannot commit - no transaction is active")
        self._local.conn = None
        try:
            with WATCHDOG.bound(conn, verb, self.call_timeout_s):
                conn.execute(verb)
        except psycopg.Error:
            if verb != "ROLLBACK":
                raise
            # a broken connection has no transaction left to roll back
        finally:
            self.pool.putconn(conn)
        return Result([], -1)

    def commit(self) -> None:
        if self._pinned is not None:
            self.execute("COMMIT")

    def __enter__(self) -> PgConnection:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self._pinned is not None:
            self.execute("ROLLBACK" if exc_type else "COMMIT")

    def close(self) -> None:
        """Nothing: the pool belongs to whoever opened it (``open_pool``)."""


def _check(conn: psycopg.Connection[Any]) -> None:
    """The pool's look at a connection before lending it, bounded like any call (the
    stock check waits for ever on a stopped server)."""
    with WATCHDOG.bound(conn, "the pool's connection check", seconds=CHECK_TIMEOUT_S):
        psycopg_pool.ConnectionPool.check_connection(conn)


def open_pool(
    dsn: str,
    *,
    min_size: int = 2,
    max_size: int = 8,
    statement_timeout_s: float | None = STATEMENT_TIMEOUT_S,
) -> psycopg_pool.ConnectionPool[Any]:
    """A pool of autocommit connections to ``dsn``, the first one open before returning.

    Every connection is bounded (warden/pgbounds.py): connect timeout, TCP keepalives,
    ``statement_timeout`` (None for migrations, which may run long) and a client-side
    deadline on each statement, so a frozen server fails a call in seconds, never hangs it.
    """
    pool: psycopg_pool.ConnectionPool[Any] = psycopg_pool.ConnectionPool(
        bounded_conninfo(dsn, statement_timeout_s=statement_timeout_s),
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True},
        check=_check,
        # a failed background connection attempt is dropped at once; the next statement that
        # needs a connection makes the pool grow again (tested across server restarts)
        reconnect_timeout=0,
        open=False,
        name="warden-state",
    )
    try:
        pool.open(wait=True, timeout=CHECKOUT_TIMEOUT_S * 2)
    except psycopg_pool.PoolTimeout as exc:
        pool.close()
        raise StateError(
            f"cannot connect to the state database (PostgreSQL, {redact(dsn)})",
            fix=f"check that PostgreSQL runs and that {DSN_ENV} names the right host, port, "
            'database, user and password (`psql "$' + DSN_ENV + "\" -c 'select 1'`)",
        ) from exc
    return pool


def redact(dsn: str) -> str:
    """``dsn`` without its password, for messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "an unparsable DSN"
    return " ".join(f"{k}={v}" for k, v in info.items() if k in ("host", "port", "dbname", "user"))
