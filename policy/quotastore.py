"""Quota counters at rest: one SQLite table, written behind the hot path and read at start.

``QuotaStore`` never runs on the event loop: ``Quotas.flush`` calls ``save`` from the
gateway's flush thread (and at shutdown), ``load`` runs once at start. The in-memory
counters are the truth while the process runs, so ``save`` overwrites rows.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

TABLE = "policy_quota_counters"

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    tenant       TEXT    NOT NULL,
    scope        TEXT    NOT NULL CHECK (scope IN ('user', 'department', 'tenant')),
    key          TEXT    NOT NULL,  -- subject, department name, or '' for the tenant
    metric       TEXT    NOT NULL,  -- requests_per_minute | tokens_per_day | tokens_per_month
    window_start INTEGER NOT NULL,  -- epoch seconds, UTC, start of the fixed window
    value        INTEGER NOT NULL,
    estimated    INTEGER NOT NULL DEFAULT 0,  -- part of value estimated from text length
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant, scope, key, metric)
) WITHOUT ROWID
"""


@dataclass(frozen=True, slots=True)
class CounterRow:
    tenant: str
    scope: str
    key: str
    metric: str
    window_start: int
    value: int
    estimated: int = 0


class QuotaStore:
    """The quota table on ``conn``; calls are serialized, so one connection may serve a
    flush thread and the start-up load (open it with ``check_same_thread=False``)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        with self._lock, conn:
            conn.execute(SCHEMA)

    @classmethod
    def open(cls, path: str | Path) -> QuotaStore:
        """A store on its own connection to ``path`` (WAL, usable from any thread)."""
        conn = sqlite3.connect(path, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return cls(conn)

    def load(self) -> list[CounterRow]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT tenant, scope, key, metric, window_start, value, estimated FROM {TABLE}"  # noqa: S608
            ).fetchall()
        return [CounterRow(*row) for row in rows]

    def save(self, rows: Iterable[CounterRow], now: float) -> int:
        """Upsert ``rows`` in one transaction; the number written."""
        batch = [
            (r.tenant, r.scope, r.key, r.metric, r.window_start, r.value, r.estimated, int(now))
            for r in rows
        ]
        if not batch:
            return 0
        with self._lock, self._conn:
            self._conn.executemany(
                f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?) "  # noqa: S608
                "ON CONFLICT (tenant, scope, key, metric) DO UPDATE SET "
                "window_start = excluded.window_start, value = excluded.value, "
                "estimated = excluded.estimated, updated_at = excluded.updated_at",
                batch,
            )
        return len(batch)

    def add(self, rows: Iterable[CounterRow], now: float) -> list[CounterRow]:
        """Add ``rows``' values to the stored counters (a counter of an older window
        starts again from the row's), in one transaction; the totals after it. For
        processes that count the same quotas side by side (``proxy.workers``), where
        ``save``'s overwrite would lose the others' counts."""
        batch = [
            (r.tenant, r.scope, r.key, r.metric, r.window_start, r.value, r.estimated, int(now))
            for r in rows
        ]
        totals: list[CounterRow] = []
        if not batch:
            return totals
        with self._lock, self._conn:
            for params in batch:
                row = self._conn.execute(
                    f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?) "  # noqa: S608
                    "ON CONFLICT (tenant, scope, key, metric) DO UPDATE SET "
                    "value = CASE WHEN window_start = excluded.window_start "
                    "  THEN value + excluded.value "
                    "  WHEN window_start < excluded.window_start THEN excluded.value "
                    "  ELSE value END, "
                    "estimated = CASE WHEN window_start = excluded.window_start "
                    "  THEN estimated + excluded.estimated "
                    "  WHEN window_start < excluded.window_start THEN excluded.estimated "
                    "  ELSE estimated END, "
                    "window_start = MAX(window_start, excluded.window_start), "
                    "updated_at = excluded.updated_at "
                    "RETURNING tenant, scope, key, metric, window_start, value, estimated",
                    params,
                ).fetchone()
                totals.append(CounterRow(*row))
        return totals

    def changed_since(self, since: float) -> list[CounterRow]:
        """Rows written at or after ``since`` (epoch seconds), by any process."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT tenant, scope, key, metric, window_start, value, estimated FROM {TABLE}"  # noqa: S608
                " WHERE updated_at >= ?",
                (int(since),),
            ).fetchall()
        return [CounterRow(*row) for row in rows]

    def purge(self, before: float) -> int:
        """Delete rows not updated since ``before`` (their windows are long over)."""
        with self._lock, self._conn:
            cur = self._conn.execute(
                f"DELETE FROM {TABLE} WHERE updated_at < ?",  # noqa: S608
                (int(before),),
            )
        return cur.rowcount

    def close(self) -> None:
        with self._lock:
            self._conn.close()
