"""Slow refusals for rationed sign-in starts (issue 19, finding 7).

A source over its login ration (`warden.identity.portal.LoginRations`) is told to wait
(429, ``Retry-After``). Answered at once, a flood that waits for each answer comes straight
back: ~1,000 refusals a second from 16 connections, each one a request the control plane
parses and answers on a CPU the proxy shares. Held for `HOLD_S` first, the same flood sends
one request per connection per `HOLD_S`.

What is held is bounded: `PER_SOURCE` refusals per source and `TOTAL` in all are held at
once (a task and a parsed request each, a few KB); beyond that a refusal is answered at
once and its connection closed, so a flood that opens more connections pays a new
connection (and TLS handshake) for each attempt. Nothing here ever delays a person who
is not over their ration.
"""

from __future__ import annotations

import asyncio
from typing import Final

#: How long a rationed sign-in start waits for its 429 (the page says "a few seconds").
HOLD_S: Final = 1.0
#: Refusals held at once for one source (``source_of``: an address, or an IPv6 /64).
PER_SOURCE: Final = 8
#: Refusals held at once in all.
TOTAL: Final = 1024


class Tarpit:
    def __init__(
        self, hold_s: float = HOLD_S, per_source: int = PER_SOURCE, total: int = TOTAL
    ) -> None:
        self.hold_s = hold_s
        self.per_source = per_source
        self.total = total
        self._held: dict[str, int] = {}
        self._total = 0

    def held(self, source: str | None = None) -> int:
        """Refusals held now, for ``source`` or in all."""
        return self._total if source is None else self._held.get(source, 0)

    async def hold(self, source: str) -> bool:
        """Wait `hold_s` when there is room for one more held refusal of ``source``; False
        at once when there is none (answer now and close the connection)."""
        count = self._held.get(source, 0)
        if count >= self.per_source or self._total >= self.total:
            return False
        self._held[source] = count + 1
        self._total += 1
        try:
            await self._wait()
        finally:
            self._total -= 1
            left = self._held[source] - 1
            if left:
                self._held[source] = left
            else:
                del self._held[source]
        return True

    async def _wait(self) -> None:
        await asyncio.sleep(self.hold_s)
