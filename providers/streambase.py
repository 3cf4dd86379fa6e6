"""The ``StreamParser`` interface and what stream parsers share: running usage totals and
the server-sent-events plumbing.

A parser is fed the content-decoded body of one streamed answer in chunks of any size and
returns ``StreamEvent``s. It never raises on what the server sent: a payload it cannot
read yields no event and the parser goes on; only a framing error it cannot recover from
(see each decoder) marks it ``broken``, after which it returns no events. A line, event or
message over the stream's ``max_event_bytes`` marks it ``too_large`` (and broken): the
caller cuts the answer there, since it can no longer read it (fail closed).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from . import jsonbody
from .jsonbody import BodyError
from .shapes import StreamEvent, Usage
from .sse import DEFAULT_MAX_EVENT_BYTES, SseDecoder, SseEvent, StreamTooLarge

__all__ = ["DEFAULT_MAX_EVENT_BYTES", "SseStreamParser", "StreamParser", "StreamTooLarge"]


class StreamParser(ABC):
    @property
    @abstractmethod
    def broken(self) -> bool:
        """True once the stream's framing is lost; no more events will come."""

    @property
    def too_large(self) -> bool:
        """True once the stream carried more than ``max_event_bytes`` in one piece."""
        return False

    @abstractmethod
    def feed(self, chunk: bytes) -> list[StreamEvent]:
        """Events completed by ``chunk``."""

    @abstractmethod
    def close(self) -> list[StreamEvent]:
        """Events completed by the end of the stream."""


class UsageTotals:
    """Running usage: a later count replaces an earlier one, a missing count keeps it."""

    def __init__(self) -> None:
        self._input: int | None = None
        self._output: int | None = None

    def merge(self, usage: Usage | None) -> Usage | None:
        """The totals after ``usage``; ``None`` when ``usage`` is ``None``."""
        if usage is None:
            return None
        if usage.input_tokens is not None:
            self._input = usage.input_tokens
        if usage.output_tokens is not None:
            self._output = usage.output_tokens
        return Usage(self._input, self._output, False)


def json_object(text: str) -> dict[str, object] | None:
    """An answer's event payload as an object (``jsonbody.loads_answer``: no repeat check)."""
    try:
        doc = jsonbody.loads_answer(text)
    except BodyError:
        return None
    return doc if isinstance(doc, dict) else None


def sub_object(doc: dict[str, object], key: str) -> dict[str, object] | None:
    value = doc.get(key)
    return value if isinstance(value, dict) else None


def event_name(event: SseEvent, doc: dict[str, object] | None) -> str | None:
    """The SSE ``event:`` name if one was given, else the payload's ``type``."""
    if event.event != "message":
        return event.event
    kind = doc.get("type") if doc is not None else None
    return kind if isinstance(kind, str) else None


class SseStreamParser(StreamParser):
    """A parser for providers that stream server-sent events; subclasses read one event."""

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._sse = SseDecoder(max_event_bytes)
        self._usage = UsageTotals()

    @property
    def broken(self) -> bool:
        return self._sse.broken

    @property
    def too_large(self) -> bool:
        return self._sse.too_large

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        return self._read(self._sse.feed(chunk))

    def close(self) -> list[StreamEvent]:
        return self._read(self._sse.close())

    def _read(self, events: list[SseEvent]) -> list[StreamEvent]:
        out = []
        for event in events:
            if event.data.strip() == "[DONE]":
                continue
            try:
                item = self._on_event(event)
            except Exception:  # noqa: S112 - a payload we cannot read yields no event
                continue
            if item is not None:
                out.append(item)
        return out

    @abstractmethod
    def _on_event(self, event: SseEvent) -> StreamEvent | None: ...
