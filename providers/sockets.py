"""WebSocket protocols of the catalog: which upgrades an adapter understands, and what one
client message or server event of such a socket says.

A socket is judged message by message, as an HTTP body is judged request by request. A
``SocketProtocol`` reads a client message into a ``ClientMessage`` (its kind, the model
it names, its text segments at paths inside the message's JSON, so ``rewrite_request``
rewrites it like a body) and a server event into a ``ServerEvent`` (usage, end of a
turn). It never raises on what a peer sent: a message it cannot read comes back
``kind="unreadable"`` with a fixed reason, and the caller refuses it (fail closed).

Messages are decoded with ``jsonbody`` (UTF-8 only, no repeated keys, bounded nesting) in
one pass; the caller bounds their size before (``MAX_MESSAGE_BYTES`` by default).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import parse_qsl

from . import jsonbody, realtime, responses_socket
from .fields import ShapeError
from .jsonbody import BodyError
from .requestpath import split_target
from .socketshapes import ClientMessage, MessageKind, ServerEvent

__all__ = [
    "MAX_MESSAGE_BYTES",
    "ClientMessage",
    "MessageKind",
    "ServerEvent",
    "SocketProtocol",
    "error_event",
    "read_client",
    "read_server",
    "server_lane",
    "socket_protocol",
]

#: Default cap on one WebSocket message (either direction) the gateway reads; larger ones
#: are refused. Codex sends a whole conversation in its first ``response.create``; 16 MiB
#: holds long ones with inline images and stays far below the HTTP body cap.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024

type ClientReader = Callable[[dict[str, object]], ClientMessage]
type ServerReader = Callable[[dict[str, object]], ServerEvent]


@dataclass(frozen=True, slots=True)
class SocketProtocol:
    """One provider socket protocol: its api id and its message readers."""

    api: str
    read_client: ClientReader
    read_server: ServerReader
    #: What a server event that ends a turn holds somewhere in its bytes (its type): other
    #: events are not decoded at all, as they say nothing the gateway records.
    turn_end_markers: tuple[bytes, ...] = ()
    #: A multiplexed socket's lane key as it stands in an event's bytes, and its reader
    #: (Responses ``stream_id``); ``None``: one lane only.
    lane_marker: bytes | None = None
    read_lane: Callable[[dict[str, object]], str | None] | None = None


_RESPONSES = SocketProtocol(
    "openai.responses_websocket",
    responses_socket.read_client,
    responses_socket.read_server,
    responses_socket.TURN_END_MARKERS,
    responses_socket.LANE_MARKER,
    responses_socket.lane_of,
)
_REALTIME = SocketProtocol(
    "openai.realtime", realtime.read_client, realtime.read_server, realtime.TURN_END_MARKERS
)
_AZURE_REALTIME = replace(_REALTIME, api="azure.realtime")

#: (service, path) -> the protocol, and the query parameter that names the model (Azure's
#: first Realtime API names the deployment, which stands for the model as in its HTTP API).
_PROTOCOLS: dict[tuple[str, tuple[str, ...]], tuple[SocketProtocol, str]] = {
    ("openai", ("v1", "responses")): (_RESPONSES, "model"),
    ("openai", ("v1", "realtime")): (_REALTIME, "model"),
    ("azure-openai", ("openai", "realtime")): (_AZURE_REALTIME, "deployment"),
    ("azure-openai", ("openai", "v1", "realtime")): (_AZURE_REALTIME, "model"),
}


def socket_protocol(service_id: str, target: str) -> tuple[SocketProtocol, str | None] | None:
    """The protocol of a WebSocket upgrade to ``target`` (path and query) on ``service_id``,
    and the model the URL names (Realtime's ``?model=``); ``None`` when no adapter knows
    the socket (the caller refuses it unless policy allows unreadable traffic)."""
    path, _, query = target.partition("?")
    found = _PROTOCOLS.get((service_id, split_target(path.split("#", 1)[0])))
    if found is None:
        return None
    protocol, model_parameter = found
    model = None
    for name, value in parse_qsl(query.split("#", 1)[0][:4096], keep_blank_values=True):
        if name == model_parameter and value:
            model = value[:256]
    return protocol, model


def _load(content: bytes) -> dict[str, object] | str:
    try:
        return jsonbody.load_object(content)
    except BodyError as exc:
        return exc.reason
    except RecursionError:
        return "message nesting too deep"


def read_client(protocol: SocketProtocol, content: bytes, is_text: bool) -> ClientMessage:
    """The client message ``content`` read by ``protocol`` (never raises)."""
    if not is_text:
        return ClientMessage("unreadable", "binary", reason="binary messages are not understood")
    doc = _load(content)
    if isinstance(doc, str):
        return ClientMessage("unreadable", "not JSON", reason=doc)
    try:
        return protocol.read_client(doc)
    except ShapeError as exc:
        return ClientMessage("unreadable", _event_of(doc), reason=exc.reason)
    except RecursionError:
        return ClientMessage("unreadable", _event_of(doc), reason="message nesting too deep")


def read_server(protocol: SocketProtocol, content: bytes, is_text: bool) -> ServerEvent:
    """The server event ``content`` read by ``protocol``; an event it cannot read says
    nothing (it still goes to the client: the answer side is not where text leaves), and
    an event without a turn end's marker is not decoded (``event`` is then ``None``)."""
    if not is_text:
        return ServerEvent(None)
    if protocol.turn_end_markers and not any(m in content for m in protocol.turn_end_markers):
        return ServerEvent(None)
    doc = _load(content)
    if isinstance(doc, str):
        return ServerEvent(None)
    try:
        return protocol.read_server(doc)
    except (ShapeError, RecursionError):
        return ServerEvent(_event_of(doc))


def server_lane(protocol: SocketProtocol, content: bytes, is_text: bool) -> str | None:
    """The lane a server event names (Responses ``stream_id``), or ``None``: an event
    without the lane key's bytes is not decoded."""
    marker, read_lane = protocol.lane_marker, protocol.read_lane
    if not is_text or marker is None or read_lane is None or marker not in content:
        return None
    doc = _load(content)
    return None if isinstance(doc, str) else read_lane(doc)


def _event_of(doc: dict[str, object]) -> str:
    kind = doc.get("type")
    return kind[:64] if isinstance(kind, str) else "no type"


def error_event(message: str, code: str, status: int = 403, lane: str | None = None) -> bytes:
    """An ``error`` server event in the shape both OpenAI socket protocols use, which
    their clients show (the Responses socket adds the HTTP-like ``status``); on a lane of
    a multiplexed socket it names the lane, as the provider's own events do, so the
    client's waiting turn gets it."""
    doc: dict[str, object] = {
        "type": "error",
        "status": status,
        "error": {"type": "egress_warden", "code": code, "message": message, "param": None},
    }
    if lane is not None:
        doc["stream_id"] = lane
    return json.dumps(doc, ensure_ascii=False).encode()
