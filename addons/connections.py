"""Connections: how many one client address may hold, and how large and how slow a head may be.

mitmproxy 12.2 buffers an HTTP/1 head until its blank line without any bound ("FIXME:
protect against header size DoS" in its ``_http1.py``), waits for it without a time
limit, and takes any number of connections from one address; a client that never ends a
header grew the gateway by 200 MB per connection, and 3,000 half-sent CONNECTs stayed
open (issue 19, finding 5). It has no option for either, so:

- ``BoundedHttp1Server`` and ``BoundedHttp1Client`` (installed into mitmproxy's HTTP
  layer in place of its own classes, see ``install``) refuse a head that passes
  ``header_bytes`` without ending: 431 to a client, a protocol error (502) for an
  upstream's answer. Checked once per read, after mitmproxy's own parsing: the cost is
  one length comparison, and a head can pass the limit by one read at most.
- ``ConnectionGuard`` (a mitmproxy addon beside the pipeline: it needs the connection
  hooks) counts each address's open connections and those still owing a request head,
  refuses connections over either count at once, and closes with 408 a connection whose
  head is not complete ``header_seconds`` after it began (or after the connection
  opened, for its first). It also bounds what mitmproxy buffers while it decides what a
  tunnel carries (a plain-text head inside a CONNECT whose Host line never comes).

Idle connections are mitmproxy's ``tcp_timeout`` (``proxy.limits.idle_seconds``); bodies
are ``body_size_limit`` and ``addons/bodies.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from h11._receivebuffer import ReceiveBuffer
from mitmproxy import connection
from mitmproxy.proxy import commands, events, layer
from mitmproxy.proxy.layers import http as http_layers
from mitmproxy.proxy.layers.http import _http1
from mitmproxy.proxy.layers.http._base import ReceiveHttp
from mitmproxy.proxy.layers.http._events import ErrorCode, HttpEvent, ResponseProtocolError

from warden.addons.metrics import FlowMetrics

logger = logging.getLogger("warden.connections")

_TIMEOUT_TEXT: Final = (
    b"Egress Warden closed this connection: its request head did not arrive in time "
    b"(proxy.limits.header_seconds)\n"
)
_REQUEST_TIMEOUT: Final = (
    b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_TIMEOUT_TEXT), _TIMEOUT_TEXT)
)


DEFAULT_HEADER_BYTES: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    header_bytes: int = DEFAULT_HEADER_BYTES
    header_seconds: float = 30.0
    connections_per_client: int = 1024
    pending_heads_per_client: int = 256
    #: ``proxy.limits.body_bytes``, named in the 413 a client gets for a larger body.
    body_bytes: int | None = None


class _Limits:
    """What the bounded connection classes read (one gateway per process)."""

    header_bytes: int = DEFAULT_HEADER_BYTES
    body_bytes: int | None = None
    guard: ConnectionGuard | None = None


#: What mitmproxy's HTTP layer says (as the 413's body and as ``flow.error``) when a request
#: body passes ``body_size_limit``; ``body_too_large`` says it in the gateway's words.
MITMPROXY_REQUEST_TOO_LARGE: Final = "Request body exceeds mitmproxy's body_size_limit."


def body_too_large(limit: int | None) -> str:
    size = f"{limit} bytes" if limit is not None else "the gateway's limit"
    return (
        f"Egress Warden refused this request: its body is larger than {size} "
        "(proxy.limits.body_bytes). Send less at once, or ask the gateway's admin to raise "
        "the limit."
    )


def _still_in_head(conn: _http1.Http1Connection) -> bool:
    # ``wait``: the request is in, its answer not yet out; what the client sends meanwhile
    # is buffered as the next head.
    return conn.state in (conn.read_headers, conn.wait)


class BoundedHttp1Server(_http1.Http1Server):
    """mitmproxy's HTTP/1 server side, with a bound on the request head and its timing,
    and the gateway's own words in the 413 for a body over ``proxy.limits.body_bytes``
    (mitmproxy's names its own option, which no admin of the gateway sets)."""

    def send(self, event: HttpEvent) -> layer.CommandGenerator[None]:
        if isinstance(event, ResponseProtocolError) and event.code is ErrorCode.REQUEST_TOO_LARGE:
            event = ResponseProtocolError(
                event.stream_id, body_too_large(_Limits.body_bytes), event.code
            )
        yield from super().send(event)

    def _handle_event(self, event: events.Event) -> layer.CommandGenerator[None]:
        yield from super()._handle_event(event)
        if not isinstance(event, events.DataReceived):
            return
        if not _still_in_head(self):
            if _Limits.guard is not None:
                _Limits.guard.head_done(self.context.client)
        elif len(self.buf) > _Limits.header_bytes:
            yield from self._refuse_head()
        elif self.buf and self.state == self.read_headers and _Limits.guard is not None:
            _Limits.guard.head_started(self.context.client)

    def _refuse_head(self) -> layer.CommandGenerator[None]:
        limit = _Limits.header_bytes
        if _Limits.guard is not None:
            _Limits.guard.refused("header_bytes", self.context.client)
        self.buf = ReceiveBuffer()  # let it go now, not when the connection does
        yield commands.SendData(
            self.conn,
            _http1.make_error_response(
                431,
                f"Egress Warden closed this connection: its request head is larger than "
                f"{limit} bytes (proxy.limits.header_bytes)",
            ),
        )
        yield commands.CloseConnection(self.conn)
        self.state = self.done


class BoundedHttp1Client(_http1.Http1Client):
    """mitmproxy's HTTP/1 client side (to the upstream), with a bound on the answer head."""

    def _handle_event(self, event: events.Event) -> layer.CommandGenerator[None]:
        yield from super()._handle_event(event)
        if (
            isinstance(event, events.DataReceived)
            and _still_in_head(self)
            and len(self.buf) > _Limits.header_bytes
        ):
            if _Limits.guard is not None:
                _Limits.guard.refused("answer_header_bytes", None)
            self.buf = ReceiveBuffer()
            yield commands.CloseConnection(self.conn)
            if self.stream_id is not None:
                yield ReceiveHttp(
                    ResponseProtocolError(
                        self.stream_id,
                        f"the upstream's answer head is larger than {_Limits.header_bytes} "
                        "bytes (proxy.limits.header_bytes)",
                        ErrorCode.GENERIC_SERVER_ERROR,
                    )
                )
            self.state = self.done


def install(header_bytes: int, body_bytes: int | None = None) -> None:
    """Make mitmproxy's HTTP layer use the bounded classes (idempotent)."""
    _Limits.header_bytes = header_bytes
    _Limits.body_bytes = body_bytes
    setattr(http_layers, "Http1Server", BoundedHttp1Server)  # noqa: B010
    setattr(http_layers, "Http1Client", BoundedHttp1Client)  # noqa: B010


class Refused(layer.Layer):
    """The layer of a connection the gateway refuses once it has read its first bytes (over
    the head bound, or a tunnel to an unsanctioned host): it closes it."""

    def _handle_event(self, event: events.Event) -> layer.CommandGenerator[None]:
        if isinstance(event, events.Start):
            yield commands.CloseConnection(self.context.client)


def _address(client: connection.Client) -> str:
    return str(client.peername[0]) if client.peername else ""


class ConnectionGuard:
    """Per client address: connections open and heads owed; the head timer; see above."""

    def __init__(
        self,
        limits: ConnectionLimits,
        handlers: Mapping[Any, Any],
        metrics: FlowMetrics,
    ) -> None:
        self.limits = limits
        #: mitmproxy's live connection handlers by client id (``Proxyserver.connections``).
        self._handlers = handlers
        self.metrics = metrics
        self._open: dict[str, int] = {}
        self._counted: set[connection.Client] = set()
        self._owing: dict[str, int] = {}
        self._timers: dict[connection.Client, asyncio.TimerHandle] = {}
        install(limits.header_bytes, limits.body_bytes)
        _Limits.guard = self

    # -- mitmproxy hooks ---------------------------------------------------------------

    def client_connected(self, client: connection.Client) -> None:
        addr = _address(client)
        if self._open.get(addr, 0) >= self.limits.connections_per_client:
            self._refuse(client, "connections_per_client")
            return
        if self._owing.get(addr, 0) >= self.limits.pending_heads_per_client:
            self._refuse(client, "pending_heads_per_client")
            return
        self._open[addr] = self._open.get(addr, 0) + 1
        self._counted.add(client)
        self.head_started(client)  # a new connection owes its first head

    def client_disconnected(self, client: connection.Client) -> None:
        if client not in self._counted:
            return  # refused at connect: never counted
        self._counted.discard(client)
        addr = _address(client)
        self.head_done(client)
        count = self._open.get(addr, 0) - 1
        if count > 0:
            self._open[addr] = count
        else:
            self._open.pop(addr, None)

    def next_layer(self, nextlayer: layer.NextLayer) -> None:
        # Inside a tunnel mitmproxy keeps what the client sent until it can tell the
        # protocol (a TLS hello, an HTTP head with its Host line): bounded like a head.
        if nextlayer.layer is None and len(nextlayer.data_client()) > self.limits.header_bytes:
            self.refused("header_bytes", nextlayer.context.client)
            nextlayer.layer = Refused(nextlayer.context)

    def done(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if _Limits.guard is self:
            _Limits.guard = None

    # -- from the bounded connection classes ---------------------------------------------

    def head_started(self, client: connection.Client) -> None:
        if client in self._timers:
            return
        addr = _address(client)
        self._owing[addr] = self._owing.get(addr, 0) + 1
        loop = asyncio.get_running_loop()
        self._timers[client] = loop.call_later(self.limits.header_seconds, self._expire, client)

    def head_done(self, client: connection.Client) -> None:
        timer = self._timers.pop(client, None)
        if timer is None:
            return
        timer.cancel()
        addr = _address(client)
        count = self._owing.get(addr, 0) - 1
        if count > 0:
            self._owing[addr] = count
        else:
            self._owing.pop(addr, None)

    def refused(self, limit: str, client: connection.Client | None) -> None:
        self.metrics.limits.labels(limit).inc()
        logger.warning(
            "closed a connection%s: over proxy.limits.%s",
            f" from {_address(client)}" if client is not None else " to an upstream",
            limit.removeprefix("answer_"),
        )

    # -- inside ----------------------------------------------------------------------------

    def _refuse(self, client: connection.Client, limit: str) -> None:
        self.refused(limit, client)
        client.error = f"over proxy.limits.{limit}"  # mitmproxy closes it at once

    def _expire(self, client: connection.Client) -> None:
        if self._timers.get(client) is None:
            return
        self.head_done(client)
        self.refused("header_seconds", client)
        handler = self._handlers.get(client.id)
        if handler is None:
            return
        io = handler.transports.get(client)
        if io is None:
            return
        if io.writer is not None:
            with contextlib.suppress(OSError, RuntimeError):  # already closing
                io.writer.write(_REQUEST_TIMEOUT)
        if io.handler is not None:
            io.handler.cancel("request head timeout")
        elif io.writer is not None:
            io.writer.close()

    def pending(self) -> Iterator[tuple[str, int, int]]:
        """(address, open, owing a head) for ``warden doctor`` and tests."""
        for addr, count in self._open.items():
            yield addr, count, self._owing.get(addr, 0)
