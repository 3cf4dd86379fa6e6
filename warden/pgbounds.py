"""A bound on every PostgreSQL call: a frozen or cut-off server must not hang anything.

A PostgreSQL whose processes are stopped (SIGSTOP, a VM paused) still has its kernel: it
accepts TCP connections into the backlog and acknowledges every byte, so neither TCP
keepalives nor ``tcp_user_timeout`` notice anything, and a server-side
``statement_timeout`` never fires (the server does not run). A network that drops packets
is the other case: nothing comes back, and only the kernel's timers see it. Each needs
its own bound, and every connection here gets all of them:

- ``connect_timeout`` (psycopg enforces it on the client, startup included);
- TCP keepalives and ``tcp_user_timeout`` (a dead path or peer is detected by the kernel);
- ``statement_timeout`` on the server (a statement held by locks on a live server);
- ``Watchdog.bound``: a client-side deadline for one call. When it passes, the
  connection's socket is shut down under the waiting call, which then fails at once with
  ``psycopg.OperationalError`` (the connection is broken and is dropped; a pool replaces
  it), so a stopped server costs each call at most its bound, and nothing resumes late on
  a stale connection. The log names what timed out; ``timeouts()`` counts it (metrics).

Shared by the state database's pool, its change listener and the audit writer's fleet
shipper. Nothing here logs a DSN (it carries a password).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg

log = logging.getLogger("warden.state")

CONNECT_TIMEOUT_S = 3
#: The server cancels a statement that runs longer (locks on a live server).
STATEMENT_TIMEOUT_S = 5.0
#: The client gives up on a call this long after it began: the server did not answer.
CALL_TIMEOUT_S = 6.0
KEEPALIVE = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    # unacknowledged data for this long closes the connection (a path that drops packets)
    "tcp_user_timeout": 10_000,
}


def bounded_conninfo(dsn: str, *, statement_timeout_s: float | None = STATEMENT_TIMEOUT_S) -> str:
    """``dsn`` with a connect timeout, TCP keepalives and (unless None) a statement
    timeout, keeping whatever ``dsn`` already sets for them."""
    given = psycopg.conninfo.conninfo_to_dict(dsn)
    extra: dict[str, Any] = {k: v for k, v in KEEPALIVE.items() if k not in given}
    if "connect_timeout" not in given:
        extra["connect_timeout"] = CONNECT_TIMEOUT_S
    options = str(given.get("options") or "")
    if statement_timeout_s is not None and "statement_timeout" not in options:
        ms = int(statement_timeout_s * 1000)
        extra["options"] = f"{options} -c statement_timeout={ms}".strip()
    return psycopg.conninfo.make_conninfo(dsn, **extra)


class CallTimeout(psycopg.OperationalError):
    """The server did not answer one call within its bound (raised instead of the
    'connection lost' the shut-down socket produces)."""


class Watchdog:
    """One thread for every armed deadline of the process; idle while none is armed."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._armed: dict[int, tuple[psycopg.Connection[Any], str, float]] = {}
        self._fired: set[int] = set()
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None
        self._count = 0
        self._last_log = 0.0

    def timeouts(self) -> int:
        """Calls cut so far in this process."""
        return self._count

    @contextlib.contextmanager
    def bound(
        self, conn: psycopg.Connection[Any], what: str, seconds: float = CALL_TIMEOUT_S
    ) -> Iterator[None]:
        """Run the body with ``conn``'s calls bounded to ``seconds`` in all."""
        token = next(self._ids)
        deadline = time.monotonic() + seconds
        with self._cond:
            self._armed[token] = (conn, what, seconds)
            # the thread sleeps until the earliest deadline: wake it only when this one
            # comes first (a disarmed entry is dropped when the thread reaches it)
            earliest = not self._heap or deadline < self._heap[0][0]
            heapq.heappush(self._heap, (deadline, token))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pg-watchdog", daemon=True)
                self._thread.start()
            if earliest:
                self._cond.notify()
        try:
            yield
        except psycopg.OperationalError as exc:
            with self._cond:
                fired = token in self._fired
            if fired:
                raise CallTimeout(
                    f"PostgreSQL did not answer within {seconds:g} s ({what}); "
                    "the connection was dropped"
                ) from exc
            raise
        finally:
            with self._cond:
                self._armed.pop(token, None)
                self._fired.discard(token)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                deadline, token = self._heap[0]
                if token not in self._armed:
                    heapq.heappop(self._heap)
                    continue
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                conn, what, seconds = self._armed[token]
                self._fired.add(token)
                self._count += 1
                now = time.monotonic()
                quiet = now - self._last_log < 5.0
                if not quiet:
                    self._last_log = now
            if not quiet:  # at most one line per 5 s while the server stays frozen
                log.warning(
                    "PostgreSQL did not answer within %g s (%s): dropping the connection; "
                    "the caller fails or serves from memory, and resumes when it answers",
                    seconds,
                    what,
                )
            _cut(conn)


def _cut(conn: psycopg.Connection[Any]) -> None:
    """Shut the connection's socket down under whoever waits on it (its own fd stays
    open for libpq to close: a duplicate is shut, which acts on the shared socket)."""
    try:
        fd = conn.pgconn.socket
    except psycopg.Error:
        return  # already closed
    try:
        dup = os.dup(fd)
    except OSError:
        return
    sock = socket.socket(fileno=dup)
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()


WATCHDOG = Watchdog()
