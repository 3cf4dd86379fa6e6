"""Fair turns at the DLP workers: one person's load waits or is refused for that person.

A global cap alone let four concurrent ~1 MB prompts of one person take every worker and
every place in the queue, so 36 of 53 of another person's requests failed with
``DlpBusy``. ``FairSlots`` hands the workers out in turns:

- at most ``slots`` scans run at once (one per worker: the process pool's own queue,
  first come first served, stays empty);
- a waiting scan is started round-robin between principals, not in arrival order, so
  another person waits for at most one running scan, never behind a flood;
- one principal runs at most ``per_principal`` scans at once; with two or more workers
  that leaves a worker free for everybody else even while one person floods.

Used from one event loop; waiting is cancellable (a timed-out waiter leaves its turn).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque


class FairSlots:
    def __init__(self, slots: int, per_principal: int) -> None:
        if slots < 1 or per_principal < 1:
            raise ValueError("slots and per_principal must be at least 1")
        self._slots = slots
        self._per_principal = per_principal
        self._running: dict[str, int] = {}
        self._total = 0
        # principal -> its waiters, in the order turns go round (a served principal moves
        # to the back)
        self._waiting: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()

    @property
    def running(self) -> int:
        return self._total

    def running_for(self, principal: str) -> int:
        return self._running.get(principal, 0)

    async def acquire(self, principal: str) -> None:
        """Wait for a turn; pair with ``release(principal)``."""
        if not self._waiting and self._may_run(principal):
            self._grant(principal)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(principal, deque()).append(future)
        self._dispatch()
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release(principal)  # granted as it was cancelled: give the turn back
            else:
                self._forget(principal, future)
            raise

    def release(self, principal: str) -> None:
        count = self._running[principal] - 1
        if count:
            self._running[principal] = count
        else:
            del self._running[principal]
        self._total -= 1
        self._dispatch()

    def _may_run(self, principal: str) -> bool:
        return self._total < self._slots and self.running_for(principal) < self._per_principal

    def _grant(self, principal: str) -> None:
        self._running[principal] = self.running_for(principal) + 1
        self._total += 1

    def _dispatch(self) -> None:
        while self._total < self._slots:
            chosen = next((p for p in self._waiting if self._may_run(p)), None)
            if chosen is None:
                return
            queue = self._waiting.pop(chosen)
            future = queue.popleft()
            if queue:
                self._waiting[chosen] = queue  # to the back: the next turn is someone else's
            self._grant(chosen)
            future.set_result(None)

    def _forget(self, principal: str, future: asyncio.Future[None]) -> None:
        queue = self._waiting.get(principal)
        if queue is None:
            return
        try:
            queue.remove(future)
        except ValueError:
            return
        if not queue:
            del self._waiting[principal]
