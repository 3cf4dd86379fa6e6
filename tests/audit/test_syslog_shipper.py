"""SyslogShipper against an in-process octet-counting receiver and a scripted transport:
ordering, overflow to the spool, outages, re-sending what was not acknowledged, restart."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import pytest

from tests.audit.rsyslog import free_port
from warden.audit.spool import Spool
from warden.audit.syslog import ShipperLimits, SyslogShipper
from warden.audit.syslog_transport import StreamTransport

FAST = ShipperLimits(backoff_initial=0.02, backoff_max=0.1, ack_timeout=2.0, idle_interval=0.01)


def alarm(dropped: int) -> bytes:
    return f"ALARM dropped={dropped}".encode()


def msgs(n: int, start: int = 0) -> list[bytes]:
    return [f"<134>1 - h app - flow - m{i:05d}".encode() for i in range(start, start + n)]


async def until(predicate: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


class Receiver:
    """Octet-counted syslog (RFC 6587) on 127.0.0.1, keeping each message it read."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.received: list[bytes] = []
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            while True:
                length = int((await reader.readuntil(b" "))[:-1])
                self.received.append(await reader.readexactly(length))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def drop_connections(self) -> None:
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    async def stop(self) -> None:
        await self.drop_connections()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    peer = Receiver()
    await peer.start()
    yield peer
    await peer.stop()


def shipper_for(port: int, folder: Path, **limits: object) -> SyslogShipper:
    spool = Spool(folder, max_bytes=1 << 20, fsync="never")
    settings = dataclasses.replace(FAST, **limits)  # type: ignore[arg-type]
    return SyslogShipper(StreamTransport("127.0.0.1", port), spool, alarm=alarm, limits=settings)


async def test_direct_delivery_in_order(receiver: Receiver, tmp_path: Path) -> None:
    shipper = shipper_for(receiver.port, tmp_path)
    await shipper.start()
    sent = msgs(500)
    for m in sent:
        shipper.offer(m)
    await shipper.drained(5)
    await until(lambda: len(receiver.received) >= 500)
    assert receiver.received == sent
    assert shipper.stats.spooled == 0 and shipper.stats.acknowledged == 500
    await shipper.stop()


async def test_offer_never_waits_and_overflow_goes_to_spool_in_order(
    receiver: Receiver, tmp_path: Path
) -> None:
    shipper = shipper_for(receiver.port, tmp_path, queue_messages=10)
    sent = msgs(100)
    started = time.perf_counter()
    for m in sent:  # not started yet: nothing drains the queue
        shipper.offer(m)
    assert time.perf_counter() - started < 0.5
    assert shipper.stats.spooled >= 90
    await shipper.start()
    shipper.offer(b"late")
    await shipper.drained(5)
    await until(lambda: len(receiver.received) >= 101)
    assert receiver.received == [*sent, b"late"]
    await shipper.stop()


async def test_closed_connection_is_noticed_and_nothing_lost(
    receiver: Receiver, tmp_path: Path
) -> None:
    shipper = shipper_for(receiver.port, tmp_path)
    await shipper.start()
    first, second = msgs(50), msgs(50, 50)
    for m in first:
        shipper.offer(m)
    await until(lambda: len(receiver.received) == 50)
    await receiver.drop_connections()
    await asyncio.sleep(0.05)
    for m in second:
        shipper.offer(m)
    await shipper.drained(5)
    await until(lambda: len(receiver.received) >= 100)
    assert receiver.received == first + second
    assert receiver.connections == 2
    await shipper.stop()


async def test_down_then_up(tmp_path: Path) -> None:
    port = free_port()
    shipper = shipper_for(port, tmp_path)
    await shipper.start()
    sent = msgs(200)
    for m in sent:
        shipper.offer(m)
    await until(lambda: shipper.stats.spooled == 200)
    assert shipper.stats.last_error and "ConnectionRefused" in shipper.stats.last_error
    peer = Receiver(port)
    await peer.start()
    try:
        await shipper.drained(5)
        await until(lambda: len(peer.received) >= 200)
        assert peer.received == sent
        assert shipper.spool.empty
    finally:
        await shipper.stop()
        await peer.stop()


async def test_stop_keeps_pending_messages_for_the_next_run(tmp_path: Path) -> None:
    port = free_port()
    shipper = shipper_for(port, tmp_path)
    await shipper.start()
    for m in msgs(30):
        shipper.offer(m)
    await shipper.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        shipper.offer(b"too late")

    peer = Receiver(port)
    await peer.start()
    again = shipper_for(port, tmp_path)
    await again.start()
    again.offer(b"next run")
    try:
        await again.drained(5)
        await until(lambda: len(peer.received) >= 31)
        assert peer.received == [*msgs(30), b"next run"]
    finally:
        await again.stop()
        await peer.stop()


class ScriptedTransport:
    """A transport whose acknowledgements and failures the test decides."""

    target = "scripted://collector"

    def __init__(self) -> None:
        self.connections: list[list[bytes]] = []
        self.auto_ack = False
        self.acked_messages = 0
        self.broken = False
        self._ends: list[int] = []
        self._last_ack = 0

    @property
    def connected(self) -> bool:
        return bool(self.connections) and not self.broken

    async def connect(self) -> None:
        self.broken = False
        self.connections.append([])
        self._ends = []
        self._last_ack = 0
        self.acked_messages = 0

    def check(self) -> None:
        if self.broken:
            raise ConnectionResetError("scripted reset")

    async def send(self, messages: Sequence[bytes]) -> list[int]:
        self.check()
        ends = []
        for m in messages:
            self.connections[-1].append(m)
            self._ends.append((self._ends[-1] if self._ends else 0) + len(m) + 5)
            ends.append(self._ends[-1])
        return ends

    def acknowledged(self) -> int:
        if self.broken:  # like TCP after a reset: nothing more is acknowledged
            return self._last_ack
        if self.auto_ack:
            self._last_ack = self._ends[-1] if self._ends else 0
        else:
            self._last_ack = self._ends[self.acked_messages - 1] if self.acked_messages else 0
        return self._last_ack

    async def close(self) -> None:
        self.broken = True


async def test_unacknowledged_messages_are_sent_again_first(tmp_path: Path) -> None:
    transport = ScriptedTransport()
    spool = Spool(tmp_path, max_bytes=1 << 20, fsync="never")
    shipper = SyslogShipper(transport, spool, alarm=alarm, limits=FAST)
    await shipper.start()
    sent = msgs(10)
    for m in sent:
        shipper.offer(m)
    await until(lambda: bool(transport.connections) and len(transport.connections[0]) == 10)
    transport.acked_messages = 4
    await until(lambda: shipper.stats.acknowledged == 4)
    transport.broken = True  # the connection dies with six messages unacknowledged
    shipper.offer(b"new")
    transport.auto_ack = True
    await until(lambda: len(transport.connections) == 2 and len(transport.connections[1]) == 7)
    assert transport.connections[1] == [*sent[4:], b"new"]
    await shipper.drained(2)
    assert shipper.stats.resent >= 6
    await shipper.stop()


async def test_spooled_messages_leave_the_spool_only_when_acknowledged(tmp_path: Path) -> None:
    transport = ScriptedTransport()
    spool = Spool(tmp_path, max_bytes=1 << 20, fsync="never")
    for m in msgs(5):
        spool.append(m)
    shipper = SyslogShipper(transport, spool, alarm=alarm, limits=FAST)
    await shipper.start()
    await until(lambda: bool(transport.connections) and len(transport.connections[0]) == 5)
    assert spool.pending_bytes > 0  # sent, not acknowledged
    transport.broken = True
    transport.auto_ack = True
    await until(lambda: len(transport.connections) == 2 and len(transport.connections[1]) == 5)
    assert transport.connections[1] == msgs(5)
    await shipper.drained(2)
    assert spool.empty
    await shipper.stop()


async def test_dropped_by_the_bound_raises_an_alarm_before_the_backlog(tmp_path: Path) -> None:
    transport = ScriptedTransport()
    spool = Spool(tmp_path, max_bytes=4096, segment_bytes=1024, fsync="never")
    limits = dataclasses.replace(FAST, queue_messages=4)  # every fifth offer spools five
    shipper = SyslogShipper(transport, spool, alarm=alarm, limits=limits)
    big = [m + b" " + b"x" * 200 for m in msgs(40)]
    for m in big:  # not started: everything overflows to the bounded spool
        shipper.offer(m)
    kept = 40 - shipper.stats.dropped
    assert 0 < kept < 40
    transport.auto_ack = True
    await shipper.start()
    await shipper.drained(3)
    assert transport.connections[0] == [alarm(40 - kept), *big[:kept]]
    assert spool.dropped == 0 and shipper.stats.alarms == 1
    await shipper.stop()


async def test_full_spool_while_connected_holds_the_queue_instead_of_dropping(
    tmp_path: Path,
) -> None:
    transport = ScriptedTransport()
    transport.auto_ack = True
    spool = Spool(tmp_path, max_bytes=4096, segment_bytes=1024, fsync="never")
    backlog: list[bytes] = []
    for m in msgs(1000):  # a backlog from the last outage fills the spool to its bound
        if not spool.has_room(len(m)):
            break
        spool.append(m)
        backlog.append(m)
    shipper = SyslogShipper(transport, spool, alarm=alarm, limits=FAST)
    fresh = msgs(200, 5000)
    for m in fresh:
        shipper.offer(m)
    await shipper.start()
    await shipper.drained(3)
    assert transport.connections[0] == backlog + fresh
    assert shipper.stats.dropped == 0 and spool.dropped == 0
    await shipper.stop()
