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

from warden.addons.flowcontext import CatalogDestination, FlowContext, Usage
from warden.addons.response import ResponseReader, StreamTap, wants_streaming
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
        destination=CatalogDestination(
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


def test_stream_tap_estimates_and_marks_the_usage_an_app_does_not_report() -> None:
    # Claude's web app: no model and no usage in any event
    flow = _flow()
    parser = stream_parser_for("claude.completion")
    assert parser is not None
    text = "Dear Jane, your order has shipped."  # 34 characters: 9 tokens at 4 a token
    events = [
        {"type": "message_start", "message": {"id": "m", "model": "", "content": []}},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "Hmm"},
        },
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": text}},
        {"type": "message_limit", "message_limit": {"type": "within_limit"}},
        {"type": "message_stop"},
    ]
    wire = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    tap = StreamTap(flow, parser, "identity")
    tap(wire)
    tap(b"")
    assert FlowContext.of(flow).usage == Usage(None, 1 + 9, True)  # thinking counts as output


def test_stream_tap_keeps_a_reported_usage_unmarked() -> None:
    flow = _flow()
    parser = stream_parser_for("openai.chat_completions")
    assert parser is not None
    tap = StreamTap(flow, parser, "identity")
    tap(SSE)
    tap(b"")
    assert FlowContext.of(flow).usage == Usage(11, 2, False)


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


def test_answer_stream_never_hands_mitmproxy_an_empty_chunk() -> None:
    """mitmproxy writes an empty chunk as ``0\\r\\n\\r\\n`` (the end of the body): a stage
    holding a partial event must yield no chunk at all. Fed one byte at a time, the
    restorer holds most bytes back; the stream still returns only non-empty chunks and
    the usage tap reads the whole answer."""
    from warden.addons.response import AnswerStream
    from warden.dlp import PseudonymVault, SseRestorer

    flow = _flow()
    parser = stream_parser_for("openai.chat_completions")
    assert parser is not None
    stream = AnswerStream(flow, StreamTap(flow, parser, "identity"))
    stream.add(SseRestorer("openai.chat_completions", PseudonymVault({"<P_1>": "Ann"})))
    returned = [stream(SSE[i : i + 1]) for i in range(len(SSE))] + [stream(b"")]
    chunks = [c for out in returned for c in out]
    assert b"" not in chunks and [] in returned  # some bytes were held, none sent empty
    assert b"".join(chunks) == SSE
    assert FlowContext.of(flow).usage == Usage(11, 2, False)


def _bedrock_delta(text: str) -> bytes:
    from warden.providers.eventstream import encode_message

    payload = json.dumps({"delta": {"text": text}}).encode()
    return encode_message({":event-type": "contentBlockDelta", ":message-type": "event"}, payload)


#: (api, provider, an answer whose one line, event or message is over 64 KiB)
OVERSIZED = [
    (
        "openai.chat_completions",
        "openai",
        b'data: {"choices": [{"delta": {"content": "' + b"x" * 70000,
    ),
    ("anthropic.messages", "anthropic", b"event: content_block_delta\ndata: " + b"x" * 70000),
    ("openai.responses", "openai", (b"data: " + b"1" * 100 + b"\n") * 1000 + b"\n"),
    ("gemini.stream_generate_content", "google", b"[" + b" " * 10 + b'{"a": "' + b"x" * 70000),
    ("gemini.stream_generate_content", "google", b" " * 70000),
    ("bedrock.converse_stream", "aws", _bedrock_delta("x" * 70000)),
    ("chatgpt.conversation", "openai", b"data: " + b"x" * 70000),
]


@pytest.mark.parametrize(
    ("api", "provider", "answer"),
    OVERSIZED,
    ids=["line", "event", "many-lines", "array", "white-space", "bedrock", "chatgpt"],
)
@pytest.mark.parametrize("pseudonyms", [False, True])
def test_an_oversized_event_cuts_the_answer(
    api: str, provider: str, answer: bytes, pseudonyms: bool
) -> None:
    """Fail closed: the answer ends with the stream's own error event, what follows is
    dropped (never held), and the flow's outcome is upstream_error; with or without the
    pseudonym restorer in the stream."""
    from warden.addons.response import AnswerStream
    from warden.dlp import PseudonymVault, SseRestorer
    from warden.dlp.restore import STREAM_APIS
    from warden.providers.errors import stream_error_event

    flow = _flow()
    limit = 64 * 1024
    parser = stream_parser_for(api, limit)
    assert parser is not None
    cut = stream_error_event(provider, api, "cut", "warden_stream_cut")
    stream = AnswerStream(flow, StreamTap(flow, parser, "identity"), limit, cut)
    if pseudonyms and api in STREAM_APIS:
        stream.add(SseRestorer(api, PseudonymVault({"<P_1>": "Ann"}), limit))
    sent = [c for i in range(0, len(answer), 4096) for c in stream(answer[i : i + 4096])]
    assert sent[-1] == cut and sent.count(cut) == 1
    assert stream(b"x" * 100_000) == [] and stream(b"\n\n") == [] and stream(b"") == []
    assert FlowContext.of(flow).outcome == "upstream_error"


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


def test_a_stream_without_usage_counts_its_output_from_the_streamed_text() -> None:
    """No usage event (a provider or a mock that sends none): the output tokens are the
    streamed text's estimate, marked estimated, so quotas and the audit count them."""
    no_usage = (
        b"".join(
            b'data: {"choices":[{"delta":{"content":"%s"}}]}\n\n' % piece
            for piece in (b"Hel", b"lo, ", b"this is a longer delta")
        )
        + b"data: [DONE]\n\n"
    )
    flow = _flow()
    parser = stream_parser_for("openai.chat_completions")
    assert parser is not None
    tap = StreamTap(flow, parser, "identity")
    tap(no_usage)
    tap(b"")
    # one token per short delta, ceil(22 / 4) = 6 for the long one
    assert FlowContext.of(flow).usage == Usage(None, 1 + 1 + 6, True)


def test_a_stream_with_usage_keeps_the_providers_count() -> None:
    flow = _flow()
    parser = stream_parser_for("openai.chat_completions")
    assert parser is not None
    tap = StreamTap(flow, parser, "identity")
    tap(SSE)
    tap(b"")
    assert FlowContext.of(flow).usage == Usage(11, 2, False)


def test_quotas_count_a_streams_output_from_its_text() -> None:
    """The quota counter takes the stream's estimated output (and estimates the prompt):
    a provider that reports no usage no longer under-counts streams."""
    import time
    import types

    from warden.addons.flowcontext import ResolvedPrincipal
    from warden.addons.policy import QuotaCounter
    from warden.policy.engine import compile_policy
    from warden.policy.facts import PrincipalFacts
    from warden.policy.loader import load_policy
    from warden.policy.quotas import Quotas

    policy = compile_policy(
        load_policy(
            "defaults:\n  quotas:\n    per_user: {tokens_per_day: 100000}\ntenants:\n  acme: {}\n"
        )
    )
    quotas = Quotas(lambda: policy)
    flow = _flow()
    ctx = FlowContext.of(flow)
    ctx.replace(principal=ResolvedPrincipal("acme", "https://idp", "bob", "device")).save(flow)
    parser = stream_parser_for("openai.chat_completions")
    assert parser is not None
    tap = StreamTap(flow, parser, "identity")
    tap(b'data: {"choices":[{"delta":{"content":"twelve chars"}}]}\n\ndata: [DONE]\n\n')
    tap(b"")
    counter = QuotaCounter(types.SimpleNamespace(quotas=quotas))
    counter.response(flow)
    usage = FlowContext.of(flow).usage
    assert usage is not None and usage.output_tokens == 3 and usage.estimated
    used = quotas.usage(PrincipalFacts("acme", "bob", None), time.time())
    assert used and all(scope["tokens_per_day"] == 3 for scope in used.values())
