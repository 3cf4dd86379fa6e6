"""The one way the embedded state database (SQLite) is opened.

WAL so the proxy's readers never wait on a writer; ``synchronous=NORMAL`` (durable at
each WAL checkpoint, never corrupt); foreign keys on; a busy timeout so a second process
(the CLI, another worker) waits for the write lock instead of failing at once. The file
is created 0600 in a 0700 folder: it holds session and token hashes. Connections run in
autocommit mode (``isolation_level=None``); the stores open their own transactions.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from warden.gateway.state.errors import StateError

BUSY_TIMEOUT_MS = 5000  # a CLI write or another worker holds the lock for milliseconds
PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
)


def connect(path: Path) -> sqlite3.Connection:
    """A connection to ``path``, created if missing; usable from any thread (the stores
    serialize their own calls)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in PRAGMAS:
            conn.execute(pragma)
    except (OSError, sqlite3.Error) as exc:
        raise StateError(
            f"cannot open the state database {path}: {exc}",
            fix="check that the state folder exists, is writable by the gateway's user, "
            "and that the disk is not full",
        ) from exc
    return conn
