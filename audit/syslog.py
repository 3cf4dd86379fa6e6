"""The syslog shipper: gets audit messages to the SIEM without ever blocking the proxy.

`SyslogShipper.offer()` puts a formatted message into a bounded in-memory queue and
returns at once; one background task sends. Order is kept end to end: messages reach the
collector in the order they were offered, across outages and restarts.

Two modes, decided before each batch:

- direct: the spool is empty, so batches go from the queue straight to the connection.
- spooled: the spool holds something (an outage, a queue overflow, a previous run), so the
  queue is appended to the spool and the spool is replayed from its oldest record; a
  segment is deleted only once the collector acknowledged all of it. Once the spool is
  empty again the shipper goes back to direct.

While the collector is down (refused, reset, timed out, TLS verification failed) the
queue drains into the spool and connects are retried with exponential backoff. When the
queue is full, ``offer()`` moves the queue and the new message into the spool itself,
oldest first. When the spool is at its bound, new messages are dropped and counted (while
connected, the queue first waits in memory for the replay to make room); the count
survives a restart, and an ``alarm`` message ("spool full, N records dropped") is
made by ``alarm`` and sent ahead of the backlog as soon as the collector is reachable.

Delivery is at least once. Messages written to a connection stay in an in-flight window
until the transport reports them acknowledged by the collector's TCP (see
`syslog_transport`); when the connection fails, the unacknowledged ones are sent again
(direct ones are put in front of the spool, spooled ones are re-read). A message can thus
arrive twice after a reconnect or a crash; each carries ``record_id`` for the SIEM to
dedupe. Over UDP nothing is acknowledged and losses are possible by nature.

Everything runs on the event loop except fsync, which runs in a worker thread; spool
reads and writes are small page-cache operations. Call ``offer()`` from the loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from .spool import Spool, SpoolPosition
from .syslog_transport import SyslogTransport

__all__ = ["ShipperLimits", "ShipperStats", "SyslogShipper"]

log = logging.getLogger(__name__)

# What counts as "the collector is unreachable" (ssl.SSLError is an OSError).
_LINK_ERRORS: Final = (OSError, TimeoutError, EOFError)


@dataclass(frozen=True, slots=True)
class ShipperLimits:
    """Bounds and timings of a `SyslogShipper`."""

    queue_messages: int = 10_000
    batch_messages: int = 256
    # Bytes written but not yet acknowledged before sending waits for the collector.
    window_bytes: int = 1024 * 1024
    # How long unacknowledged bytes may sit before the connection counts as stuck.
    ack_timeout: float = 10.0
    backoff_initial: float = 0.2
    backoff_max: float = 30.0
    # Idle tick: acknowledgements and a closed connection are checked this often.
    idle_interval: float = 0.05


@dataclass(slots=True)
class ShipperStats:
    offered: int = 0
    sent: int = 0  # messages written to a connection (re-sends included)
    acknowledged: int = 0
    spooled: int = 0  # messages that went to the spool
    resent: int = 0  # unacknowledged messages queued again after a failed connection
    dropped: int = 0  # refused by the spool bound
    alarms: int = 0
    connects: int = 0
    failures: int = 0
    connected: bool = False
    last_error: str | None = None


@dataclass(slots=True)
class _InFlight:
    end: int  # byte offset on the connection
    message: bytes
    position: SpoolPosition | None  # None: sent directly from the queue


class SyslogShipper:
    """Queue, send, spool and replay syslog messages for one collector."""

    def __init__(
        self,
        transport: SyslogTransport,
        spool: Spool,
        *,
        alarm: Callable[[int], bytes],
        limits: ShipperLimits | None = None,
    ) -> None:
        self.transport = transport
        self.spool = spool
        self.limits = limits or ShipperLimits()
        self.stats = ShipperStats()
        self._alarm = alarm
        self._queue: deque[bytes] = deque()
        self._wakeup = asyncio.Event()
        self._window: deque[_InFlight] = deque()
        self._window_bytes = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._backoff = self.limits.backoff_initial
        self._full_logged_at = -1e9

    # --- the proxy's side -------------------------------------------------------------

    def offer(self, message: bytes) -> None:
        """Hand over a message; never waits. Overflow goes to the spool, in order."""
        if self._stopping:
            raise RuntimeError("the syslog shipper is stopped; messages can no longer be sent")
        self.stats.offered += 1
        if len(self._queue) >= self.limits.queue_messages:
            self._queue.append(message)
            self._queue_to_spool()
        else:
            self._queue.append(message)
        self._wakeup.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="syslog-shipper")

    async def stop(self, *, drain_timeout: float = 2.0) -> None:
        """Send what is pending for up to ``drain_timeout`` s, spool the rest, close."""
        if self._task is None:
            self.spool.close()
            return
        if self.stats.connected:
            with contextlib.suppress(TimeoutError):
                await self.drained(drain_timeout)
        self._stopping = True
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        # Nothing offered is lost on a clean stop: unacknowledged and queued go to disk.
        self._requeue_unacknowledged()
        self._queue_to_spool()
        await self.transport.close()
        self.spool.close()

    async def drained(self, within: float) -> None:
        """Wait until everything offered was acknowledged (``TimeoutError`` after ``within`` s)."""
        deadline = time.monotonic() + within
        while self._queue or self._window or not self.spool.empty:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"syslog messages still pending after {within} s")
            await asyncio.sleep(0.01)

    # --- the sending task -------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            if not self.transport.connected:
                await self._connect()
                continue
            try:
                await self._pump()
            except _LINK_ERRORS as exc:
                await self._link_failed(exc)

    async def _connect(self) -> None:
        try:
            await self.transport.connect()
        except _LINK_ERRORS as exc:
            self._note_error(exc, connecting=True)
            await self._wait_backoff()
            return
        self.stats.connects += 1
        self.stats.connected = True
        self._backoff = self.limits.backoff_initial
        log.info("syslog: connected to %s", self.transport.target)
        self._window.clear()
        self._window_bytes = 0
        self.spool.rewind()

    async def _pump(self) -> None:
        """Send until the connection fails (raises)."""
        while True:
            self._collect_acknowledgements()
            if not self._window:
                self._emit_alarm()
            await self._maybe_sync()
            if not self.spool.empty:
                # Connected: a full spool will drain soon, so the queue waits in memory
                # (offer() spills it when it is full) rather than being dropped now.
                self._queue_to_spool(hold_when_full=True)
                batch = self.spool.read(self.limits.batch_messages)
                if batch:
                    await self._send([e.message for e in batch], [e.position for e in batch])
                elif self._window:
                    await self._await_acknowledgements(idle=True)
                else:
                    self.spool.rewind()  # defensive: pending but nothing in flight
                    await self._idle()
            elif self._queue:
                count = min(len(self._queue), self.limits.batch_messages)
                messages = [self._queue.popleft() for _ in range(count)]
                await self._send(messages, [None] * count)
            else:
                await self._idle()

    async def _send(self, messages: list[bytes], positions: list[SpoolPosition | None]) -> None:
        try:
            ends = await self.transport.send(messages)
        except BaseException:
            # Maybe partly written, surely not acknowledged: keep them for the re-send.
            for message, position in zip(messages, positions, strict=True):
                self._window.append(_InFlight(-1, message, position))
            raise
        for end, message, position in zip(ends, messages, positions, strict=True):
            self._window.append(_InFlight(end, message, position))
            self._window_bytes += len(message)
        self.stats.sent += len(messages)
        if self._window_bytes > self.limits.window_bytes:
            await self._await_acknowledgements(idle=False)

    async def _idle(self) -> None:
        self._wakeup.clear()
        if self._queue:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), self.limits.idle_interval)
        self.transport.check()

    async def _await_acknowledgements(self, *, idle: bool) -> None:
        """Wait until the window is acknowledged, or shrinks below its bound when busy."""
        deadline = time.monotonic() + self.limits.ack_timeout
        while self._window:
            self._collect_acknowledgements()
            if not self._window or (not idle and self._window_bytes <= self.limits.window_bytes):
                return
            if idle and self._queue:
                return  # new messages: go spool them, then come back
            self.transport.check()
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"the syslog collector {self.transport.target} acknowledged nothing for "
                    f"{self.limits.ack_timeout} s"
                )
            await asyncio.sleep(0.002)

    def _collect_acknowledgements(self) -> None:
        if not self._window:
            return
        acked = self.transport.acknowledged()
        last: SpoolPosition | None = None
        count = 0
        while self._window and 0 <= self._window[0].end <= acked:
            entry = self._window.popleft()
            self._window_bytes -= len(entry.message)
            count += 1
            if entry.position is not None:
                last = entry.position
        if last is not None:
            self.spool.commit(last)
        self.stats.acknowledged += count

    async def _link_failed(self, exc: BaseException) -> None:
        self.stats.failures += 1
        self._note_error(exc, connecting=False)
        await self.transport.close()
        self._requeue_unacknowledged()
        self._queue_to_spool()
        await self._wait_backoff()

    def _requeue_unacknowledged(self) -> None:
        """Put messages written but not acknowledged back in line for a re-send.

        Direct ones are older than anything spooled (the spool was empty when they were
        sent), so they go in front of it; spooled ones are read again from the spool.
        """
        direct = [e.message for e in self._window if e.position is None]
        self.stats.resent += len(self._window)
        self._window.clear()
        self._window_bytes = 0
        if direct:
            try:
                self.spool.prepend(direct)
            except OSError as exc:
                self._spool_failed(exc, len(direct))
            else:
                self.stats.spooled += len(direct)
        self.spool.rewind()

    def _queue_to_spool(self, *, hold_when_full: bool = False) -> None:
        if not self._queue:
            return
        if hold_when_full:
            moved = 0
            try:
                while self._queue and self.spool.has_room(len(self._queue[0])):
                    self.spool.append(self._queue[0])
                    self._queue.popleft()
                    moved += 1
            except OSError as exc:
                self._spool_failed(exc, len(self._queue))
                self._queue.clear()
            self.stats.spooled += moved
            return
        messages = list(self._queue)
        self._queue.clear()
        try:
            dropped = self.spool.extend(messages)
        except OSError as exc:
            self._spool_failed(exc, len(messages))
            return
        self.stats.spooled += len(messages) - dropped
        if dropped:
            self.stats.dropped += dropped
            now = time.monotonic()
            if now - self._full_logged_at < 10.0:
                return
            self._full_logged_at = now
            log.error(
                "syslog spool %s is full (%d bytes): %d messages dropped; raise "
                "syslog.spool.max_bytes or bring the collector %s back",
                self.spool.directory,
                self.spool.max_bytes,
                dropped,
                self.transport.target,
            )

    def _emit_alarm(self) -> None:
        """Report messages the spool bound dropped, ahead of everything still pending."""
        dropped = self.spool.dropped
        if not dropped:
            return
        try:
            self.spool.prepend([self._alarm(dropped)])
        except OSError as exc:
            self._spool_failed(exc, 0)
            return
        self.spool.take_dropped()
        self.spool.rewind()
        self.stats.alarms += 1

    def _spool_failed(self, exc: OSError, lost: int) -> None:
        self.spool.note_dropped(lost)
        self.stats.dropped += lost
        log.error(
            "syslog spool %s cannot be written (%s): %d messages dropped; check the disk "
            "and the folder's permissions",
            self.spool.directory,
            exc,
            lost,
        )

    async def _maybe_sync(self) -> None:
        if self.spool.sync_due():
            await asyncio.to_thread(self.spool.sync)

    async def _wait_backoff(self) -> None:
        """Sleep before the next connect, spooling what is offered meanwhile."""
        deadline = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, self.limits.backoff_max)
        while (remaining := deadline - time.monotonic()) > 0:
            self._queue_to_spool()
            await self._maybe_sync()
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), remaining)
        self._queue_to_spool()

    def _note_error(self, exc: BaseException, *, connecting: bool) -> None:
        was_connected = self.stats.connected
        self.stats.connected = False
        text = f"{type(exc).__name__}: {exc}"
        if text != self.stats.last_error or was_connected:
            log.warning(
                "syslog: %s %s failed (%s); messages go to the spool %s and the connect is "
                "retried with backoff",
                "connecting to" if connecting else "sending to",
                self.transport.target,
                text,
                self.spool.directory,
            )
        self.stats.last_error = text
