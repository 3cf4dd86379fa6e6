"""Revocations pushed from the control plane to every proxy worker of the host, each
acknowledged before the control plane answers (``proxy.workers`` above 1, or
``control.own_process``).

Without this, a worker learns of a revocation made in the control plane's process (admin
API, SCIM deactivation or delete, portal logout, back-channel logout) only from its
generation check on the state database every 0.2 s (warden.gateway.roles.keep_in_step),
so the next request on an open connection could pass for that long after the API said
"revoked". Now the control plane, once the change is committed, writes ``sync N`` to each
worker over a Unix socket in the state folder (0600); the worker re-reads the sessions
index at once (as the generation check would), makes every connection that cached an
identity look again (service JWTs), and answers ``ack N``. The API answers after every
worker acknowledged, or after `PUSH_TIMEOUT_S`: a worker that did not answer (stopped,
busy, starting) is named in the log and the ``warden_revocation_push_late`` counter, and
its generation check still brings it in step within 0.2 s of it running again.

Revocations no request waits for (the IdP re-check, SCIM's retried deprovisioning, a SCIM
change that takes access away) take the same way: the session store calls ``soon`` from
whichever thread committed them, and a task of the control plane pushes at once.

The channel carries no data, only "look now": what changed is in the database, so a
forged or replayed line can do no more than make a worker re-read it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

logger = logging.getLogger("warden.gateway.push")

#: How long the control plane waits for the workers' acknowledgements before it answers.
#: A worker's apply is one single-row read plus, when something changed, one reload of
#: the sessions index: milliseconds. The bound is for a worker that is stopped or stuck.
PUSH_TIMEOUT_S: Final = 1.0
#: A line of the protocol ("hello 12", "sync 123", "ack 123") is short; anything longer
#: ends the connection.
MAX_LINE: Final = 64
#: A worker that reads nothing (stopped) while pushes go on: past this many unsent bytes
#: its connection is dropped (it catches up when it reconnects).
MAX_BUFFERED: Final = 16 * 1024
#: Unix socket paths are limited to 108 bytes on Linux.
MAX_SOCKET_PATH: Final = 100
RECONNECT_S: Final = 0.2


def socket_path(state_dir: Path) -> Path:
    path = Path(os.path.abspath(state_dir / "push.sock"))
    if len(str(path)) > MAX_SOCKET_PATH:
        raise SystemExit(
            f"warden: the revocation push socket path {path} is longer than "
            f"{MAX_SOCKET_PATH} characters (a Unix socket limit); move state_dir to a "
            "shorter path"
        )
    return path


@dataclass
class _Worker:
    worker_id: int
    writer: asyncio.StreamWriter
    waiters: list[tuple[int, asyncio.Future[None]]] = field(default_factory=list)

    def acked(self, seq: int) -> None:
        keep = []
        for want, fut in self.waiters:
            if want <= seq:
                if not fut.done():
                    fut.set_result(None)
            else:
                keep.append((want, fut))
        self.waiters = keep


class RevocationPush:
    """The control plane's end: workers connect, `push` reaches them all."""

    def __init__(
        self,
        path: Path,
        live_workers: Callable[[], list[int]],
        on_late: Callable[[int], None] | None = None,
        timeout_s: float = PUSH_TIMEOUT_S,
    ) -> None:
        self.path = path
        self.live_workers = live_workers
        self.on_late = on_late
        self.timeout_s = timeout_s
        self._workers: dict[int, _Worker] = {}
        self._seq = 0
        self._server: asyncio.Server | None = None
        # revocations made in this process (`soon`) and how many a push already covers
        self._asked = 0
        self._covered = 0
        self._wanted = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._follower: asyncio.Task[None] | None = None

    def connected(self) -> list[int]:
        """The workers connected now (each said hello)."""
        return sorted(self._workers)

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # left by a control plane that was killed
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # 0600: only the gateway's user may connect
        try:
            listener.bind(str(self.path))
        finally:
            os.umask(old)
        listener.listen(64)
        self._server = await asyncio.start_unix_server(self._serve, sock=listener, limit=MAX_LINE)
        self._loop = asyncio.get_running_loop()
        self._follower = asyncio.create_task(self._push_when_asked(), name="revocation-push-soon")

    def soon(self) -> None:
        """A revocation was committed in this process (any thread): push it to every
        worker even when no request waits for it (an IdP re-check, SCIM's retried
        deprovisioning, a sweep). A request that revoked pushes itself (`middleware`) and
        answers after the acknowledgements; this push is then already covered."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._ask)

    def _ask(self) -> None:
        self._asked += 1
        self._wanted.set()

    async def _push_when_asked(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            if self._asked > self._covered:
                try:
                    await self.push()
                except Exception:  # never end the follower: the next revocation pushes
                    logger.exception("revocation push failed")

    async def stop(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
            self._follower = None
        if self._server is not None:
            self._server.close()
            for w in list(self._workers.values()):
                w.writer.close()
            self._workers.clear()
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        worker: _Worker | None = None
        try:
            hello = (await reader.readline()).split()
            if len(hello) != 2 or hello[0] != b"hello" or not hello[1].isdigit():
                return
            worker = _Worker(int(hello[1]), writer)
            old = self._workers.get(worker.worker_id)
            if old is not None:  # a restarted worker: its old connection is gone
                old.writer.close()
            self._workers[worker.worker_id] = worker
            while line := await reader.readline():
                words = line.split()
                if len(words) != 2 or words[0] != b"ack" or not words[1].isdigit():
                    return
                worker.acked(int(words[1]))
        except (OSError, ValueError):  # ValueError: a line over MAX_LINE
            pass
        finally:
            if worker is not None and self._workers.get(worker.worker_id) is worker:
                del self._workers[worker.worker_id]
            writer.close()

    async def push(self) -> list[int]:
        """Tell every connected worker to look now; wait (bounded) for each to say it
        did. Returns the live workers that did not acknowledge in time."""
        started = time.monotonic()
        self._covered = self._asked  # what this process revoked so far is in the database
        self._seq += 1
        seq = self._seq
        loop = asyncio.get_running_loop()
        waits: dict[int, asyncio.Future[None]] = {}
        for wid, w in list(self._workers.items()):
            transport = w.writer.transport
            if transport.is_closing() or transport.get_write_buffer_size() > MAX_BUFFERED:
                w.writer.close()
                continue
            fut: asyncio.Future[None] = loop.create_future()
            w.waiters.append((seq, fut))
            w.writer.write(b"sync %d\n" % seq)
            waits[wid] = fut
        if waits:
            await asyncio.wait(waits.values(), timeout=self.timeout_s)
        late = sorted(wid for wid, fut in waits.items() if not fut.done())
        for fut in waits.values():
            fut.cancel()
        # a live worker without a connection (it is starting, or its connection broke)
        unreached = sorted(set(self.live_workers()) - set(waits))
        missed = sorted({*late, *unreached})
        if missed:
            logger.warning(
                "revocation push: proxy worker(s) %s did not acknowledge within %.1f s "
                "(not answering: %s; not connected: %s); they apply it at their next "
                "look at the state database (every 0.2 s while they run)",
                ", ".join(map(str, missed)),
                self.timeout_s,
                late or "none",
                unreached or "none",
            )
            if self.on_late is not None:
                for wid in missed:
                    self.on_late(wid)
        else:
            logger.debug(
                "revocation push %d acknowledged by %d worker(s) in %.1f ms",
                seq,
                len(waits),
                (time.monotonic() - started) * 1000,
            )
        return missed

    def middleware(self, revocations: Callable[[], int]) -> Middleware:
        """An aiohttp middleware: a request during which ``revocations()`` moved (this
        process revoked something) is answered only after the push."""

        @web.middleware
        async def push_revocations(request: web.Request, handler: Handler) -> web.StreamResponse:
            before = revocations()
            try:
                return await handler(request)
            finally:
                if revocations() != before:
                    await self.push()

        return push_revocations


async def follow_pushes(path: Path, worker_id: int, apply: Callable[[], Awaitable[bool]]) -> None:
    """The worker's end: stay connected to the control plane and acknowledge each push
    once ``apply`` (re-read what changed) succeeded. Runs until cancelled."""
    while True:
        writer: asyncio.StreamWriter | None = None
        try:
            reader, writer = await asyncio.open_unix_connection(str(path), limit=MAX_LINE)
            writer.write(b"hello %d\n" % worker_id)
            # pushes made before this connection existed: their changes are committed
            await apply()
            while line := await reader.readline():
                words = line.split()
                if len(words) != 2 or words[0] != b"sync" or not words[1].isdigit():
                    break
                if await apply():
                    writer.write(b"ack %s\n" % words[1])
        except (OSError, ValueError):
            pass
        finally:
            if writer is not None:
                writer.close()
        await asyncio.sleep(RECONNECT_S)
