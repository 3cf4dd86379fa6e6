"""Incremental server-sent events decoding, as the WHATWG HTML standard specifies it.

Bytes go in as they arrive, in chunks cut anywhere (inside a UTF-8 character, between
``\\r`` and ``\\n``). Lines end with CRLF, LF or CR; a line starting with ``:`` is a
comment; ``data:`` lines are joined with ``\\n``; one space after the colon is dropped; an
empty line dispatches the event, unless it has no data. Invalid UTF-8 becomes U+FFFD and
one leading byte-order mark is skipped. As the standard says, an event not finished by an
empty line when the stream ends is discarded.

Linear time, bounded memory: ``SseLines`` looks for line ends only in the bytes that
arrived last (the unfinished line is kept as a list of pieces, joined once when its end
comes), so a line that arrives in a million chunks costs what it weighs, not its square.
A line or an event larger than the stream's ``max_event_bytes`` (config
``streams.max_event_bytes``) raises ``StreamTooLarge`` in ``SseLines`` and marks the
decoder ``too_large`` (and broken: no further events), rather than holding an unbounded
buffer. ``SseLines`` also serves the pseudonym restorer, which needs the raw lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: The default of ``streams.max_event_bytes``: the largest SSE line or event, and AWS
#: event-stream message, a streamed answer may carry. Large enough for the base64 images
#: some answers stream (a 1536x1024 PNG is about 4 MB in base64), small enough that a
#: few hundred concurrent streams cannot hold gigabytes.
DEFAULT_MAX_EVENT_BYTES = 8 * 1024 * 1024

_EOL = re.compile(rb"\r\n|\r|\n")


class StreamTooLarge(Exception):
    """A streamed answer carried a line, event or message over the configured limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(
            f"the upstream sent a stream event larger than {limit} bytes "
            "(streams.max_event_bytes); raise that limit if such answers are expected"
        )


class SseLines:
    """Complete lines, each with its line end, out of bytes cut anywhere; linear and
    bounded (see the module doc)."""

    __slots__ = ("_limit", "_pending", "_pending_size")

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._limit = max_line_bytes
        self._pending: list[bytes] = []  # the unfinished line, in pieces
        self._pending_size = 0

    def feed(self, chunk: bytes) -> list[bytes]:
        lines: list[bytes] = []
        pos = 0
        if self._pending and self._pending[-1].endswith(b"\r"):
            # the line ended with a CR in the last chunk: with this chunk's LF it is CRLF
            end = 1 if chunk.startswith(b"\n") else 0
            lines.append(self._take(chunk[:end]))
            pos = end
        for m in _EOL.finditer(chunk, pos):
            if m.end() == len(chunk) and m.group() == b"\r":
                break  # maybe the first half of a CRLF split across chunks
            if self._pending:
                lines.append(self._take(chunk[pos : m.end()]))
            else:
                lines.append(chunk[pos : m.end()])
            pos = m.end()
        rest = chunk[pos:]
        if rest:
            self._pending.append(rest)
            self._pending_size += len(rest)
            if self._pending_size > self._limit:
                self._pending, self._pending_size = [], 0
                raise StreamTooLarge(self._limit)
        return lines

    def close(self) -> tuple[list[bytes], bytes]:
        """At the end of the stream: a last line ended by a lone CR, and the bytes of an
        unfinished line (without a line end)."""
        if self._pending and self._pending[-1].endswith(b"\r"):
            return [self._take(b"")], b""
        return [], self._take(b"")

    def _take(self, tail: bytes) -> bytes:
        line = b"".join(self._pending) + tail
        self._pending, self._pending_size = [], 0
        return line


def strip_eol(line: bytes) -> bytes:
    if line.endswith(b"\r\n"):
        return line[:-2]
    if line.endswith((b"\n", b"\r")):
        return line[:-1]
    return line


@dataclass(frozen=True, slots=True)
class SseEvent:
    event: str  # "message" unless an ``event:`` field said otherwise
    data: str
    id: str | None = None
    retry: int | None = None


class SseDecoder:
    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._lines = SseLines(max_event_bytes)
        self._limit = max_event_bytes
        self._started = False
        self._broken = False
        self._too_large = False
        self._event = ""
        self._data: list[str] = []
        self._data_size = 0
        self._id: str | None = None
        self._retry: int | None = None

    @property
    def broken(self) -> bool:
        return self._broken

    @property
    def too_large(self) -> bool:
        """True once a line or an event went over ``max_event_bytes`` (then also broken)."""
        return self._too_large

    def feed(self, chunk: bytes) -> list[SseEvent]:
        if self._broken:
            return []
        try:
            lines = self._lines.feed(chunk)
        except StreamTooLarge:
            self._break()
            return []
        return self._decode(lines)

    def close(self) -> list[SseEvent]:
        """Flushes a trailing ``\\r``-ended line; an unfinished event is discarded."""
        if self._broken:
            return []
        lines, _ = self._lines.close()
        return self._decode(lines)

    def _break(self) -> None:
        self._broken = self._too_large = True
        self._data, self._data_size = [], 0

    def _decode(self, lines: list[bytes]) -> list[SseEvent]:
        events: list[SseEvent] = []
        for raw in lines:
            line = strip_eol(raw).decode("utf-8", errors="replace")
            if not self._started:
                self._started = True
                line = line.removeprefix("\ufeff")
            event = self._line(line)
            if event is not None:
                events.append(event)
            if self._data_size > self._limit:
                self._break()
                return events
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
