"""Incremental decoding of AWS event-stream framing (``application/vnd.amazon.eventstream``).

Each message: a 12-byte prelude (total length u32, headers length u32, CRC32 of those 8
bytes), the headers, the payload, and the CRC32 of everything before it, all big-endian.
A header is a 1-byte name length, the name, a 1-byte value type and the value.

Corruption handling, as the format allows: a message whose final CRC is wrong (the
prelude being right) is dropped and decoding goes on with the next message, since its
length was trustworthy. A wrong prelude CRC, an impossible length or a stream that ends
inside a message leaves no way to find the next message boundary: the decoder marks
itself broken and returns nothing more. A message longer than the cap (within the
format) also marks it ``too_large``: the answer is cut there (fail closed).

Linear time: the buffer is a ``bytearray`` (appends and deletes at the front are
amortized O(1) per byte) and a message's length is known from its prelude, so a message
arriving in many chunks is not rescanned.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

#: AWS caps event-stream messages at 16 MiB of payload and 128 KiB of headers; the stream's
#: ``max_event_bytes`` (config ``streams.max_event_bytes``) may set a lower cap.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024 + 128 * 1024 + 16
PRELUDE_BYTES = 12
MIN_MESSAGE_BYTES = PRELUDE_BYTES + 4

HeaderValue = bool | int | bytes | str

_FIXED = {2: ">b", 3: ">h", 4: ">i", 5: ">q", 8: ">q"}  # byte, short, int, long, timestamp


@dataclass(frozen=True, slots=True)
class EventStreamMessage:
    headers: dict[str, HeaderValue]
    payload: bytes


def _headers(raw: bytes) -> dict[str, HeaderValue]:
    """Raises ``ValueError``, ``IndexError`` or ``struct.error`` on a malformed block."""
    headers: dict[str, HeaderValue] = {}
    pos = 0
    while pos < len(raw):
        name_len = raw[pos]
        name = raw[pos + 1 : pos + 1 + name_len].decode("utf-8")
        pos += 1 + name_len
        kind = raw[pos]
        pos += 1
        value: HeaderValue
        if kind in (0, 1):
            value = kind == 0
        elif kind in _FIXED:
            fmt = _FIXED[kind]
            (value,) = struct.unpack_from(fmt, raw, pos)
            pos += struct.calcsize(fmt)
        elif kind in (6, 7):
            (length,) = struct.unpack_from(">H", raw, pos)
            data = raw[pos + 2 : pos + 2 + length]
            if len(data) != length:
                raise ValueError("truncated header value")
            value = data.decode("utf-8") if kind == 7 else data
            pos += 2 + length
        elif kind == 9:
            value = raw[pos : pos + 16]
            pos += 16
        else:
            raise ValueError("unknown header value type")
        if pos > len(raw):
            raise ValueError("truncated header")
        headers[name] = value
    return headers


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message with string headers (for the gateway's own error events)."""
    raw_headers = b"".join(
        struct.pack(">B", len(name.encode()))
        + name.encode()
        + struct.pack(">BH", 7, len(value.encode()))
        + value.encode()
        for name, value in headers.items()
    )
    total = PRELUDE_BYTES + len(raw_headers) + len(payload) + 4
    head = struct.pack(">II", total, len(raw_headers))
    prelude = head + struct.pack(">I", zlib.crc32(head))
    body = prelude + raw_headers + payload
    return body + struct.pack(">I", zlib.crc32(body))


class EventStreamDecoder:
    def __init__(self, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self._limit = min(max_message_bytes, MAX_MESSAGE_BYTES)
        self._buffer = bytearray()
        self._broken = False
        self.too_large = False
        self.dropped = 0  # messages dropped for a wrong message CRC or bad headers

    @property
    def broken(self) -> bool:
        return self._broken

    def feed(self, chunk: bytes) -> list[EventStreamMessage]:
        if self._broken:
            return []
        self._buffer += chunk
        messages: list[EventStreamMessage] = []
        while len(self._buffer) >= PRELUDE_BYTES:
            total, headers_len, prelude_crc = struct.unpack_from(">III", self._buffer)
            if (
                zlib.crc32(self._buffer[:8]) != prelude_crc
                or not MIN_MESSAGE_BYTES <= total <= MAX_MESSAGE_BYTES
                or headers_len > total - MIN_MESSAGE_BYTES
            ):
                self._broken = True
                self._buffer = bytearray()
                break
            if total > self._limit:
                self._broken = self.too_large = True
                self._buffer = bytearray()
                break
            if len(self._buffer) < total:
                break
            frame = bytes(self._buffer[:total])
            del self._buffer[:total]
            message = self._message(frame, headers_len)
            if message is None:
                self.dropped += 1
            else:
                messages.append(message)
        return messages

    def close(self) -> list[EventStreamMessage]:
        if self._buffer:
            self._broken = True  # the stream ended inside a message
            self._buffer = bytearray()
        return []

    @staticmethod
    def _message(frame: bytes, headers_len: int) -> EventStreamMessage | None:
        (message_crc,) = struct.unpack_from(">I", frame, len(frame) - 4)
        if zlib.crc32(frame[:-4]) != message_crc:
            return None
        try:
            headers = _headers(frame[PRELUDE_BYTES : PRELUDE_BYTES + headers_len])
        except (ValueError, IndexError, struct.error):
            return None
        return EventStreamMessage(headers, frame[PRELUDE_BYTES + headers_len : -4])
