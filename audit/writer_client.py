"""`AuditWriterClient`: a gateway worker's way to the host's one audit writer process.

With ``proxy.workers`` above 1 the supervisor starts the writer (`AuditWriterProcess`) with
``--listen``; each worker connects to that Unix socket and speaks the same frames as the
parent's pipe. So every worker's records join the same per-tenant hash chains, and
``await write(record)`` still returns only once the record is committed.

A lost connection (the writer restarted, or dropped a worker that did not read its
answers) fails every record not yet acknowledged, exactly as a dead child does for the
parent, and the client connects again (every 0.2 s at first, backing off to 30 s).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from .errors import AuditStoreError
from .writer_process import AuditWriterProcess, WriterSettings, _AckProtocol

log = logging.getLogger(__name__)


class AuditWriterClient(AuditWriterProcess):
    """`AuditWriterProcess`'s contract over a connection to a writer another process runs."""

    #: Connecting costs nothing when the writer is not back yet (the supervisor restarts
    #: it after 1 s): look often at first, so flows pass again soon after it is.
    restart_delays = (0.2, 0.2, 0.2, 0.2, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)

    def __init__(self, socket_path: Path, *, max_pending: int = 10_000) -> None:
        # The settings name the database for messages only: the writer that owns it is
        # the supervisor's child.
        super().__init__(WriterSettings(socket_path, socket_path.parent), max_pending=max_pending)
        self.socket_path = socket_path

    async def _spawn(self, wait_s: float) -> None:
        assert self._loop is not None
        ready: asyncio.Future[tuple[Any, ...]] = self._loop.create_future()
        reader = _AckProtocol(self, ready)
        try:
            transport, _ = await asyncio.wait_for(
                self._loop.create_unix_connection(lambda: reader, str(self.socket_path)), wait_s
            )
            first = await asyncio.wait_for(ready, wait_s)
        except (OSError, TimeoutError, EOFError) as exc:
            raise AuditStoreError(
                f"cannot reach the host's audit writer at {self.socket_path} "
                f"({exc or 'no answer'})",
                fix="the supervisor starts it; see its log above",
            ) from None
        if first[0] != "ready":
            transport.close()
            raise AuditStoreError(f"the audit writer answered {first[0]!r}", fix="see its log")
        self._out, self._reader = transport, reader
        self.commit_failure = None
        self._running = True
        log.info("connected to the host's audit writer at %s", self.socket_path)

    async def close(self, wait_s: float = 30.0) -> None:
        """Wait (bounded) for the answers still due, then hang up; the writer lives on."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
        if self._restart_task is not None:
            self._restart_task.cancel()
        pending = [w for w in self._pending.values() if isinstance(w, asyncio.Future)]
        if pending:
            await asyncio.wait(pending, timeout=wait_s)
        if self._out is not None:
            self._out.close()
        self._running = False
