"""Response addon: what is streamed, and usage read from compressed streams on the side."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable

import brotli
import pytest
import zstandard
from mitmproxy import http
from mitmproxy.test import taddons, tflow

from warden.addons.response import ResponseReader, StreamTap, wants_streaming
from warden.context import Destination, FlowContext, Usage
from warden.providers.parse import stream_parser_for

SSE = (
    b'data: {"choices":[{"delta":{"content":"Hel"}}]}\n\n'
    b'data: {"choices":[{"delta":{"content":"lo"}}]}\n\n'
    b'data: {"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":2,"total_tokens":13}}\n\n'
    b"data: [DONE]\n\n"
)

ENCODERS = {
    "identity": lambda b: b,
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": zstandard.ZstdCompressor().compress,
}


def _flow(stream: bool = True) -> http.HTTPFlow:
    flow = tflow.tflow(resp=True)
    FlowContext(
        destination=Destination(
            "openai",
            "openai",
            "api",
            "api.openai.com",
            "openai.chat_completions",
            "gpt-4o",
            stream,
            True,
        )
    ).save(flow)
    return flow


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
def test_stream_tap_passes_bytes_through_and_reads_usage(encoding: str) -> None:
    flow = _flow()
    parser = stream_parser_for("openai.chat_completions")
    assert parser is not None
    tap = StreamTap(flow, parser, encoding)
    wire = ENCODERS[encoding](SSE)
    out = b"".join(tap(wire[i : i + 7]) for i in range(0, len(wire), 7)) + tap(b"")
    assert out == wire  # the client gets the bytes as they came, encoding and all
    assert FlowContext.of(flow).usage == Usage(11, 2, False)


def test_stream_tap_survives_a_corrupt_body() -> None:
    flow = _flow()
    parser = stream_parser_for("openai.chat_completions")
    assert parser is not None
    tap = StreamTap(flow, parser, "gzip")
    assert tap(b"definitely not gzip") == b"definitely not gzip"
    assert tap(b"") == b""
    assert FlowContext.of(flow).usage is None


@pytest.mark.parametrize(
    ("headers", "requested", "expected"),
    [
        ({"content-type": "text/event-stream; charset=utf-8"}, False, True),
        ({"content-type": "application/vnd.amazon.eventstream"}, False, True),
        ({"content-type": "application/json", "content-length": "10"}, True, False),
        ({"content-type": "application/json"}, True, True),
        ({"content-type": "application/json"}, False, False),
    ],
)
def test_what_is_streamed(headers: dict[str, str], requested: bool, expected: bool) -> None:
    resp = http.Response.make(200, b"", headers)
    if "content-length" not in headers:
        resp.headers.pop("content-length", None)
    assert wants_streaming(resp, requested) is expected


def test_plain_response_usage_is_read() -> None:
    reader = ResponseReader()
    flow = _flow(stream=False)
    assert flow.response is not None
    flow.response.content = json.dumps(
        {
            "choices": [{"message": {"content": "hi"}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1},
        }
    ).encode()
    flow.response.headers["content-type"] = "application/json"
    with taddons.context(reader):
        reader.responseheaders(flow)
        assert flow.response.stream is False
        reader.response(flow)
    assert FlowContext.of(flow).usage == Usage(5, 1, False)


MIB = 1024 * 1024
BOMBS: dict[str, Callable[[int], bytes]] = {
    "gzip": lambda n: gzip.compress(bytes(n), 9),
    "deflate": lambda n: zlib.compress(bytes(n), 9),
    "br": lambda n: brotli.compress(bytes(n), quality=1),  # type: ignore[no-untyped-call]
    "zstd": lambda n: zstandard.ZstdCompressor().compress(bytes(n)),
}


@pytest.mark.parametrize("encoding", sorted(BOMBS))
def test_an_answer_that_decodes_past_the_limit_is_withheld(encoding: str) -> None:
    """Before, ``get_content`` inflated the whole answer (1 MB of gzip: 1 GiB) first."""
    reader = ResponseReader(decoded_body_bytes=1 * MIB)
    flow = _flow(stream=False)
    assert flow.response is not None
    flow.response.headers["content-type"] = "application/json"
    flow.response.headers["content-encoding"] = encoding
    flow.response.raw_content = BOMBS[encoding](8 * MIB)
    with taddons.context(reader):
        reader.response(flow)
    assert flow.response.status_code == 502
    message = json.loads(flow.response.content or b"")["error"]["message"]
    assert "larger than 1048576 bytes once decoded" in message
    assert FlowContext.of(flow).outcome == "upstream_error"  # recorded as such


@pytest.mark.parametrize("encoding", sorted(BOMBS))
def test_a_streamed_bomb_stops_the_usage_reader_not_the_stream(encoding: str) -> None:
    flow = _flow()
    parser = stream_parser_for("openai.chat_completions")
    assert parser is not None
    tap = StreamTap(flow, parser, encoding, limit=1 * MIB)
    wire = BOMBS[encoding](8 * MIB)
    out = b"".join(tap(wire[i : i + 4096]) for i in range(0, len(wire), 4096)) + tap(b"")
    assert out == wire
    assert FlowContext.of(flow).usage is None
