"""OpenAI Responses over a WebSocket (``wss://api.openai.com/v1/responses``, "WebSocket
mode", Codex CLI's default transport): client events and the server events that matter.

Client events: ``response.create`` carries the same top-level fields as the body of
``POST /v1/responses`` (model, instructions, input, tools ...; ``stream`` is implicit),
so its text is read by the HTTP adapter's own reader; Codex's warm-up (``generate:
false``) is the same event. ``response.append`` (the first version of the mode) adds
input items and asks for the next answer; ``response.steer`` queues input (a string or
messages) for a running response. ``response.cancel`` carries no text. Any other event
is not understood and refused by the caller. A ``stream_id`` runs the turn on one lane of
a multiplexed socket; the server's events of that turn carry it back.

Server events are the streamed Responses events, one JSON document per message; a turn
ends with ``response.completed`` (or ``.incomplete``, ``.failed``, ``error``), which
carries the usage.
"""

from __future__ import annotations

from .fields import ShapeError, opt_object
from .openai import extract_responses
from .responses import openai_responses_usage
from .socketshapes import ClientMessage, ServerEvent

_TURN_ENDS = frozenset({"response.completed", "response.incomplete", "response.failed", "error"})
TURN_END_MARKERS = (b"response.completed", b"response.incomplete", b"response.failed", b"error")
LANE_MARKER = b'"stream_id"'


def read_client(doc: dict[str, object]) -> ClientMessage:
    kind = doc.get("type")
    if kind in ("response.create", "response.append", "response.steer"):
        extracted = extract_responses(doc)
        return ClientMessage(
            "input" if kind == "response.steer" else "turn",
            kind,
            extracted.model,
            extracted.segments,
            lane=lane_of(doc),
        )
    if kind == "response.cancel":
        return ClientMessage("control", kind)
    raise ShapeError("not a client event of the Responses WebSocket mode")


def read_server(doc: dict[str, object]) -> ServerEvent:
    kind = doc.get("type")
    if kind not in _TURN_ENDS:
        return ServerEvent(kind if isinstance(kind, str) else None)
    response = opt_object(doc, "response") if kind != "error" else None
    usage = opt_object(response, "usage") if response is not None else None
    return ServerEvent(
        str(kind),
        openai_responses_usage(usage) if usage is not None else None,
        ends_turn=True,
        lane=lane_of(doc),
    )


def lane_of(doc: dict[str, object]) -> str | None:
    """``stream_id``: one socket runs parallel conversations on lanes; events name theirs."""
    lane = doc.get("stream_id")
    return lane[:128] if isinstance(lane, str) else None
