"""The state database of a fleet: how fast a revocation reaches another instance, and what
a session write costs on SQLite and on PostgreSQL.

Run: ``.venv/bin/python bench/state.py [--rounds 100]`` (needs Debian's ``postgresql``;
it runs its own server with tests/postgres.py, as the tests do).

Two instances (A, B), each a ``SessionStore`` with its own pool and change listener on one
PostgreSQL. For each round A creates a session and a device credential, waits until B
resolves it, then revokes the person and waits until B refuses it; printed: p50/p99 of
the time from A's commit returning to B's in-memory answer changing (LISTEN/NOTIFY and a
reload of B's sessions). And the p50 of ``create_session`` (one transaction) on SQLite
(WAL, a local file) and on PostgreSQL (loopback, fsync off as in the tests).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.postgres import PostgresServer
from warden.config import parse_config
from warden.gateway.state.postgres import DSN_ENV
from warden.gateway.state.store import SESSION_TABLES, migrate_state, open_database, open_state
from warden.identity.sessions import SessionStore, UserIdentity


def _wait(check: Callable[[], object], event: threading.Event, limit: float = 10.0) -> float:
    start = time.perf_counter()
    while True:
        event.clear()
        if check():
            return time.perf_counter() - start
        if not event.wait(limit):
            raise TimeoutError("no change reached B")


def _gone(found: Callable[[], object]) -> Callable[[], bool]:
    return lambda: found() is None


def _pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    server = PostgresServer()
    server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = {DSN_ENV: server.create_database()}
            config = parse_config({"state": {"backend": "postgresql"}}, "bench", Path(tmp), {})
            migrate_state(config, env)
            a_db, b_db = open_database(config, env), open_database(config, env)
            a, b = SessionStore(a_db.conn), SessionStore(b_db.conn)
            changed = threading.Event()

            def reload() -> None:
                b.reload()
                changed.set()

            listener = b_db.watch([(SESSION_TABLES, reload)])
            seen, cut = [], []
            for i in range(args.rounds):
                user = UserIdentity("acme", "https://idp", f"u{i}")
                issued = a.create_session(user, "device", 3600)
                device = a.issue_device_credential(issued.session)
                known = functools.partial(b.session_by_device_credential, device)
                seen.append(_wait(known, changed))
                a.revoke_user("acme", None, f"u{i}", "bench")
                cut.append(_wait(_gone(known), changed))
            listener.stop()
            writes_pg = []
            for i in range(args.rounds):
                t0 = time.perf_counter()
                a.create_session(UserIdentity("acme", "https://idp", f"w{i}"), "oidc", 3600)
                writes_pg.append(time.perf_counter() - t0)
            lite = SessionStore(open_state(Path(tmp) / "state.db"))
            writes_lite = []
            for i in range(args.rounds):
                t0 = time.perf_counter()
                lite.create_session(UserIdentity("acme", "https://idp", f"w{i}"), "oidc", 3600)
                writes_lite.append(time.perf_counter() - t0)
            a_db.close()
            b_db.close()
    finally:
        server.remove()
    ms = 1000
    print(f"rounds: {args.rounds}")
    print(
        f"sign-in on A -> resolvable on B: p50 {statistics.median(seen) * ms:.1f} ms,"
        f" p99 {_pct(seen, 0.99) * ms:.1f} ms"
    )
    print(
        f"revocation on A -> refused on B: p50 {statistics.median(cut) * ms:.1f} ms,"
        f" p99 {_pct(cut, 0.99) * ms:.1f} ms"
    )
    print(
        f"create_session p50: SQLite {statistics.median(writes_lite) * ms:.2f} ms,"
        f" PostgreSQL {statistics.median(writes_pg) * ms:.2f} ms"
    )


if __name__ == "__main__":
    main()
