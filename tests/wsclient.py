"""A real WebSocket client through the gateway, as Codex CLI or a Realtime app connects:
aiohttp's client, CONNECT to the proxy with proxy credentials, TLS trusting the gateway's
CA, then the WebSocket upgrade to the provider's host.

``exchange`` sends client events one after another and collects the server's events,
each send waiting for the event that answers it (an ``error``, or the end of the turn);
it waits on events, never on the clock (a generous timeout only stops a hung test).
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

#: Server events after which a client event has its answer.
ANSWERED = frozenset(
    {"error", "response.completed", "response.done", "response.failed", "response.incomplete"}
)
#: Client events the server answers with nothing: sent without waiting.
UNANSWERED = frozenset({"input_audio_buffer.append"})
TIMEOUT_S = 60  # only a hung gateway reaches it; a busy CI answers in well under a second


@dataclass
class Upgrade:
    """How the upgrade went: ``status`` is 101 when the socket opened."""

    status: int
    body: str = ""
    events: list[list[dict[str, Any]]] = field(default_factory=list)


async def _exchange(
    proxy: str,
    ca: Path,
    url: str,
    sends: Sequence[bytes | str | dict[str, Any]],
    bearer: str | None,
    answered: frozenset[str],
    device: str | None,
    between: Callable[[int], None] | None,
) -> Upgrade:
    tls = ssl.create_default_context(cafile=str(ca))
    headers = {"Proxy-Authorization": f"Bearer {bearer}"} if bearer else {}
    if device:
        headers = {"Proxy-Authorization": aiohttp.BasicAuth("device", device).encode()}
    async with aiohttp.ClientSession() as session:
        try:
            ws = await session.ws_connect(
                url,
                proxy=proxy,
                proxy_headers=headers,
                ssl=tls,
                headers={"Authorization": "Bearer sk-test-not-a-real-key"},
                timeout=aiohttp.ClientWSTimeout(ws_receive=TIMEOUT_S),
            )
        except aiohttp.WSServerHandshakeError as exc:
            return Upgrade(exc.status, exc.message)
        result = Upgrade(101)
        async with ws:
            for i, item in enumerate(sends):
                if between is not None and i:
                    between(i)
                if isinstance(item, bytes):
                    await ws.send_bytes(item)
                elif isinstance(item, str):
                    await ws.send_str(item)
                else:
                    await ws.send_str(json.dumps(item))
                    if item.get("type") in UNANSWERED:
                        continue
                got: list[dict[str, Any]] = []
                while True:
                    msg = await ws.receive(timeout=TIMEOUT_S)
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        got.append({"type": f"<{msg.type.name}>"})
                        break
                    event = json.loads(msg.data)
                    got.append(event)
                    if event.get("type") in answered:
                        break
                result.events.append(got)
        return result


def exchange(
    proxy: str,
    ca: Path,
    url: str,
    sends: Sequence[bytes | str | dict[str, Any]],
    bearer: str | None = None,
    answered: frozenset[str] = ANSWERED,
    device: str | None = None,
    between: Callable[[int], None] | None = None,
) -> Upgrade:
    """``device``: a device credential (``warden login``) instead of a bearer token;
    ``between(i)`` runs before the ``i``-th send (from 1), e.g. to revoke a credential."""
    return asyncio.run(_exchange(proxy, ca, url, sends, bearer, answered, device, between))


def text_of(events: list[dict[str, Any]]) -> str:
    """The answer text the ``*.delta`` events of one turn add up to."""
    return "".join(
        str(e.get("delta", ""))
        for e in events
        if e.get("type") in ("response.output_text.delta", "response.text.delta")
    )
