"""Changes made by other instances, as they commit: PostgreSQL LISTEN/NOTIFY.

Triggers (the ``state.notify`` domain in warden/gateway/state/store.py) send ``pg_notify(CHANNEL,
table)`` once per writing statement, delivered when its transaction commits, to every
listening instance (this one included). ``ChangeListener`` holds one connection of its
own (not the pool's: a listening session must stay open) in a thread and calls the
callbacks registered for the tables named; the callbacks refresh in-memory state, so the
proxy's hot path never reads the database.

Notifications sent while the listener is disconnected are lost (PostgreSQL keeps none for
an absent session), so after every (re)connection every callback runs once: whatever
changed meanwhile is read back in full.

A quiet connection looks the same as a frozen server (SIGSTOP) or a cut network, so after
``HEARTBEAT_S`` without a notification the listener asks the server one ``SELECT 1``,
bounded (warden/pgbounds.py): no answer drops the connection and the listener reconnects
(each attempt bounded by the connect timeout), reloading in full once the server answers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

import psycopg

from warden.gateway.state.dialect import NOTIFY_CHANNEL as CHANNEL
from warden.pgbounds import WATCHDOG, bounded_conninfo

logger = logging.getLogger("warden.state")

POLL_S = 0.5  # how often the thread looks at its stop flag while no notification comes
DRAIN_S = 0.002  # after a wake-up: notifications already on the wire join the same reload
RETRY_S = (0.2, 0.5, 1.0, 2.0, 5.0)  # reconnection back-off; the last value repeats
HEARTBEAT_S = 2.0  # a quiet connection is asked to answer after this long
HEARTBEAT_TIMEOUT_S = 2.0  # ... within this long, or it is dropped


class ChangeListener:
    def __init__(
        self, dsn: str, callbacks: Iterable[tuple[Iterable[str], Callable[[], None]]]
    ) -> None:
        self._dsn = bounded_conninfo(dsn)
        self._callbacks = [(frozenset(names), callback) for names, callback in callbacks]
        self._stop = threading.Event()
        self._failed: set[Callable[[], None]] = set()
        #: Set while listening; cleared while the database is unreachable.
        self.listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name="warden-state-listen", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        """Start listening; returns once the first LISTEN is in place (or ``timeout``)."""
        self._thread.start()
        self.listening.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(POLL_S * 4 + 5)

    def _fire(self, tables: set[str] | None) -> None:
        for names, callback in self._callbacks:
            if tables is None or names & tables or callback in self._failed:
                try:
                    callback()
                except Exception as exc:
                    # a reload cut by its bound (the server froze meanwhile) is run again
                    # at the next heartbeat or notification: a change is never skipped
                    if callback not in self._failed:
                        logger.warning("refreshing from the state database failed: %s", exc)
                    self._failed.add(callback)
                else:
                    self._failed.discard(callback)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True) as conn:
                    with WATCHDOG.bound(conn, "LISTEN", HEARTBEAT_TIMEOUT_S):
                        conn.execute(f"LISTEN {CHANNEL}")
                    if failures:
                        logger.warning("state database reachable again: reloading")
                    failures = 0
                    self._fire(None)  # anything may have changed while we were not listening
                    self.listening.set()
                    heard = time.monotonic()
                    while not self._stop.is_set():
                        # wake at the first notification, then take what else has already
                        # arrived (one transaction notifies once per table it wrote)
                        tables = {n.payload for n in conn.notifies(timeout=POLL_S, stop_after=1)}
                        if tables:
                            tables |= {n.payload for n in conn.notifies(timeout=DRAIN_S)}
                            self._fire(tables)
                            heard = time.monotonic()
                        elif time.monotonic() - heard >= HEARTBEAT_S:
                            with WATCHDOG.bound(
                                conn, "the notification listener's heartbeat", HEARTBEAT_TIMEOUT_S
                            ):
                                conn.execute("SELECT 1")
                            heard = time.monotonic()
                            if self._failed:
                                self._fire(set())  # the reloads that failed, again
            except psycopg.Error as exc:
                self.listening.clear()
                if not failures:
                    logger.warning(
                        "state database notifications interrupted (%s); serving from memory "
                        "and reconnecting",
                        type(exc).__name__,
                    )
                self._stop.wait(RETRY_S[min(failures, len(RETRY_S) - 1)])
                failures += 1
        self.listening.clear()
