from __future__ import annotations

import json

import pytest

from warden.providers.apistreams import (
    AnthropicStream,
    GeminiStream,
    OpenAIChatStream,
    ResponsesStream,
)
from warden.providers.shapes import StreamEvent, Usage

from .helpers import feed_all, is_broken, splits


def sse(*events: tuple[str | None, object]) -> bytes:
    out = ""
    for name, data in events:
        if name:
            out += f"event: {name}\n"
        out += (
            f"data: {data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}\n\n"
        )
    return out.encode()


def chat_chunk(delta: dict[str, object], usage: object = None, finish: str | None = None) -> object:
    choices = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1731000000,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_1",
        "choices": choices if usage is None else [],
        "usage": usage,
    }


OPENAI_CHAT_STREAM = sse(
    (None, chat_chunk({"role": "assistant", "content": "", "refusal": None})),
    (None, chat_chunk({"content": "Grüß"})),
    (None, chat_chunk({"content": " dich 👋"})),
    (None, chat_chunk({}, finish="stop")),
    (None, chat_chunk({}, {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12})),
    (None, "[DONE]"),
)
CHUNK = "chat.completion.chunk"
OPENAI_CHAT_EVENTS = [
    StreamEvent(None, None, CHUNK),
    StreamEvent("Grüß", None, CHUNK),
    StreamEvent(" dich 👋", None, CHUNK),
    StreamEvent(None, None, CHUNK),
    StreamEvent(None, Usage(9, 3), CHUNK),
]

RESPONSES_STREAM = sse(
    (
        "response.created",
        {
            "type": "response.created",
            "sequence_number": 0,
            "response": {"id": "resp_1", "status": "in_progress", "usage": None},
        },
    ),
    (
        "response.output_text.delta",
        {
            "type": "response.output_text.delta",
            "sequence_number": 4,
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": "Hallo",
        },
    ),
    ("response.refusal.delta", {"type": "response.refusal.delta", "delta": "nein"}),
    (
        "response.completed",
        {
            "type": "response.completed",
            "sequence_number": 9,
            "response": {
                "id": "resp_1",
                "status": "completed",
                "usage": {
                    "input_tokens": 11,
                    "input_tokens_details": {"cached_tokens": 0},
                    "output_tokens": 2,
                    "output_tokens_details": {"reasoning_tokens": 0},
                    "total_tokens": 13,
                },
            },
        },
    ),
)
RESPONSES_EVENTS = [
    StreamEvent(None, None, "response.created", "resp_1"),  # the answer id
    StreamEvent("Hallo", None, "response.output_text.delta"),
    StreamEvent("nein", None, "response.refusal.delta"),
    StreamEvent(None, Usage(11, 2), "response.completed"),
]

ANTHROPIC_STREAM = sse(
    (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": "claude-sonnet-4-5",
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": 25,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 100,
                    "output_tokens": 1,
                },
            },
        },
    ),
    (
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ),
    ("ping", {"type": "ping"}),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "Hello"},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": '{"a"'},
        },
    ),
    (
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}},
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 15},
        },
    ),
    ("message_stop", {"type": "message_stop"}),
)
ANTHROPIC_EVENTS = [
    StreamEvent(None, Usage(125, 1), "message_start"),
    StreamEvent(None, None, "content_block_start"),
    StreamEvent(None, None, "ping"),
    StreamEvent("Hello", None, "content_block_delta"),
    StreamEvent(None, None, "content_block_delta"),
    StreamEvent("!", None, "content_block_delta"),
    StreamEvent(None, None, "content_block_stop"),
    StreamEvent(None, Usage(125, 15), "message_delta"),
    StreamEvent(None, None, "message_stop"),
]


def gemini_chunk(text: str, usage: dict[str, int], thought: str | None = None) -> dict[str, object]:
    parts: list[dict[str, object]] = [{"text": text}]
    if thought:
        parts.insert(0, {"text": thought, "thought": True})
    return {
        "candidates": [{"content": {"parts": parts, "role": "model"}, "index": 0}],
        "usageMetadata": usage,
        "modelVersion": "gemini-2.5-flash",
        "responseId": "abc",
    }


GEMINI_CHUNKS = [
    gemini_chunk("Hello", {"promptTokenCount": 8, "totalTokenCount": 8}, thought="plan"),
    gemini_chunk(
        " wörld",
        {
            "promptTokenCount": 8,
            "candidatesTokenCount": 4,
            "thoughtsTokenCount": 10,
            "totalTokenCount": 22,
        },
    ),
]
GEMINI_SSE = sse(*((None, c) for c in GEMINI_CHUNKS)).replace(b"\n", b"\r\n")
GEMINI_ARRAY = (
    "["
    + "\r\n,\r\n".join(json.dumps(c, indent=2, ensure_ascii=False) for c in GEMINI_CHUNKS)
    + "\r\n]"
).encode()
GEMINI_EVENTS = [
    StreamEvent("Hello", Usage(8, None), None),
    StreamEvent(" wörld", Usage(8, 14), None),
]

CASES = [
    pytest.param(OpenAIChatStream, OPENAI_CHAT_STREAM, OPENAI_CHAT_EVENTS, id="openai-chat"),
    pytest.param(ResponsesStream, RESPONSES_STREAM, RESPONSES_EVENTS, id="responses"),
    pytest.param(AnthropicStream, ANTHROPIC_STREAM, ANTHROPIC_EVENTS, id="anthropic"),
    pytest.param(GeminiStream, GEMINI_SSE, GEMINI_EVENTS, id="gemini-sse"),
    pytest.param(GeminiStream, GEMINI_ARRAY, GEMINI_EVENTS, id="gemini-array"),
]


@pytest.mark.parametrize(("factory", "stream", "expected"), CASES)
def test_every_split_gives_the_same_events(
    factory: type[OpenAIChatStream], stream: bytes, expected: list[StreamEvent]
) -> None:
    for chunks in splits(stream):
        parser = factory()
        assert feed_all(parser, chunks) == expected
        assert not parser.broken


def test_legacy_completions_and_several_choices() -> None:
    stream = sse(
        (
            None,
            {
                "object": "text_completion",
                "choices": [{"text": "a", "index": 0}, {"text": "b", "index": 1}],
            },
        ),
        (None, {"choices": [{"delta": {"content": "c"}}, "junk", {"delta": {"content": 5}}]}),
    )
    assert feed_all(OpenAIChatStream(), [stream]) == [
        StreamEvent("ab", None, "text_completion"),
        StreamEvent("c", None, None),
    ]


@pytest.mark.parametrize(
    "factory", [OpenAIChatStream, ResponsesStream, AnthropicStream, GeminiStream]
)
def test_garbage_yields_no_events_and_the_parser_goes_on(factory: type[OpenAIChatStream]) -> None:
    garbage = b'data: {not json\n\ndata: [1,2]\n\ndata: "str"\n\n: comment\n\n'
    parser = factory()
    assert parser.feed(garbage) == []
    assert not parser.broken


def test_wrong_types_inside_valid_json_do_not_raise() -> None:
    stream = sse(
        (None, {"choices": "x", "usage": "y"}),
        (
            None,
            {
                "choices": [{"delta": "x"}],
                "usage": {"prompt_tokens": "9", "completion_tokens": True},
            },
        ),
        (None, {"choices": [], "usage": {"prompt_tokens": -1, "completion_tokens": 2}}),
    )
    assert feed_all(OpenAIChatStream(), [stream]) == [
        StreamEvent(None, None, None),
        StreamEvent(None, None, None),
        StreamEvent(None, Usage(None, 2), None),
    ]
    anthropic = sse(
        ("message_start", {"type": "message_start", "message": "x"}),
        ("content_block_delta", {"type": "content_block_delta", "delta": {"type": "text_delta"}}),
        ("message_delta", {"type": "message_delta", "usage": []}),
    )
    assert [e.text for e in feed_all(AnthropicStream(), [anthropic])] == [None, None, None]


def test_gemini_array_garbage_breaks_the_parser() -> None:
    parser = GeminiStream()
    assert parser.feed(b"  \r\n") == [] and not parser.broken
    assert parser.feed(b'[{"candidates": []}, 7]') == [StreamEvent(None, None, None)]
    assert is_broken(parser)
    assert parser.feed(b'{"candidates": []}') == []
