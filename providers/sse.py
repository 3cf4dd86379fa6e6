"""Incremental server-sent events decoding, as the WHATWG HTML standard specifies it.

Bytes go in as they arrive, in chunks cut anywhere (inside a UTF-8 character, between
``\\r`` and ``\\n``). Lines end with CRLF, LF or CR; a line starting with ``:`` is a
comment; ``data:`` lines are joined with ``\\n``; one space after the colon is dropped; an
empty line dispatches the event, unless it has no data. Invalid UTF-8 becomes U+FFFD and
one leading byte-order mark is skipped. As the standard says, an event not finished by an
empty line when the stream ends is discarded.

A line longer than ``MAX_LINE_CHARS`` (or an event larger than that) marks the decoder
broken: it returns no further events, rather than holding an unbounded buffer.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

MAX_LINE_CHARS = 16 * 1024 * 1024

_EOL = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class SseEvent:
    event: str  # "message" unless an ``event:`` field said otherwise
    data: str
    id: str | None = None
    retry: int | None = None


class SseDecoder:
    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._started = False
        self._broken = False
        self._event = ""
        self._data: list[str] = []
        self._data_size = 0
        self._id: str | None = None
        self._retry: int | None = None

    @property
    def broken(self) -> bool:
        return self._broken

    def feed(self, chunk: bytes) -> list[SseEvent]:
        return self._decode(self._utf8.decode(chunk, final=False), final=False)

    def close(self) -> list[SseEvent]:
        """Flushes a trailing ``\\r``-ended line; an unfinished event is discarded."""
        return self._decode(self._utf8.decode(b"", final=True), final=True)

    def _decode(self, text: str, *, final: bool) -> list[SseEvent]:
        if self._broken:
            return []
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        buffer = self._buffer + text
        events: list[SseEvent] = []
        pos = 0
        while (m := _EOL.search(buffer, pos)) is not None:
            if m.group() == "\r" and m.end() == len(buffer) and not final:
                break  # maybe the first half of a CRLF split across chunks
            event = self._line(buffer[pos : m.start()])
            if event is not None:
                events.append(event)
            pos = m.end()
        self._buffer = buffer[pos:]
        if len(self._buffer) > MAX_LINE_CHARS or self._data_size > MAX_LINE_CHARS:
            self._broken = True
            self._buffer = ""
            self._data = []
        return events

    def _line(self, line: str) -> SseEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._data_size += len(value) + 1
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> SseEvent | None:
        event_type, self._event = self._event or "message", ""
        if not self._data:
            return None
        data = "\n".join(self._data)
        self._data, self._data_size = [], 0
        return SseEvent(event_type, data, self._id, self._retry)
