"""Conversation ids: read where the provider or the agent names one, never inferred."""

from __future__ import annotations

import json

import pytest

from warden.providers.conversations import (
    ResponseThreads,
    clean_id,
    from_headers,
)

from .helpers import parse

CONV = "6f1c2a9e-3b4d-4c5e-8f90-a1b2c3d4e5f6"


def _json(doc: object) -> bytes:
    return json.dumps(doc).encode()


def test_chatgpt_web_names_its_conversation_in_the_body() -> None:
    body = {
        "action": "next",
        "conversation_id": CONV,
        "messages": [{"author": {"role": "user"}, "content": {"parts": ["hi"]}}],
        "model": "auto",
    }
    assert parse("chatgpt-web", "/backend-api/conversation", _json(body)).conversation == CONV
    first = {k: v for k, v in body.items() if k != "conversation_id"}
    assert parse("chatgpt-web", "/backend-api/conversation", _json(first)).conversation is None


def test_claude_web_names_its_conversation_in_the_path() -> None:
    path = f"/api/organizations/org-1/chat_conversations/{CONV}/completion?rendering_mode=raw"
    parsed = parse("claude-web", path, _json({"prompt": "hi"}))
    assert parsed.conversation == CONV


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"conversation": "conv_abc123"}, "conv_abc123"),
        ({"conversation": {"id": "conv_abc123"}}, "conv_abc123"),
        ({"previous_response_id": "resp_42"}, "resp_42"),
        ({"conversation": "conv_1", "previous_response_id": "resp_42"}, "conv_1"),
        ({}, None),
    ],
)
def test_openai_responses(extra: dict[str, object], expected: str | None) -> None:
    body = {"model": "gpt-4.1", "input": "hello", **extra}
    assert parse("openai", "/v1/responses", _json(body)).conversation == expected


def test_chat_completions_have_no_conversation_of_their_own() -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    parsed = parse("openai", "/v1/chat/completions", _json({**body, "conversation_id": "x1"}))
    assert parsed.conversation is None  # an unknown key of another API is not a guess


def test_agent_session_headers() -> None:
    assert from_headers({"x-claude-code-session-id": CONV}) == CONV
    assert from_headers({"session_id": "0199a1b2-c3d4"}) == "0199a1b2-c3d4"
    assert from_headers({"user-agent": "curl/8"}) is None


@pytest.mark.parametrize(
    "value",
    ["", " ", "a b", "x" * 129, "id\nforged", "<script>", "ü-nicode", 42, None, ["conv"]],
)
def test_hostile_ids_are_no_conversation(value: object) -> None:
    assert clean_id(value) is None
    if isinstance(value, str):
        assert from_headers({"x-claude-code-session-id": value}) is None
        body = {"model": "m", "input": "hi", "conversation": value}
        assert parse("openai", "/v1/responses", _json(body)).conversation is None


def test_response_threads_give_every_turn_of_a_chain_the_first_answers_id() -> None:
    threads = ResponseThreads(max_entries=3)
    assert threads.answered("resp_1", None) == "resp_1"
    assert threads.thread_of("resp_1") == "resp_1"
    assert threads.answered("resp_2", threads.thread_of("resp_1")) == "resp_1"
    assert threads.answered("resp_3", threads.thread_of("resp_2")) == "resp_1"
    threads.answered("resp_x", None)
    threads.answered("resp_y", None)
    # bounded: the oldest entries went; an unknown id starts from itself
    assert threads.thread_of("resp_1") == "resp_1"
    assert threads.thread_of("resp_3") == "resp_1"


def test_the_answer_id_of_a_responses_answer() -> None:
    from warden.providers.apistreams import ResponsesStream
    from warden.providers.conversations import answer_id

    assert answer_id("openai.responses", b'{"id":"resp_7","object":"response"}') == "resp_7"
    assert answer_id("openai.chat_completions", b'{"id":"chatcmpl-1"}') is None
    assert answer_id("openai.responses", b"not json") is None
    assert answer_id("openai.responses", b'{"id":"resp 7"}') is None  # not an id
    stream = ResponsesStream()
    events = stream.feed(
        b'data: {"type":"response.created","response":{"id":"resp_9"}}\n\n'
        b'data: {"type":"response.output_text.delta","delta":"hi"}\n\n'
    )
    assert [e.response_id for e in events] == ["resp_9", None]
