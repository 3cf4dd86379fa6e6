"""The worker pool: scans off the event loop, busy, timeout, crash and recovery."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.dlp.jobs import crash_or_scan
from warden.dlp import DlpBusy, DlpError, DlpProfile, DlpRunner, DlpTimeout
from warden.providers import TextSegment

pytestmark = pytest.mark.timeout(120)

PROFILES = {
    "p": DlpProfile.model_validate({"entities": {"EMAIL_ADDRESS": "pseudonymize"}}),
    "h": DlpProfile.model_validate({"entities": {"EMAIL_ADDRESS": "hash"}}),
}
KEYS = {"h": b"k" * 32}


def segs(text: str) -> list[TextSegment]:
    return [TextSegment(("messages", 0, "content"), "user", text)]


@pytest.fixture
async def runner() -> AsyncIterator[DlpRunner]:
    r = DlpRunner(
        PROFILES, hash_keys=KEYS, workers=1, max_in_flight=2, timeout=3, job=crash_or_scan
    )
    await r.start()
    yield r
    await r.close()


async def test_scan_in_a_worker(runner: DlpRunner) -> None:
    result = await runner.scan(segs("write to a@x.io"), "p")
    assert result.replacements == {("messages", 0, "content"): "write to <EMAIL_ADDRESS_1>"}
    assert result.vault is not None and result.vault.original("<EMAIL_ADDRESS_1>") == "a@x.io"
    hashed = await runner.scan(segs("a@x.io"), "h")
    assert hashed.replacements[("messages", 0, "content")].startswith("<EMAIL_ADDRESS:hmac:")
    assert (await runner.scan([], "p")).replacements == {}
    with pytest.raises(KeyError):
        await runner.scan(segs("x"), "nope")


async def test_busy_fails_fast(runner: DlpRunner) -> None:
    slow = [asyncio.create_task(runner.scan(segs("sleep 0.5"), "p", who)) for who in "ab"]
    await asyncio.sleep(0.05)
    with pytest.raises(DlpBusy):
        await runner.scan(segs("a@x.io"), "p")
    await asyncio.gather(*slow)
    assert runner.in_flight == 0
    assert (await runner.scan(segs("a@x.io"), "p")).changed


async def test_timeout_then_recovery(runner: DlpRunner) -> None:
    with pytest.raises(DlpTimeout):
        await runner.scan(segs("sleep 30"), "p")
    # A new pool takes over; its worker imports Presidio first, which on a loaded 2-core
    # CI takes longer than the 3 s scan timeout this fixture needs to provoke a hang: wait
    # for the worker (start() has no deadline), then the scan's own 3 s are for the scan.
    await runner.start()
    result = await runner.scan(segs("a@x.io"), "p")
    assert result.changed


async def test_worker_crash_then_recovery(runner: DlpRunner) -> None:
    with pytest.raises(DlpError) as info:
        await runner.scan(segs("crash"), "p")
    assert type(info.value) is DlpError and "died" in str(info.value)
    assert "restarts" in info.value.diagnostics()
    await runner.start()  # the new worker's import, outside the 3 s (see above)
    assert (await runner.scan(segs("a@x.io"), "p")).changed


async def test_engine_error_names_no_text(runner: DlpRunner) -> None:
    with pytest.raises(DlpError) as info:
        await runner.scan(segs("raise"), "p")
    assert "secret" not in str(info.value) and "RuntimeError" in str(info.value)
    assert (await runner.scan(segs("a@x.io"), "p")).changed


def test_hash_profiles_need_a_key() -> None:
    with pytest.raises(ValueError, match="have no hash key"):
        DlpRunner(PROFILES)
