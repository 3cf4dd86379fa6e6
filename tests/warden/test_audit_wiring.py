"""AuditTrail: auth and admin events with values a client, an IdP or a reviewer chose
still reach the log."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from warden.config.audit import AuditSettings
from warden.gateway.wiring.audit import AuditTrail
from warden.identity.events import AuthEvent


async def test_events_with_hostile_values_are_recorded(tmp_path: Path) -> None:
    trail = AuditTrail(AuditSettings(), tmp_path)
    await trail.start()
    try:
        # Before, AuditRecord refused these and the exception went to whoever emitted the
        # event: the identify stage, a portal request.
        trail.emit(
            AuthEvent(
                "credential.rejected",
                email="mallory@example.com\r\nX-Injected: 1",
                client_addr="127.0.0.1",
                reason="bad \x1b[31m credential " + "r" * 300,
                details={"host": "evil\x01.example", "attempt": 3},
            )
        )
        # SCIM userNames and a reviewer's subject text reach admin events the same way.
        trail.admin("session.revoked", "acme", {"subject": "bob\nroot", "revoked": 1})
    finally:
        await trail.stop()  # the writer commits what was submitted before it exits
    with sqlite3.connect(tmp_path / "audit.db") as conn:
        bodies = [json.loads(b) for (b,) in conn.execute("SELECT body FROM records")]
    (event,) = [b for b in bodies if b.get("event") == "credential.rejected"]
    assert event["outcome"] == "failed"
    assert event["principal"]["email"] == "mallory@example.com\ufffd\ufffdX-Injected: 1"
    assert event["details"]["host"] == "evil\ufffd.example" and event["details"]["attempt"] == 3
    assert len(event["details"]["reason"]) == 200 and "\x1b" not in event["details"]["reason"]
    (admin,) = [b for b in bodies if b.get("event") == "session.revoked"]
    assert admin["tenant"] == "acme" and admin["details"] == {
        "subject": "bob\ufffdroot",
        "revoked": 1,
    }


async def test_an_anonymous_flood_is_counted_not_recorded_one_by_one(tmp_path: Path) -> None:
    """Issue 19 (7): 3,000 bad-credential CONNECTs from one address and 3 from another,
    plus one signed-in person's failure: a handful of records, every one counted."""
    trail = AuditTrail(AuditSettings(), tmp_path)
    await trail.start()
    try:
        for n in range(3000):
            trail.emit(
                AuthEvent("credential.rejected", client_addr="192.0.2.66", reason=f"bad {n % 3}")
            )
        for _ in range(3):
            trail.emit(AuthEvent("credential.rejected", client_addr="198.51.100.7", reason="x"))
        trail.emit(
            AuthEvent("login.failed", "acme", "https://idp", "alice", reason="deprovisioned")
        )
    finally:
        await trail.stop()  # the open windows' counts are recorded at shutdown
    with sqlite3.connect(tmp_path / "audit.db") as conn:
        bodies = [json.loads(b) for (b,) in conn.execute("SELECT body FROM records")]
    rejected = [b for b in bodies if b.get("event") == "credential.rejected"]
    assert len(rejected) == 4  # per source: the first in full, then one summary
    by_source: dict[str, int] = {}
    for b in rejected:
        addr = b["principal"]["client_addr"]
        by_source[addr] = by_source.get(addr, 0) + int(b["details"].get("repeats", 1))
    assert by_source == {"192.0.2.66": 3000, "198.51.100.7": 3}
    summary = next(b for b in rejected if b["details"].get("repeats") == 2999)
    assert (
        summary["outcome"] == "failed" and summary["details"]["reasons"] == "bad 1 | bad 2 | bad 0"
    )
    assert [b["event"] for b in bodies].count("login.failed") == 1
