"""Restoring pseudonyms in the web apps' answers: Gemini's frames, and the one entry point
that picks the restorer of any streamed answer.

ChatGPT's and Claude's apps answer in server-sent events: ``restore.SseRestorer`` restores
them with the rows ``providers.answerfields`` has for them (ChatGPT's delta encoding
through ``chatgpt_appends``). Gemini's app answers in length-prefixed frames
(``providers.geminiframes``) whose text is cumulative: every frame carries the whole
answer so far, inside a JSON string inside the frame's JSON. ``GeminiFrameRestorer``
restores every string of each frame's inner documents whole (``restore.restore_text``,
the same engine and vault) and writes the frame back with its new length in UTF-16 units;
a frame with nothing to restore, the ``)]}'`` prefix and the white space between frames
go on byte for byte. A placeholder cut at the end of one frame's text is whole in the
next one (the text is cumulative), which the app shows in its place.

Bounded like the SSE restorer: a frame over ``max_event_bytes`` raises
``StreamTooLarge`` (the caller cuts the answer: fail closed). When the framing is lost
(``FrameDecoder.broken``: not a frame stream we know), the rest goes on as it came; it
carries only the placeholders the service saw, never a value it was not sent.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from warden.providers.geminiframes import Frame, FrameDecoder, encode_frame
from warden.providers.sse import DEFAULT_MAX_EVENT_BYTES, StreamTooLarge

from .operators import PseudonymVault
from .restore import STREAM_APIS, SseRestorer, _restore_strings

__all__ = [
    "FRAME_APIS",
    "GeminiFrameRestorer",
    "StreamRestorer",
    "restore_answer_body",
    "restore_streamed_answer",
    "restores_stream",
]

#: Apis whose answers come in Gemini's length-prefixed frames.
FRAME_APIS = frozenset({"gemini_web.stream_generate"})


class StreamRestorer(Protocol):
    def feed(self, chunk: bytes) -> bytes: ...
    def close(self) -> bytes: ...


def _dumps(doc: object) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def _restore_envelope(envelope: Any, vault: PseudonymVault) -> bool:
    """Restores one envelope in place: the JSON document inside ``envelope[2]`` (for
    ``wrb.fr``) and every other string of it."""
    changed = False
    if isinstance(envelope, list) and len(envelope) > 2 and isinstance(envelope[2], str):
        try:
            inner = json.loads(envelope[2])
        except ValueError:
            inner = None
        if isinstance(inner, list | dict):
            inner, changed = _restore_strings(inner, vault)
            if changed:
                envelope[2] = _dumps(inner)
    _, plain = _restore_strings(envelope, vault)
    return changed or plain


class GeminiFrameRestorer:
    """Restores pseudonyms in the bytes of one Gemini web answer (see the module doc)."""

    def __init__(
        self, vault: PseudonymVault | None, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    ) -> None:
        self._vault = vault or PseudonymVault()
        self._limit = max_event_bytes
        self._frames = FrameDecoder(max_event_bytes)
        self._passthrough = False
        self._closed = False

    def feed(self, chunk: bytes) -> bytes:
        if not chunk:
            return self.close()
        if not self._vault or self._passthrough or self._closed:
            return chunk
        out = self._write(self._frames.feed(chunk))
        if self._frames.too_large:
            raise StreamTooLarge(self._limit)
        if self._frames.broken:
            # Framing lost: what was held and the rest of the stream go on as they came.
            self._passthrough = True
            return out + self._frames.rest
        return out

    def close(self) -> bytes:
        if self._closed:
            return b""
        self._closed = True
        if not self._vault or self._passthrough:
            return b""
        out = self._write(self._frames.close())
        return out + self._frames.rest

    def _write(self, items: list[Any]) -> bytes:
        out: list[str] = []
        for item in items:
            if isinstance(item, Frame):
                out.append(self._frame(item))
            else:
                out.append(item.text)
        return "".join(out).encode("utf-8", "backslashreplace")

    def _frame(self, frame: Frame) -> str:
        text = frame.json_text
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            return encode_frame(frame.body)
        changed = False
        if isinstance(doc, list):
            for envelope in doc:
                changed |= _restore_envelope(envelope, self._vault)
        else:
            doc, changed = _restore_strings(doc, self._vault)
        if not changed:
            return encode_frame(frame.body)
        start = frame.body.find(text)
        body = frame.body[:start] + _dumps(doc) + frame.body[start + len(text) :]
        return encode_frame(body)


def restores_stream(api: str | None) -> bool:
    """Whether the streamed answers of ``api`` have a restorer."""
    return api is not None and (api in STREAM_APIS or api in FRAME_APIS)


def restore_streamed_answer(
    api: str, vault: PseudonymVault | None, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
) -> StreamRestorer:
    """The restorer of one streamed answer of ``api`` (``restores_stream(api)`` first)."""
    if api in FRAME_APIS:
        return GeminiFrameRestorer(vault, max_event_bytes)
    return SseRestorer(api, vault, max_event_bytes)


def restore_answer_body(
    api: str, body: bytes, vault: PseudonymVault | None, max_event_bytes: int
) -> bytes:
    """A web-app answer that came whole (with a ``Content-Length``) restored like a stream."""
    restorer = restore_streamed_answer(api, vault, max_event_bytes)
    return restorer.feed(body) + restorer.close()
