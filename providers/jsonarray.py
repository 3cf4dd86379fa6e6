"""Incremental decoding of a streamed top-level JSON array (Gemini's default stream form).

Gemini without ``alt=sse`` answers ``[{...}\\r\\n,{...}\\r\\n]`` and sends each element as
soon as it is ready. This decoder hands out each element once its closing bracket has
arrived, whatever the chunk boundaries. It scans bytes, which is safe for UTF-8: the
bytes of a multi-byte character never look like ASCII quotes, brackets or backslashes.

Elements must be objects or arrays. Anything else where an element or separator belongs,
an element over ``max_element_bytes`` (``too_large``: config ``streams.max_event_bytes``)
or bytes after the closing ``]`` mark the decoder broken: it returns no further elements.
An element that is bracket-balanced but not valid JSON is skipped and decoding goes on.
"""

from __future__ import annotations

import contextlib
import re

from . import jsonbody
from .jsonbody import BodyError
from .sse import DEFAULT_MAX_EVENT_BYTES

_STRUCTURE = re.compile(rb'["{}\[\]]')
_STRING_END = re.compile(rb'["\\]')


class JsonArrayDecoder:
    def __init__(self, max_element_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._limit = max_element_bytes
        self.too_large = False
        self._started = False
        self._done = False
        self._broken = False
        self._depth = 0
        self._in_string = False
        self._escape = False
        self._element = bytearray()

    @property
    def broken(self) -> bool:
        return self._broken

    @property
    def done(self) -> bool:
        """The closing ``]`` has arrived."""
        return self._done

    def feed(self, chunk: bytes) -> list[object]:
        out: list[object] = []
        pos = 0
        while pos < len(chunk) and not self._broken:
            pos = self._element_step(chunk, pos, out) if self._depth else self._outer(chunk, pos)
        return out

    def close(self) -> list[object]:
        if self._depth or (self._started and not self._done):
            self._broken = True  # the stream ended inside the array
        return []

    def _outer(self, chunk: bytes, pos: int) -> int:
        """Between elements: whitespace, ``[``, ``,``, ``]`` or the start of an element."""
        byte = chunk[pos : pos + 1]
        if byte in (b" ", b"\t", b"\r", b"\n"):
            return pos + 1
        if self._done:
            self._broken = True
        elif not self._started:
            self._started = byte == b"["
            self._broken = not self._started
        elif byte == b",":
            pass
        elif byte == b"]":
            self._done = True
        elif byte in (b"{", b"["):
            self._depth = 1
            self._element = bytearray(byte)
        else:
            self._broken = True
        return pos + 1

    def _element_step(self, chunk: bytes, pos: int, out: list[object]) -> int:
        """Inside an element: copy up to the next byte that matters and act on it."""
        pattern = _STRING_END if self._in_string else _STRUCTURE
        if self._escape:
            self._escape = False
            self._element += chunk[pos : pos + 1]
            return pos + 1
        m = pattern.search(chunk, pos)
        end = len(chunk) if m is None else m.end()
        self._element += chunk[pos:end]
        if len(self._element) > self._limit:
            self._broken = self.too_large = True
            self._element = bytearray()
            return len(chunk)
        if m is None:
            return end
        byte = m.group()
        if self._in_string:
            if byte == b"\\":
                self._escape = True
            else:
                self._in_string = False
        elif byte == b'"':
            self._in_string = True
        elif byte in (b"{", b"["):
            self._depth += 1
        else:
            self._depth -= 1
            if self._depth == 0:
                self._finish(out)
        return end

    def _finish(self, out: list[object]) -> None:
        raw, self._element = bytes(self._element), bytearray()
        # Balanced but not JSON: skip this element, the next one may be fine.
        with contextlib.suppress(BodyError):
            out.append(jsonbody.loads(jsonbody.decode_utf8(raw)))
