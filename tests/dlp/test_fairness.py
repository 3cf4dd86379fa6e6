"""DLP fairness (issue 19, finding 8): one person's load cannot starve everyone else's.

Before, four concurrent ~1 MB prompts of one person made 36 of 53 of another person's
requests fail with 503 DlpBusy: one global cap and one first-come queue.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from tests.dlp.jobs import crash_or_scan
from warden.dlp import DlpBusy, DlpProfile, DlpRunner
from warden.dlp.fairness import FairSlots
from warden.providers import TextSegment

pytestmark = pytest.mark.timeout(300)

PROFILES = {"p": DlpProfile.model_validate({"entities": {"EMAIL_ADDRESS": "pseudonymize"}})}


def segs(text: str) -> list[TextSegment]:
    return [TextSegment(("messages", 0, "content"), "user", text)]


# -- turns, without processes ----------------------------------------------------------------


async def _take_turns(
    slots: FairSlots, plan: list[str], cost: dict[str, int] | None = None
) -> list[str]:
    """Queue scans of ``plan``'s principals behind one running scan; the order they run."""
    order: list[str] = []
    await slots.acquire("first")

    async def one(who: str) -> None:
        await slots.acquire(who, (cost or {}).get(who, 1))
        order.append(who)
        await asyncio.sleep(0)
        slots.release(who)

    tasks = []
    for who in plan:  # queued in plan order
        tasks.append(asyncio.create_task(one(who)))
        await asyncio.sleep(0)
    await asyncio.sleep(0)
    slots.release("first")
    await asyncio.gather(*tasks)
    return order


async def test_waiting_scans_run_round_robin_between_people() -> None:
    order = await _take_turns(FairSlots(1, 1), ["flood"] * 5 + ["alice", "bob"])
    assert order[:3] == ["flood", "alice", "bob"]  # not behind the whole flood


async def test_turns_go_by_bytes_not_by_count() -> None:
    """Round-robin by scans gave a person sending 1 MB prompts every other turn against
    someone sending 1 KB ones (flood, alice, flood, alice, ...): a thousand times the
    worker time. By bytes, alice's small scans all go before the flood's second."""
    plan = ["flood"] * 3 + ["alice"] * 3
    order = await _take_turns(FairSlots(1, 1), plan, {"flood": 1_000_000, "alice": 1_000})
    assert order == ["flood", "alice", "alice", "alice", "flood", "flood"]


async def test_equal_costs_are_plain_round_robin() -> None:
    order = await _take_turns(FairSlots(1, 1), ["a", "a", "a", "b", "b", "c"])
    assert order == ["a", "b", "c", "a", "b", "a"]


async def test_an_idle_person_saves_up_no_credit() -> None:
    """Someone who scanned nothing while the flood ran alone starts level with it, not
    ahead by everything they did not send (which would shut the flood out until the
    newcomer had caught up with all of its bytes): the turns interleave at once."""
    slots = FairSlots(1, 1)
    for _ in range(100):  # the flood alone on the worker
        await slots.acquire("flood", 1000)
        slots.release("flood")
    plan = ["flood", "alice"] * 3
    order = await _take_turns(slots, plan, {"flood": 1000, "alice": 1000})
    assert order == ["alice", "flood"] * 3


async def test_one_person_runs_on_all_workers_but_one() -> None:
    slots = FairSlots(3, 2)
    await slots.acquire("flood")
    await slots.acquire("flood")
    waiting = asyncio.create_task(slots.acquire("flood"))
    await asyncio.sleep(0)
    assert not waiting.done() and slots.running == 2
    await asyncio.wait_for(slots.acquire("alice"), 1)  # the worker kept free
    assert slots.running == 3
    waiting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiting
    slots.release("alice")
    assert slots.running == 2 and slots.running_for("flood") == 2


async def test_a_cancelled_waiter_gives_its_turn_on() -> None:
    slots = FairSlots(1, 1)
    await slots.acquire("a")
    gone = asyncio.create_task(slots.acquire("b"))
    later = asyncio.create_task(slots.acquire("c"))
    await asyncio.sleep(0)
    gone.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await gone
    slots.release("a")
    await asyncio.wait_for(later, 1)
    assert slots.running_for("c") == 1 and slots.running_for("b") == 0


# -- the real worker pool ----------------------------------------------------------------------


@pytest.fixture
async def runner() -> AsyncIterator[DlpRunner]:
    # Two workers, the default caps (8 in flight, 4 per person). The scan timeout is
    # generous (a busy 2-core CI); the fairness under test does not depend on it.
    r = DlpRunner(PROFILES, workers=2, timeout=30, job=crash_or_scan)
    await r.start()
    yield r
    await r.close()


async def test_a_flooding_person_does_not_starve_another(runner: DlpRunner) -> None:
    refused = 0
    stop = asyncio.Event()
    flooding = asyncio.Event()

    async def flood() -> None:
        nonlocal refused
        while not stop.is_set():
            try:
                flooding.set()
                await runner.scan(segs("sleep 0.5"), "p", "mallory")
            except DlpBusy:
                refused += 1
                await asyncio.sleep(0.01)

    # Eight at once: as many as the whole pool used to take in flight.
    floods = [asyncio.create_task(flood()) for _ in range(8)]
    try:
        await asyncio.wait_for(flooding.wait(), 60)  # each flood task made its first call
        assert runner.in_flight_of("mallory") == 4  # the flood holds all it may
        for n in range(10):
            result = await runner.scan(segs(f"mail a{n}@x.io"), "p", "alice")
            assert result.changed
            assert runner.in_flight_of("mallory") <= 4
            assert runner.running_for("mallory") <= 1  # one worker stays free
    finally:
        stop.set()
        await asyncio.gather(*floods)
    assert refused > 0  # the flood was refused, to mallory alone
