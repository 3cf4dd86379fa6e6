from __future__ import annotations

import pytest

from warden.providers.sse import SseDecoder, SseEvent

from .helpers import splits


def decode(*chunks: bytes) -> list[SseEvent]:
    decoder = SseDecoder()
    events: list[SseEvent] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    return events + decoder.close()


# The examples of the WHATWG HTML standard, section 9.2.6 "Interpreting an event stream".
@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        (b"data: YHOO\ndata: +2\ndata: 10\n\n", [SseEvent("message", "YHOO\n+2\n10")]),
        (
            b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\n"
            b"data:  third event\n\n",
            [
                SseEvent("message", "first event", "1"),
                SseEvent("message", "second event", ""),
                SseEvent("message", " third event", ""),
            ],
        ),
        (b"data\n\ndata\ndata\n\ndata:", [SseEvent("message", ""), SseEvent("message", "\n")]),
        (
            b"data:test\n\ndata: test\n\n",
            [SseEvent("message", "test"), SseEvent("message", "test")],
        ),
        (b"event: add\ndata: 73857293\n\n", [SseEvent("add", "73857293")]),
        (b"event: add\n\ndata: x\n\n", [SseEvent("message", "x")]),  # type resets
        (b"data: a\r\n\r\ndata: b\r\rdata: c\n\n", [SseEvent("message", x) for x in "abc"]),
        (b"\xef\xbb\xbfdata: bom\n\n", [SseEvent("message", "bom")]),
        (b"data: \xff\n\n", [SseEvent("message", "\ufffd")]),
        (b"retry: 3000\ndata: r\n\n", [SseEvent("message", "r", None, 3000)]),
        (b"retry: 3s\nid: a\x00b\ndata: r\n\n", [SseEvent("message", "r")]),
        (b"foo: bar\ndata: x\n\n", [SseEvent("message", "x")]),
        (b"data: unterminated\n", []),
        (b"data: ends with CR\r\r", [SseEvent("message", "ends with CR")]),
    ],
)
def test_standard_examples(stream: bytes, expected: list[SseEvent]) -> None:
    assert decode(stream) == expected


SAMPLE = (
    "\ufeffevent: delta\r\ndata: Grüße 👋\r\ndata: zweite Zeile\r\n\r\n"
    ': keep-alive\r\rdata: {"x": "ü"}\n\nid: 7\rdata: last\r\n\r\n'
).encode()
SAMPLE_EVENTS = [
    SseEvent("delta", "Grüße 👋\nzweite Zeile"),
    SseEvent("message", '{"x": "ü"}'),
    SseEvent("message", "last", "7"),
]


def test_every_split_gives_the_same_events() -> None:
    for chunks in splits(SAMPLE):
        assert decode(*chunks) == SAMPLE_EVENTS, chunks


def test_a_split_crlf_is_one_line_end() -> None:
    assert decode(b"data: a\r", b"\ndata: b\n\n") == [SseEvent("message", "a\nb")]


def test_overlong_line_breaks_the_decoder() -> None:
    decoder = SseDecoder(max_event_bytes=10)
    assert decoder.feed(b"data: ok\n\n") == [SseEvent("message", "ok")]
    assert decoder.feed(b"data: " + b"x" * 20) == []
    assert decoder.broken and decoder.too_large
    assert decoder.feed(b"\n\ndata: later\n\n") == [] and decoder.close() == []


def test_overlong_event_breaks_the_decoder() -> None:
    decoder = SseDecoder(max_event_bytes=10)
    assert decoder.feed(b"data: 1234\ndata: 5678\ndata: 9\n") == []
    assert decoder.broken
