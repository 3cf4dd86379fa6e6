"""OpenAI Realtime (``wss://api.openai.com/v1/realtime?model=...``): the client events that
carry text or a model, and the server event that ends a turn.

Text a person or tool sends: ``session.update`` (``session.instructions``; the session
may name its ``model``), ``conversation.item.create`` (message parts ``input_text`` /
``text``, an ``input_audio`` part's ``transcript``, function call arguments and outputs)
and ``response.create`` (``response.instructions`` and out-of-band ``response.input``
items). ``input_audio_buffer.append`` carries base64 audio: counted, not transcribed.
Cancel, commit, clear, delete, truncate and retrieve carry no text. Any other event is not
understood and refused by the caller. ``response.done`` ends a turn with its usage.
"""

from __future__ import annotations

from .fields import Segments, ShapeError, as_object, opt_list, opt_object, opt_str, role_of
from .responses import openai_responses_usage
from .shapes import SegmentPath
from .socketshapes import ClientMessage, ServerEvent

_CONTROL = frozenset(
    {
        "input_audio_buffer.commit",
        "input_audio_buffer.clear",
        "conversation.item.delete",
        "conversation.item.truncate",
        "conversation.item.retrieve",
        "response.cancel",
        "output_audio_buffer.clear",
    }
)
_TEXT_PARTS = frozenset({"input_text", "text", "output_text"})
TURN_END_MARKERS = (b"response.done",)


def _item(segments: Segments, item: dict[str, object], path: SegmentPath) -> None:
    kind = item.get("type")
    if kind in (None, "message"):
        role = role_of(item)
        for j, raw in enumerate(opt_list(item, "content") or ()):
            part = as_object(raw, "content part")
            part_kind = part.get("type")
            if part_kind in _TEXT_PARTS:
                segments.add_field(part, "text", (*path, "content", j), role)
            elif part_kind in ("input_audio", "audio", "output_audio"):
                segments.add_field(part, "transcript", (*path, "content", j), role)
    elif kind == "function_call_output":
        segments.add_field(item, "output", path, "tool")
    elif kind == "function_call":
        segments.add_field(item, "arguments", path, "assistant")


def read_client(doc: dict[str, object]) -> ClientMessage:
    kind = doc.get("type")
    segments = Segments()
    if kind == "input_audio_buffer.append":
        audio = opt_str(doc, "audio") or ""
        return ClientMessage("audio", kind, audio_bytes=len(audio) * 3 // 4)
    if kind == "session.update":
        session = opt_object(doc, "session") or {}
        segments.add_field(session, "instructions", ("session",), "system")
        model = opt_str(session, "model")
        return ClientMessage("input", kind, model, segments.freeze())
    if kind == "conversation.item.create":
        _item(segments, as_object(doc.get("item"), "item"), ("item",))
        return ClientMessage("input", kind, None, segments.freeze())
    if kind == "response.create":
        response = opt_object(doc, "response") or {}
        segments.add_field(response, "instructions", ("response",), "system")
        for i, raw in enumerate(opt_list(response, "input") or ()):
            _item(segments, as_object(raw, "input item"), ("response", "input", i))
        return ClientMessage("turn", kind, None, segments.freeze())
    if kind in _CONTROL:
        return ClientMessage("control", str(kind))
    raise ShapeError("not a client event of the Realtime API")


def read_server(doc: dict[str, object]) -> ServerEvent:
    kind = doc.get("type")
    if kind != "response.done":
        return ServerEvent(kind if isinstance(kind, str) else None)
    response = opt_object(doc, "response")
    usage = opt_object(response, "usage") if response is not None else None
    return ServerEvent(
        kind, openai_responses_usage(usage) if usage is not None else None, ends_turn=True
    )
