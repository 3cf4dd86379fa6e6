"""The revocation push (warden/gateway/push.py) over a real Unix socket: both ends in one
event loop, the workers' "apply" a counter (the e2e tests in tests/e2e/test_push.py run
it between real processes)."""

from __future__ import annotations

import asyncio
import contextlib
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from warden.gateway.push import MAX_LINE, RevocationPush, follow_pushes, socket_path


@contextlib.asynccontextmanager
async def following(
    path: Path, worker_id: int, apply: Callable[[], Awaitable[bool]]
) -> AsyncIterator[None]:
    task = asyncio.create_task(follow_pushes(path, worker_id, apply))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def connected(push: RevocationPush, ids: set[int]) -> None:
    while set(push.connected()) != ids:  # noqa: ASYNC110 - the hellos raise no event
        await asyncio.sleep(0.01)


def counter() -> tuple[list[int], Callable[[], Awaitable[bool]]]:
    applied = [0]

    async def apply() -> bool:
        applied[0] += 1
        return True

    return applied, apply


@pytest.fixture
async def push(tmp_path: Path) -> AsyncIterator[RevocationPush]:
    live: list[int] = [1, 2]
    p = RevocationPush(socket_path(tmp_path), lambda: live, timeout_s=0.5)
    await p.start()
    yield p
    await p.stop()


async def test_the_socket_is_the_gateway_users_only(push: RevocationPush) -> None:
    assert stat.S_IMODE(push.path.stat().st_mode) == 0o600


async def test_every_worker_applies_before_the_push_returns(push: RevocationPush) -> None:
    one, apply_one = counter()
    two, apply_two = counter()
    async with following(push.path, 1, apply_one), following(push.path, 2, apply_two):
        await asyncio.wait_for(connected(push, {1, 2}), 10)
        before = (one[0], two[0])
        assert await push.push() == []
        # each applied once more for this push, before it returned
        assert (one[0], two[0]) == (before[0] + 1, before[1] + 1)
        assert await push.push() == []
        assert (one[0], two[0]) == (before[0] + 2, before[1] + 2)


async def test_a_worker_that_does_not_answer_is_named_and_does_not_hold_the_push(
    push: RevocationPush,
) -> None:
    late: list[int] = []
    push.on_late = late.append
    stuck = asyncio.Event()
    _, apply_one = counter()

    async def apply_stuck() -> bool:
        if stuck.is_set():  # the first apply (on connecting) passes; later ones hang
            await asyncio.Event().wait()
        return True

    async with following(push.path, 1, apply_one), following(push.path, 2, apply_stuck):
        await asyncio.wait_for(connected(push, {1, 2}), 10)
        stuck.set()
        # bounded by timeout_s (0.5 s); wait_for's 10 s only ends a hang
        assert await asyncio.wait_for(push.push(), 10) == [2]
    assert late == [2]


async def test_a_worker_whose_apply_fails_does_not_acknowledge(push: RevocationPush) -> None:
    calls = [0]

    async def failing() -> bool:
        calls[0] += 1
        return calls[0] == 1  # connecting works, the pushed apply fails (database error)

    _, apply_one = counter()
    async with following(push.path, 1, apply_one), following(push.path, 2, failing):
        await asyncio.wait_for(connected(push, {1, 2}), 10)
        assert await asyncio.wait_for(push.push(), 10) == [2]


async def test_a_live_worker_without_a_connection_is_named(push: RevocationPush) -> None:
    _, apply_one = counter()
    async with following(push.path, 1, apply_one):
        await asyncio.wait_for(connected(push, {1}), 10)
        assert await push.push() == [2]


@pytest.mark.parametrize(
    "hostile",
    [b"hello\n", b"hello x\n", b"ack 1\n", b"hello 1 2\n", b"x" * (MAX_LINE * 4) + b"\n"],
)
async def test_a_bad_first_line_ends_the_connection(push: RevocationPush, hostile: bytes) -> None:
    reader, writer = await asyncio.open_unix_connection(str(push.path))
    writer.write(hostile)
    assert await asyncio.wait_for(reader.read(), 10) == b""  # closed by the control plane
    writer.close()
    assert push.connected() == []


async def test_a_forged_acknowledgement_line_drops_the_worker(push: RevocationPush) -> None:
    reader, writer = await asyncio.open_unix_connection(str(push.path))
    writer.write(b"hello 1\n")
    await asyncio.wait_for(connected(push, {1}), 10)
    writer.write(b"ack one\n")
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()
    await asyncio.wait_for(connected(push, set()), 10)


async def test_a_worker_reconnects_after_the_control_plane_restarts(tmp_path: Path) -> None:
    path = socket_path(tmp_path)
    first = RevocationPush(path, lambda: [1], timeout_s=0.5)
    await first.start()
    applied, apply = counter()
    async with following(path, 1, apply):
        await asyncio.wait_for(connected(first, {1}), 10)
        await first.stop()
        second = RevocationPush(path, lambda: [1], timeout_s=0.5)
        await second.start()
        try:
            await asyncio.wait_for(connected(second, {1}), 10)
            before = applied[0]
            assert await second.push() == []
            assert applied[0] == before + 1
        finally:
            await second.stop()


async def test_a_revocation_no_request_waits_for_is_pushed_from_any_thread(
    push: RevocationPush, tmp_path: Path
) -> None:
    """An IdP re-check or SCIM's retried deprovisioning revokes in the control plane with
    no request around it (no middleware): the store's hook pushes it all the same."""
    from warden.gateway.state.sqlite import connect
    from warden.gateway.state.store import migrate_sqlite
    from warden.identity.sessions import SessionStore, UserIdentity

    conn = connect(tmp_path / "state.db")
    migrate_sqlite(conn, tmp_path / "state.db")
    sessions = SessionStore(conn)
    sessions.on_revoked = push.soon
    issued = sessions.create_session(UserIdentity("acme", "https://idp", "u-1"), "device", 3600)
    applied = asyncio.Event()

    async def apply() -> bool:
        applied.set()
        return True

    async with following(push.path, 1, apply):
        await asyncio.wait_for(connected(push, {1}), 10)
        await asyncio.wait_for(applied.wait(), 10)  # the hello's catch-up
        applied.clear()
        # off the loop, as the re-check's and SCIM's threads revoke
        await asyncio.to_thread(sessions.revoke_sessions, [issued.session.id], "IdP re-check")
        # bound under test: well within the push bound (1 s) on a loaded machine
        await asyncio.wait_for(applied.wait(), 1.0)
    conn.close()
