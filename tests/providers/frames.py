"""Builds AWS event-stream messages for the tests (string headers only, unless raw)."""

from __future__ import annotations

import base64
import json
import struct
import zlib


def string_headers(headers: dict[str, str]) -> bytes:
    out = b""
    for name, value in headers.items():
        raw = value.encode()
        out += bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(raw)) + raw
    return out


def frame(headers: dict[str, str] | bytes, payload: bytes) -> bytes:
    block = headers if isinstance(headers, bytes) else string_headers(headers)
    total = 12 + len(block) + len(payload) + 4
    prelude = struct.pack(">II", total, len(block))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + block + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event(event_type: str, payload: object) -> bytes:
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return frame(headers, json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())


def chunk(model_event: object) -> bytes:
    """An InvokeModelWithResponseStream ``chunk`` carrying the model's own event."""
    raw = json.dumps(model_event, ensure_ascii=False).encode()
    return event("chunk", {"bytes": base64.b64encode(raw).decode(), "p": "abcdefgh"})
