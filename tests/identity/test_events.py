"""Anonymous failures are throttled per source without losing the count (issue 19, 7).

Before, every bad-credential CONNECT and every forged portal callback wrote one audit
record and one syslog message: a way from outside to fill the audit disk.
"""

from __future__ import annotations

import pytest

from warden.identity.events import AnonymousEventThrottle, AuthEvent, event_source


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rejected(addr: str, reason: str = "bad credential") -> AuthEvent:
    return AuthEvent("credential.rejected", client_addr=addr, reason=reason, details={"host": "h"})


# name -> (events as (seconds from start, address)), records expected at once
FLOODS: dict[str, tuple[list[tuple[float, str]], int]] = {
    "one source, 10,000 in a minute": ([(i * 0.005, "192.0.2.1") for i in range(10_000)], 1),
    "one source, 3 minutes": ([(i * 0.1, "192.0.2.1") for i in range(1800)], 3),
    "one ipv6 /64, many addresses": ([(0.0, f"2001:db8::{i:x}") for i in range(1, 5000)], 1),
    "ten sources": ([(0.0, f"192.0.2.{i % 10}") for i in range(5000)], 10),
    "more sources than tracked": ([(0.0, f"10.0.{i // 250}.{i % 250}") for i in range(600)], 101),
}


@pytest.mark.parametrize("events,immediate", FLOODS.values(), ids=FLOODS.keys())
def test_a_flood_becomes_a_bounded_number_of_records_with_the_whole_count(
    events: list[tuple[float, str]], immediate: int
) -> None:
    clock = Clock()
    throttle = AnonymousEventThrottle(clock, window_s=60, max_keys=100)
    start = clock.now
    recorded: list[AuthEvent] = []
    for at, addr in events:
        clock.now = start + at
        if throttle.admit(rejected(addr)):
            recorded.append(rejected(addr))
        recorded += throttle.due()
    assert len(recorded) - sum(1 for r in recorded if "repeats" in r.details) == immediate
    recorded += throttle.due(force=True)
    counted = sum(int(r.details.get("repeats", 0)) for r in recorded)
    full = sum(1 for r in recorded if "repeats" not in r.details)
    assert full + counted == len(events)  # nothing lost
    assert len(recorded) <= 2 * immediate + 2


def test_a_summary_names_the_source_the_window_and_the_reasons() -> None:
    clock = Clock()
    throttle = AnonymousEventThrottle(clock, window_s=60)
    assert throttle.admit(rejected("192.0.2.1", "first"))
    for n in range(20):
        assert not throttle.admit(rejected("192.0.2.1", f"r{n % 7}"))
    assert throttle.due() == []  # the window is still open
    clock.now += 60
    (summary,) = throttle.due()
    assert summary.name == "credential.rejected" and summary.reason == "repeated"
    assert summary.details["repeats"] == 20 and summary.details["window_s"] == 60
    assert summary.details["source"] == "192.0.2.1" and summary.client_addr == "192.0.2.1"
    assert summary.details["reasons"] == "r0 | r1 | r2 | r3 | r4"  # at most five named
    assert summary.details["host"] == "h"
    assert throttle.admit(rejected("192.0.2.1"))  # a new window records in full again


@pytest.mark.parametrize(
    "event",
    [
        AuthEvent("login.failed", "acme", "https://idp", "alice", reason="deprovisioned"),
        AuthEvent("login.ok", "acme", "https://idp", "alice", client_addr="192.0.2.1"),
        AuthEvent("credential.revoked", "acme", "https://idp", "bob", client_addr="192.0.2.1"),
        AuthEvent("logout", client_addr="192.0.2.1"),
    ],
    ids=["failure with a subject", "login ok", "revocation", "logout"],
)
def test_events_about_a_person_are_never_throttled(event: AuthEvent) -> None:
    throttle = AnonymousEventThrottle(Clock())
    assert all(throttle.admit(event) for _ in range(100))


@pytest.mark.parametrize(
    "addr,source",
    [
        ("192.0.2.1", "192.0.2.1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("2001:db8:0:1::99", "2001:db8:0:1::/64"),
        (None, "-"),
        ("x" * 500, "x" * 64),
    ],
)
def test_event_source(addr: str | None, source: str) -> None:
    assert event_source(addr) == source
