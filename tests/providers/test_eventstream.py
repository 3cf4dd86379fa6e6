from __future__ import annotations

import struct
import uuid
import zlib

import pytest

from warden.providers.eventstream import EventStreamDecoder, EventStreamMessage

from .frames import event, frame
from .helpers import splits

# The "empty_message" vector of the AWS event-stream test suite.
EMPTY = bytes.fromhex("000000100000000005c248eb7d98c8ff")


def decode(*chunks: bytes) -> tuple[list[EventStreamMessage], EventStreamDecoder]:
    decoder = EventStreamDecoder()
    messages: list[EventStreamMessage] = []
    for chunk in chunks:
        messages += decoder.feed(chunk)
    messages += decoder.close()
    return messages, decoder


def test_aws_empty_message_vector() -> None:
    assert frame({}, b"") == EMPTY
    messages, decoder = decode(EMPTY)
    assert messages == [EventStreamMessage({}, b"")] and not decoder.broken


def test_all_header_types() -> None:
    some_uuid = uuid.UUID("12345678-1234-5678-1234-567812345678").bytes
    block = (
        b"\x01t\x00"
        + b"\x01f\x01"
        + b"\x01b\x02\xff"
        + b"\x01s\x03"
        + struct.pack(">h", -2)
        + b"\x01i\x04"
        + struct.pack(">i", 70000)
        + b"\x01l\x05"
        + struct.pack(">q", 2**40)
        + b"\x01y\x06\x00\x02\x00\x01"
        + b"\x01S\x07\x00\x02\xc3\xbc"
        + b"\x01T\x08"
        + struct.pack(">q", 1731000000000)
        + b"\x01u\x09"
        + some_uuid
    )
    messages, _ = decode(frame(block, b"{}"))
    assert messages == [
        EventStreamMessage(
            {
                "t": True,
                "f": False,
                "b": -1,
                "s": -2,
                "i": 70000,
                "l": 2**40,
                "y": b"\x00\x01",
                "S": "ü",
                "T": 1731000000000,
                "u": some_uuid,
            },
            b"{}",
        )
    ]


STREAM = event("contentBlockDelta", {"delta": {"text": "Grüß"}}) + EMPTY + event("x", {})


def test_every_split_gives_the_same_messages() -> None:
    expected, _ = decode(STREAM)
    assert len(expected) == 3
    assert expected[0].headers[":event-type"] == "contentBlockDelta"
    assert expected[0].payload == '{"delta":{"text":"Grüß"}}'.encode()
    for chunks in splits(STREAM):
        messages, decoder = decode(*chunks)
        assert messages == expected and not decoder.broken


def test_bad_message_crc_drops_that_message_only() -> None:
    bad = bytearray(event("contentBlockDelta", {"delta": {"text": "x"}}))
    bad[-1] ^= 0xFF
    messages, decoder = decode(EMPTY + bytes(bad) + EMPTY)
    assert messages == [EventStreamMessage({}, b""), EventStreamMessage({}, b"")]
    assert decoder.dropped == 1 and not decoder.broken


def test_corrupt_payload_byte_is_caught_by_the_message_crc() -> None:
    bad = bytearray(event("a", {"k": "v"}))
    bad[-6] ^= 0x01
    messages, decoder = decode(bytes(bad))
    assert messages == [] and decoder.dropped == 1


def test_malformed_headers_drop_the_message() -> None:
    messages, decoder = decode(frame(b"\x01a\x0a", b""), frame(b"\x05ab", b""), EMPTY)
    assert messages == [EventStreamMessage({}, b"")] and decoder.dropped == 2


@pytest.mark.parametrize(
    "stream",
    [
        bytes.fromhex("000000100000000005c248ea7d98c8ff"),  # prelude CRC off by one
        struct.pack(">II", 8, 0) + struct.pack(">I", 0xE5B5A3A8),  # too short (CRC made up)
        frame({}, b"")[:-1],  # ends inside a message
    ],
)
def test_unrecoverable_framing_breaks_the_decoder(stream: bytes) -> None:
    messages, decoder = decode(stream, EMPTY)
    assert messages == [] and decoder.broken


def test_impossible_lengths_break_the_decoder() -> None:
    for total, headers_len in ((8, 0), (2**31, 0), (20, 10)):
        prelude = struct.pack(">II", total, headers_len)
        prelude += struct.pack(">I", zlib.crc32(prelude))
        messages, decoder = decode(prelude + b"\x00" * 20)
        assert messages == [] and decoder.broken, (total, headers_len)
