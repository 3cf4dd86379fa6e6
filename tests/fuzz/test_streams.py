"""Fuzzing the stream decoders and parsers of streamed answers (a hostile upstream).

Properties, for every api ``stream_parser_for`` knows and for the decoders below it (SSE,
streamed JSON array, AWS event stream): feeding never raises; the same bytes give the same
events and the same ``broken`` state however they are cut into chunks; the events are
bounded by the input (no more events than bytes, no more text than the stream carried).
``parse_usage`` reads a whole answer of any api without raising.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.providers import frames
from warden.providers.eventstream import EventStreamDecoder
from warden.providers.jsonarray import JsonArrayDecoder
from warden.providers.responses import MAX_TOKEN_COUNT, parse_usage
from warden.providers.shapes import StreamEvent, Usage
from warden.providers.sse import SseDecoder
from warden.providers.streams import STREAMING_APIS, StreamParser, stream_parser_for

from .gemini_streams import frame_streams
from .payloads import PAYLOADS, gemini_chunks, shaped
from .strategies import chunked, encode, json_values, scaled, sse_streams

FAMILY = {
    "openai.chat_completions": "openai",
    "openai.completions": "openai",
    "azure.chat_completions": "openai",
    "azure.completions": "openai",
    "openai.responses": "responses",
    "azure.responses": "responses",
    "anthropic.messages": "anthropic",
    "gemini.stream_generate_content": "gemini",
    "chatgpt.conversation": "chatgpt",
    "claude.completion": "claude",
    "bedrock.converse_stream": "bedrock",
    "bedrock.invoke_stream": "bedrock",
    "gemini_web.stream_generate": "gemini_web",  # its own properties: test_geminiframes.py
}


def test_every_streaming_api_is_fuzzed() -> None:
    assert set(FAMILY) == set(STREAMING_APIS)


def run(parser: StreamParser, chunks: list[bytes]) -> tuple[list[StreamEvent], bool]:
    events: list[StreamEvent] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    events += parser.close()
    return events, parser.broken


def check_parser(api: str, data: bytes, chunks: list[bytes]) -> None:
    whole = run(_parser(api), [data] if data else [])
    cut = run(_parser(api), chunks)
    assert cut == whole, "chunking changed the events"
    events, _ = whole
    assert len(events) <= len(data) + 1
    for usage in (e.usage for e in events if e.usage is not None):
        _assert_bounded(usage)
    if FAMILY[api] != "chatgpt":  # KNOWN: see test_chatgpt_text_is_bounded_by_the_stream
        assert sum(len(e.text or "") for e in events) <= len(data)


def _parser(api: str) -> StreamParser:
    parser = stream_parser_for(api)
    assert parser is not None
    return parser


# --- the stream shapes of each family ---------------------------------------------------


@st.composite
def gemini_arrays(draw: st.DrawFn) -> bytes:
    items = draw(st.lists(shaped(gemini_chunks()), max_size=5))
    sep = draw(st.sampled_from([b",", b"\r\n,", b" , "]))
    body = b"[" + sep.join(encode(i) for i in items) + b"]"
    if draw(st.integers(0, 4)) == 0:  # truncated or with garbage after it
        body = body[: draw(st.integers(0, len(body)))] + draw(st.binary(max_size=4))
    return body


def _event(event_type: str, payload: object) -> bytes:
    headers = {":event-type": event_type, ":message-type": "event"}
    return frames.frame(headers, encode(payload))


@st.composite
def bedrock_streams(draw: st.DrawFn) -> bytes:
    out = b""
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.integers(0, 4))
        if kind == 0:
            name = draw(st.sampled_from(["contentBlockDelta", "metadata", "messageStop", "x"]))
            inner = draw(
                st.one_of(
                    st.fixed_dictionaries({"delta": st.fixed_dictionaries({"text": json_values})}),
                    st.fixed_dictionaries({"usage": json_values}),
                    json_values,
                )
            )
            out += _event(name, inner)
        elif kind == 1:
            model_event = draw(st.one_of(PAYLOADS["anthropic"], PAYLOADS["gemini"], json_values))
            out += _event("chunk", {"bytes": base64.b64encode(encode(model_event)).decode()})
        elif kind == 2:
            raw = draw(st.binary(max_size=40))
            out += _event("chunk", {"bytes": base64.b64encode(raw).decode()})
        elif kind == 3:
            headers = {":message-type": "exception", ":exception-type": "throttlingException"}
            out += frames.frame(headers, b'{"message":"slow down"}')
        else:
            out += frames.frame(draw(st.binary(max_size=30)), draw(st.binary(max_size=30)))
    if out and draw(st.integers(0, 4)) == 0:  # one byte corrupted
        i = draw(st.integers(0, len(out) - 1))
        out = out[:i] + bytes([out[i] ^ (1 << draw(st.integers(0, 7)))]) + out[i + 1 :]
    return out


def stream_bytes(api: str) -> st.SearchStrategy[bytes]:
    family = FAMILY[api]
    if family == "bedrock":
        return bedrock_streams()
    if family == "gemini_web":
        return frame_streams()
    sse = sse_streams(PAYLOADS[family])
    if family == "gemini":
        return st.one_of(sse, gemini_arrays())
    return sse


@pytest.mark.parametrize("api", sorted(FAMILY))
def test_stream_parser(api: str) -> None:
    @scaled(0.5)
    @given(st.data())
    def check(data: st.DataObject) -> None:
        body = data.draw(st.one_of(stream_bytes(api), st.binary(max_size=64)))
        check_parser(api, body, chunked(data.draw, body))

    check()


# --- the decoders -----------------------------------------------------------------------


def _sse(chunks: list[bytes]) -> tuple[list[object], bool]:
    decoder = SseDecoder()
    events: list[object] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    return events + decoder.close(), decoder.broken


@given(st.data())
def test_sse_decoder_chunking(data: st.DataObject) -> None:
    body = data.draw(st.one_of(sse_streams(), st.binary(max_size=80)))
    whole = _sse([body])
    assert _sse(chunked(data.draw, body)) == whole
    events, _ = whole
    assert len(events) <= body.count(b"\n") + body.count(b"\r") + 1


def _array(chunks: list[bytes]) -> tuple[list[object], bool]:
    decoder = JsonArrayDecoder()
    items: list[object] = []
    for chunk in chunks:
        items += decoder.feed(chunk)
    return items + decoder.close(), decoder.broken


@given(st.data())
def test_json_array_decoder(data: st.DataObject) -> None:
    items = data.draw(
        st.lists(
            st.one_of(st.dictionaries(st.text(), json_values), st.lists(json_values)), max_size=5
        )
    )
    body = data.draw(
        st.one_of(
            st.just(b"[" + b",".join(encode(i) for i in items) + b"]"),
            gemini_arrays(),
            st.binary(max_size=60),
        )
    )
    whole = _array([body])
    assert _array(chunked(data.draw, body)) == whole
    if body == b"[" + b",".join(encode(i) for i in items) + b"]":
        assert whole == (json.loads(body), False)


def _eventstream(chunks: list[bytes]) -> tuple[list[object], bool, int]:
    decoder = EventStreamDecoder()
    messages: list[object] = []
    for chunk in chunks:
        messages += decoder.feed(chunk)
    return messages + decoder.close(), decoder.broken, decoder.dropped


@given(st.data())
def test_event_stream_decoder(data: st.DataObject) -> None:
    body = data.draw(st.one_of(bedrock_streams(), st.binary(max_size=60), _bad_preludes()))
    whole = _eventstream([body])
    assert _eventstream(chunked(data.draw, body)) == whole


@st.composite
def _bad_preludes(draw: st.DrawFn) -> bytes:
    """Preludes with a right CRC and any lengths: the lengths are what is trusted."""
    total = draw(st.integers(0, 2**32 - 1))
    headers = draw(st.integers(0, 2**32 - 1))
    prelude = struct.pack(">II", total, headers)
    return prelude + struct.pack(">I", zlib.crc32(prelude)) + draw(st.binary(max_size=40))


_NOT_STREAMED = [
    "openai.embeddings",
    "gemini.generate_content",
    "bedrock.converse",
    "bedrock.invoke",
    "unknown",
]


@pytest.mark.parametrize("api", [*sorted(FAMILY), *_NOT_STREAMED])
def test_parse_usage(api: str) -> None:
    family = FAMILY.get(api, "openai")
    payloads = PAYLOADS.get(family, json_values)

    @scaled(0.2)
    @given(st.one_of(payloads.map(encode), json_values.map(encode), st.binary(max_size=40)))
    @example(b'{"usage":{"prompt_tokens":18446744073709551616,"input_tokens":1e400}}')
    @example(b'{"usageMetadata":{"promptTokenCount":18446744073709551616}}')
    def check(body: bytes) -> None:
        usage = parse_usage(api, body)
        if usage is not None:
            _assert_bounded(usage)

    check()


def _assert_bounded(usage: Usage) -> None:
    """Counts are ints a 64-bit quota counter can add up (found: 2**64 from an upstream)."""
    for count in (usage.input_tokens, usage.output_tokens):
        assert count is None or (isinstance(count, int) and 0 <= count <= 3 * MAX_TOKEN_COUNT)


def test_huge_usage_in_a_stream_is_not_taken() -> None:
    body = b'data: {"type":"message_delta","usage":{"output_tokens":18446744073709551616}}\n\n'
    events, _ = run(_parser("anthropic.messages"), [body])
    assert events == [StreamEvent(None, None, "message_delta")]


def test_chatgpt_text_is_bounded_by_the_stream() -> None:
    """Found by the bounded-output property of ``test_stream_parser[chatgpt.conversation]``."""
    message = {
        "message": {
            "id": "m1",
            "author": {"role": "assistant"},
            "content": {"parts": ["x" * 10_000]},
        }
    }
    body = b"data: " + encode(message) + b"\n\n"
    body += b"".join(b'data: {"p":"/message/id","o":"replace","v":%d}\n\n' % i for i in range(200))
    events, _ = run(_parser("chatgpt.conversation"), [body])
    assert sum(len(e.text or "") for e in events) <= len(body)
