"""Fair turns at the DLP workers: one person's load waits or is refused for that person.

A global cap alone let four concurrent ~1 MB prompts of one person take every worker and
every place in the queue, so 36 of 53 of another person's requests failed with
``DlpBusy``. ``FairSlots`` hands the workers out fairly by the work asked for:

- at most ``slots`` scans run at once (one per worker: the process pool's own queue,
  first come first served, stays empty);
- a waiting scan is started by start-time fair queuing over its cost (the bytes it
  scans): each principal's scans get start tags ``max(V, last finish of theirs)`` and
  finish tags ``start + cost``, ``V`` being the start tag of the scan granted last, and
  the waiting scan with the smallest start tag goes first. So people share the workers
  by bytes, not by turns: one 1 MB scan costs its sender as many turns as a thousand
  1 KB scans cost someone else, and a person idle for a while starts level with the
  others (``V``), never with credit saved up. With equal costs it is round-robin;
- one principal runs at most ``per_principal`` scans at once; with two or more workers
  that leaves a worker free for everybody else even while one person floods.

Used from one event loop; waiting is cancellable (a timed-out waiter leaves its turn).
Choosing is linear in the number of principals waiting, which ``DlpRunner``'s in-flight
caps bound.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from dataclasses import dataclass


@dataclass(eq=False, slots=True)
class _Waiter:
    start_tag: float
    future: asyncio.Future[None]


class FairSlots:
    def __init__(self, slots: int, per_principal: int) -> None:
        if slots < 1 or per_principal < 1:
            raise ValueError("slots and per_principal must be at least 1")
        self._slots = slots
        self._per_principal = per_principal
        self._running: dict[str, int] = {}
        self._total = 0
        # principal -> its waiters in arrival order (their start tags increase)
        self._waiting: OrderedDict[str, deque[_Waiter]] = OrderedDict()
        #: The virtual time: the start tag of the scan granted last.
        self._virtual = 0.0
        #: principal -> finish tag of their last scan (forgotten once at or below V).
        self._finish: dict[str, float] = {}

    @property
    def running(self) -> int:
        return self._total

    def running_for(self, principal: str) -> int:
        return self._running.get(principal, 0)

    async def acquire(self, principal: str, cost: float = 1.0) -> None:
        """Wait for a turn for a scan of ``cost`` (its bytes; at least 1); pair with
        ``release(principal)``."""
        cost = max(1.0, float(cost))
        start_tag = max(self._virtual, self._finish.get(principal, 0.0))
        self._finish[principal] = start_tag + cost
        if not self._waiting and self._may_run(principal):
            self._grant(principal, start_tag)
            return
        waiter = _Waiter(start_tag, asyncio.get_running_loop().create_future())
        self._waiting.setdefault(principal, deque()).append(waiter)
        self._dispatch()
        try:
            await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                self.release(principal)  # granted as it was cancelled: give the turn back
            else:
                self._forget(principal, waiter)
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

    def _grant(self, principal: str, start_tag: float) -> None:
        self._running[principal] = self.running_for(principal) + 1
        self._total += 1
        self._virtual = max(self._virtual, start_tag)
        if len(self._finish) > 4 * (len(self._waiting) + len(self._running)) + 64:
            # Who is level with V again has nothing to remember: keep the table small.
            self._finish = {p: f for p, f in self._finish.items() if f > self._virtual}

    def _dispatch(self) -> None:
        while self._total < self._slots:
            chosen: str | None = None
            best = 0.0
            for principal, queue in self._waiting.items():  # ties: the longest waiting
                if self._may_run(principal) and (chosen is None or queue[0].start_tag < best):
                    chosen, best = principal, queue[0].start_tag
            if chosen is None:
                return
            queue = self._waiting.pop(chosen)
            waiter = queue.popleft()
            if queue:
                self._waiting[chosen] = queue  # to the back: ties go to someone else
            self._grant(chosen, waiter.start_tag)
            waiter.future.set_result(None)

    def _forget(self, principal: str, waiter: _Waiter) -> None:
        queue = self._waiting.get(principal)
        if queue is None:
            return
        try:
            queue.remove(waiter)
        except ValueError:
            return
        if not queue:
            del self._waiting[principal]
