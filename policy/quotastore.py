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

TABLE = "policy_quota_counters"

# The table, step by step (see warden.gateway.state.migrate); ``{bigint}`` and ``{without_rowid}``
# are the backend's. Released steps are never edited.
MIGRATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "quota counters",
        (
            f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    tenant       TEXT    NOT NULL,
    scope        TEXT    NOT NULL CHECK (scope IN ('user', 'department', 'tenant')),
    key          TEXT    NOT NULL,  -- subject, department name, or '' for the tenant
    metric       TEXT    NOT NULL,  -- requests_per_minute | tokens_per_day | tokens_per_month
    window_start {{bigint}} NOT NULL,  -- epoch seconds, UTC, start of the fixed window
    value        {{bigint}} NOT NULL,
    estimated    {{bigint}} NOT NULL DEFAULT 0,  -- part of value estimated from text length
    updated_at   {{bigint}} NOT NULL,
    PRIMARY KEY (tenant, scope, key, metric)
) {{without_rowid}}""",
        ),
    ),
)


def _merge(column: str) -> str:
    return (
        f"{column} = CASE WHEN c.window_start = excluded.window_start"
        f" THEN c.{column} + excluded.{column}"
        f" WHEN c.window_start < excluded.window_start THEN excluded.{column}"
        f" ELSE c.{column} END"
    )


_ADD = (
    f"INSERT INTO {TABLE} AS c VALUES (?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608 - constants
    " ON CONFLICT (tenant, scope, key, metric) DO UPDATE SET "
    + ", ".join((_merge("value"), _merge("estimated")))
    + ", window_start = CASE WHEN c.window_start < excluded.window_start"
    " THEN excluded.window_start ELSE c.window_start END, updated_at = excluded.updated_at"
    " RETURNING value"
)


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

    def add(self, rows: Iterable[CounterRow], now: float) -> list[int]:
        """A fleet's flush: add each row's ``value``/``estimated`` (this instance's increments
        since its last flush) to the shared counter, in one transaction; the counters' new
        totals, in order. A row of a newer window starts the counter again; one of an older
        window (a lagging clock) changes nothing."""
        batch = [
            (r.tenant, r.scope, r.key, r.metric, r.window_start, r.value, r.estimated, int(now))
            for r in rows
        ]
        if not batch:
            return []
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                totals = [int(self._conn.execute(_ADD, row).fetchone()[0]) for row in batch]
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        return totals

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
