from __future__ import annotations

import json

import pytest

from warden.providers.responses import parse_usage
from warden.providers.shapes import Usage


def body(doc: object) -> bytes:
    return json.dumps(doc).encode()


CHAT = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}}],
    "usage": {
        "prompt_tokens": 19,
        "completion_tokens": 10,
        "total_tokens": 29,
        "prompt_tokens_details": {"cached_tokens": 0},
    },
}
RESPONSES = {
    "id": "resp_1",
    "object": "response",
    "status": "completed",
    "usage": {"input_tokens": 36, "output_tokens": 87, "total_tokens": 123},
}
ANTHROPIC = {
    "id": "msg_1",
    "type": "message",
    "usage": {
        "input_tokens": 2095,
        "output_tokens": 503,
        "cache_creation_input_tokens": 10,
        "cache_read_input_tokens": 1000,
    },
}
GEMINI = {
    "candidates": [],
    "usageMetadata": {
        "promptTokenCount": 4,
        "candidatesTokenCount": 12,
        "thoughtsTokenCount": 30,
        "totalTokenCount": 46,
    },
}
CONVERSE = {
    "output": {"message": {"role": "assistant", "content": [{"text": "Hi"}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 30, "outputTokens": 628, "totalTokens": 658},
}


@pytest.mark.parametrize(
    ("api", "doc", "usage"),
    [
        ("openai.chat_completions", CHAT, Usage(19, 10)),
        ("azure.chat_completions", CHAT, Usage(19, 10)),
        ("openai.completions", CHAT, Usage(19, 10)),
        ("openai.embeddings", {"usage": {"prompt_tokens": 8, "total_tokens": 8}}, Usage(8, None)),
        ("azure.embeddings", {"usage": {"prompt_tokens": 8, "total_tokens": 8}}, Usage(8, None)),
        ("openai.responses", RESPONSES, Usage(36, 87)),
        ("azure.responses", RESPONSES, Usage(36, 87)),
        ("anthropic.messages", ANTHROPIC, Usage(3105, 503)),
        ("anthropic.messages", {"usage": {"input_tokens": 5, "output_tokens": 1}}, Usage(5, 1)),
        ("gemini.generate_content", GEMINI, Usage(4, 42)),
        ("gemini.generate_content", {"usageMetadata": {"promptTokenCount": 4}}, Usage(4, None)),
        ("gemini.stream_generate_content", [GEMINI, {"candidates": []}], Usage(4, 42)),
        ("bedrock.converse", CONVERSE, Usage(30, 628)),
        ("bedrock.invoke", ANTHROPIC, Usage(3105, 503)),
        (
            "bedrock.invoke",
            {"output": {}, "usage": {"inputTokens": 3, "outputTokens": 4}},
            Usage(3, 4),
        ),
        (
            "bedrock.invoke",
            {"generation": "x", "prompt_token_count": 5, "generation_token_count": 6},
            Usage(5, 6),
        ),
        (
            "bedrock.invoke",
            {"inputTextTokenCount": 7, "results": [{"tokenCount": 8, "outputText": "x"}]},
            Usage(7, 8),
        ),
        ("bedrock.invoke", {"embedding": [0.1], "inputTextTokenCount": 3}, Usage(3, None)),
    ],
)
def test_parse_usage(api: str, doc: object, usage: Usage) -> None:
    assert parse_usage(api, body(doc)) == usage


@pytest.mark.parametrize(
    ("api", "raw"),
    [
        ("openai.chat_completions", b"not json"),
        ("openai.chat_completions", b""),
        ("openai.chat_completions", b"[1]"),
        ("openai.chat_completions", body({"usage": None})),
        ("openai.chat_completions", body({"usage": {"prompt_tokens": "19"}})),
        ("openai.chat_completions", body({"usage": {"prompt_tokens": True}})),
        ("openai.chat_completions", body({"usage": {"prompt_tokens": -3}})),
        ("openai.chat_completions", b"[" * 5000 + b"]" * 5000),
        ("anthropic.messages", body({"usage": [1]})),
        ("gemini.embed_content", body({"embedding": {"values": [0.1]}})),
        ("gemini.stream_generate_content", body([1, {"candidates": []}])),
        ("bedrock.invoke", body({"completion": "x"})),
        ("chatgpt.conversation", body(CHAT)),
        ("unknown.api", body(CHAT)),
    ],
)
def test_no_usage(api: str, raw: bytes) -> None:
    assert parse_usage(api, raw) is None
