"""Read-only SQLite connections to the audit and state databases.

Both are opened with ``mode=ro`` URIs: the console cannot write either file, whatever
a query says. SQLite connections are per thread here, so a worker thread (verify, export,
counting) opens its own with the same function.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


class ConsoleDataError(Exception):
    """A database the console needs cannot be read; the message says what to do."""


def open_readonly(path: Path, what: str) -> sqlite3.Connection:
    """``path`` opened read-only (``what`` names it in errors: "audit", "state")."""
    if not path.is_file():
        raise ConsoleDataError(
            f"there is no {what} database at {path}: pass the path the gateway uses "
            f"({what}.path in its config)"
        )
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA query_only=1")
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.Error as exc:
        raise ConsoleDataError(
            f"cannot read the {what} database {path}: {exc}; check that it is readable by you"
        ) from exc
    return conn
