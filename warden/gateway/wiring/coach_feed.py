"""Coaching acknowledgements shared by a host's processes (``proxy.workers`` above 1) and,
on ``state.backend: postgresql``, by every instance of the fleet.

A person acknowledges a coaching page on the portal, which the control plane's process
serves; the request that follows is decided by a proxy worker, perhaps another
instance's. Each acknowledgement is therefore also written to a small table of the state
database. On SQLite every worker reads the rows it has not seen every 200 ms (with the
sessions' check), so the next request passes. On PostgreSQL each commit notifies every
process of every instance (the ``state.notify`` trigger), whose listener thread reads the
rows still in force; the proxy never reads the table on a request. A process that starts
(or restarts) reads every row still in force, so an acknowledgement outlives a worker's
restart too. Rows are removed once they expire.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from warden.gateway.state import sqlite as sqlite_state
from warden.policy import CoachAcknowledgements, PolicyDecision, PrincipalFacts

# The table's steps (warden/gateway/state/store.py applies them with every other domain's).
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS coach_acknowledgements (
        id {rowid},
        tenant TEXT NOT NULL,
        subject TEXT NOT NULL,
        rule_id TEXT NOT NULL,
        message TEXT NOT NULL,
        period_s INTEGER NOT NULL,
        until {float} NOT NULL
    )""",
)
MIGRATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("coaching acknowledgements shared by a host's workers", SCHEMA),
)


TABLE = "coach_acknowledgements"


class CoachFeed:
    """``conn``: the state database (SQLite's file, or PostgreSQL's pool adapter).

    ``every_row``: read every row in force at each look, not only those after the last
    id seen (PostgreSQL: ids are taken in one order and may commit in another, so "after
    the last id" could skip one; taking an acknowledgement twice changes nothing)."""

    def __init__(
        self, conn: sqlite3.Connection, acks: CoachAcknowledgements, *, every_row: bool = False
    ) -> None:
        self._conn = conn
        self._acks = acks
        self._last = 0
        self._every_row = every_row

    @classmethod
    def on_file(cls, state_db: Path, acks: CoachAcknowledgements) -> CoachFeed:
        """On the host's SQLite file, with a connection of its own."""
        return cls(sqlite_state.connect(state_db), acks)  # its table: gateway/state/store.py

    def publish(
        self, principal: PrincipalFacts, decision: PolicyDecision, until: float, now: float
    ) -> None:
        """After the control plane recorded an acknowledgement in its own memory."""
        if principal.tenant is None or principal.subject is None:
            return
        self._conn.execute("DELETE FROM coach_acknowledgements WHERE until <= ?", (now,))
        self._conn.execute(
            "INSERT INTO coach_acknowledgements"
            " (tenant, subject, rule_id, message, period_s, until) VALUES (?,?,?,?,?,?)",
            (
                principal.tenant,
                principal.subject,
                decision.rule_id,
                decision.coach_message or "",
                decision.coach_period_s or 0,
                until,
            ),
        )

    def catch_up(self, now: float) -> int:
        """Take the acknowledgements written since the last look; how many."""
        rows = self._conn.execute(
            "SELECT id, tenant, subject, rule_id, message, period_s, until"
            " FROM coach_acknowledgements WHERE id > ? AND until > ? ORDER BY id",
            (-1 if self._every_row else self._last, now),
        ).fetchall()
        for ident, tenant, subject, rule_id, message, _period, until in rows:
            self._last = max(self._last, int(ident))
            decision = PolicyDecision(
                action="coach",
                rule_id=str(rule_id),
                policy_version="",
                reason="",
                coach_message=str(message),
                # what is left of the period, so it ends when it ends on the portal
                coach_period_s=max(1, int(float(until) - now)),
            )
            self._acks.acknowledge(PrincipalFacts(str(tenant), str(subject)), decision, now)
        return len(rows)

    def take_in(self) -> None:
        """The listener's callback (PostgreSQL): take in what is in force now."""
        self.catch_up(time.time())

    def close(self) -> None:
        if not self._every_row:  # PostgreSQL's pool belongs to the state database
            self._conn.close()
