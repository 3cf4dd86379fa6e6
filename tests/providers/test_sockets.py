"""The WebSocket protocol adapters: which upgrades are understood, what each client
message asks (kind, model, text at paths the rewriter can use) and what server events
say; messages the adapters cannot read are ``unreadable``, never an exception."""

from __future__ import annotations

import gc
import json
import time
from typing import Any

import pytest

from warden.providers.rewrite import rewrite_request
from warden.providers.shapes import Usage
from warden.providers.sockets import (
    SocketProtocol,
    error_event,
    read_client,
    read_server,
    socket_protocol,
)


def protocol(target: str) -> SocketProtocol:
    found = socket_protocol("openai", target)
    assert found is not None
    return found[0]


RESPONSES = protocol("/v1/responses")
REALTIME = protocol("/v1/realtime?model=gpt-realtime")


@pytest.mark.parametrize(
    ("service", "target", "api", "model"),
    [
        ("openai", "/v1/responses", "openai.responses_websocket", None),
        ("openai", "/v1/responses?x=1", "openai.responses_websocket", None),
        ("openai", "/v1/realtime?model=gpt-realtime", "openai.realtime", "gpt-realtime"),
        ("openai", "/v1/realtime?model=", "openai.realtime", None),
        ("openai", "/v1/realtime?model=a&model=b", "openai.realtime", "b"),
        ("openai", "/v1/realtime", "openai.realtime", None),
        (
            "azure-openai",
            "/openai/realtime?api-version=2025-04-01-preview&deployment=gpt-realtime",
            "azure.realtime",
            "gpt-realtime",
        ),
        (
            "azure-openai",
            "/openai/v1/realtime?model=gpt-realtime",
            "azure.realtime",
            "gpt-realtime",
        ),
    ],
)
def test_known_sockets(service: str, target: str, api: str, model: str | None) -> None:
    found = socket_protocol(service, target)
    assert found is not None
    assert (found[0].api, found[1]) == (api, model)


@pytest.mark.parametrize(
    ("service", "target"),
    [
        ("openai", "/v1/responses/extra"),
        ("openai", "/v1/chat/completions"),
        ("openai", "/v1/realtimex"),
        ("openai", "/"),
        ("chatgpt-web", "/backend-api/ws"),
        ("anthropic", "/v1/responses"),
        ("azure-openai", "/openai/responses"),
        ("gemini", "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"),
    ],
)
def test_unknown_sockets(service: str, target: str) -> None:
    assert socket_protocol(service, target) is None


def message(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def table(p: SocketProtocol, doc: dict[str, Any]) -> tuple[object, ...]:
    read = read_client(p, message(doc), True)
    return (read.kind, read.event, read.model, [(s.path, s.role, s.text) for s in read.segments])


USER = [{"type": "input_text", "text": "hi there"}]

RESPONSES_MESSAGES = [
    (
        {
            "type": "response.create",
            "model": "gpt-5-codex",
            "instructions": "be brief",
            "input": [{"type": "message", "role": "user", "content": USER}],
            "tools": [{"type": "function", "name": "shell"}],
            "store": False,
        },
        (
            "turn",
            "response.create",
            "gpt-5-codex",
            [
                (("instructions",), "system", "be brief"),
                (("input", 0, "content", 0, "text"), "user", "hi there"),
            ],
        ),
    ),
    (  # Codex's warm-up: the same event, generate false
        {"type": "response.create", "model": "gpt-5", "input": [], "generate": False},
        ("turn", "response.create", "gpt-5", []),
    ),
    (  # a follow-up: tool output and previous_response_id, no model
        {
            "type": "response.create",
            "previous_response_id": "resp_1",
            "input": [{"type": "function_call_output", "call_id": "c1", "output": "ls: ok"}],
        },
        ("turn", "response.create", None, [(("input", 0, "output"), "tool", "ls: ok")]),
    ),
    (
        {"type": "response.append", "input": "and then?"},
        ("turn", "response.append", None, [(("input",), "user", "and then?")]),
    ),
    (
        {"type": "response.steer", "previous_response_id": "r", "input": "stop"},
        ("input", "response.steer", None, [(("input",), "user", "stop")]),
    ),
    ({"type": "response.cancel"}, ("control", "response.cancel", None, [])),
    (
        {"type": "session.update", "session": {"instructions": "x"}},
        ("unreadable", "session.update", None, []),
    ),
    ({"type": "response.create", "input": 42}, ("unreadable", "response.create", None, [])),
    ({"type": "response.create", "model": 5}, ("unreadable", "response.create", None, [])),
    ({"input": "no type"}, ("unreadable", "no type", None, [])),
]


@pytest.mark.parametrize(("doc", "expected"), RESPONSES_MESSAGES)
def test_responses_client_messages(doc: dict[str, Any], expected: tuple[object, ...]) -> None:
    assert table(RESPONSES, doc) == expected


REALTIME_MESSAGES = [
    (
        {"type": "session.update", "session": {"model": "gpt-realtime", "instructions": "hi"}},
        (
            "input",
            "session.update",
            "gpt-realtime",
            [(("session", "instructions"), "system", "hi")],
        ),
    ),
    (
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "hello"},
                    {"type": "input_audio", "audio": "AAAA", "transcript": "spoken"},
                    {"type": "input_image", "image_url": "data:..."},
                ],
            },
        },
        (
            "input",
            "conversation.item.create",
            None,
            [
                (("item", "content", 0, "text"), "user", "hello"),
                (("item", "content", 1, "transcript"), "user", "spoken"),
            ],
        ),
    ),
    (
        {
            "type": "conversation.item.create",
            "item": {"type": "function_call_output", "call_id": "c", "output": "42"},
        },
        ("input", "conversation.item.create", None, [(("item", "output"), "tool", "42")]),
    ),
    (
        {
            "type": "response.create",
            "response": {
                "instructions": "answer in French",
                "input": [{"type": "message", "role": "user", "content": USER}],
            },
        },
        (
            "turn",
            "response.create",
            None,
            [
                (("response", "instructions"), "system", "answer in French"),
                (("response", "input", 0, "content", 0, "text"), "user", "hi there"),
            ],
        ),
    ),
    ({"type": "response.create"}, ("turn", "response.create", None, [])),
    ({"type": "input_audio_buffer.commit"}, ("control", "input_audio_buffer.commit", None, [])),
    ({"type": "response.cancel"}, ("control", "response.cancel", None, [])),
    (
        {"type": "conversation.item.create", "item": "text"},
        ("unreadable", "conversation.item.create", None, []),
    ),
    ({"type": "conversation.item.create"}, ("unreadable", "conversation.item.create", None, [])),
    ({"type": "transcript.inject", "text": "x"}, ("unreadable", "transcript.inject", None, [])),
]


@pytest.mark.parametrize(("doc", "expected"), REALTIME_MESSAGES)
def test_realtime_client_messages(doc: dict[str, Any], expected: tuple[object, ...]) -> None:
    assert table(REALTIME, doc) == expected


def test_audio_frames_are_counted_not_read() -> None:
    read = read_client(
        REALTIME, message({"type": "input_audio_buffer.append", "audio": "A" * 400}), True
    )
    assert (read.kind, read.audio_bytes, read.segments) == ("audio", 300, ())


UNREADABLE = [
    (b"not json", True),
    (b"\xff\xfe", True),
    (b'{"type":"response.create","input":"a","input":"b"}', True),  # repeated key
    (b"[1, 2]", True),
    (b"[" * 100_000 + b"]" * 100_000, True),  # nesting
    (b'{"type":"response.create","input":"x"}', False),  # binary frame
]


@pytest.mark.parametrize(("content", "is_text"), UNREADABLE)
@pytest.mark.parametrize("p", [RESPONSES, REALTIME], ids=["responses", "realtime"])
def test_unreadable_messages(p: SocketProtocol, content: bytes, is_text: bool) -> None:
    read = read_client(p, content, is_text)
    assert read.kind == "unreadable" and read.reason


def test_rewriting_a_message_keeps_every_other_field() -> None:
    doc = {
        "type": "response.create",
        "model": "gpt-5",
        "input": [{"type": "message", "role": "user", "content": USER}],
        "tools": [{"type": "function", "name": "shell"}],
    }
    read = read_client(RESPONSES, message(doc), True)
    path = read.segments[0].path
    out = json.loads(rewrite_request(RESPONSES.api, message(doc), {path: "<PERSON_1>"}))
    doc["input"][0]["content"][0]["text"] = "<PERSON_1>"  # type: ignore[index]
    assert out == doc


SERVER = [
    (
        RESPONSES,
        {
            "type": "response.completed",
            "response": {"usage": {"input_tokens": 5, "output_tokens": 7}},
        },
        ("response.completed", Usage(5, 7), True),
    ),
    (RESPONSES, {"type": "response.failed", "response": {}}, ("response.failed", None, True)),
    (RESPONSES, {"type": "error", "error": {"message": "x"}}, ("error", None, True)),
    (
        RESPONSES,
        {"type": "response.output_text.delta", "delta": "hi"},
        (None, None, False),
    ),
    (
        REALTIME,
        {"type": "response.done", "response": {"usage": {"input_tokens": 1, "output_tokens": 2}}},
        ("response.done", Usage(1, 2), True),
    ),
    (REALTIME, {"type": "response.done", "response": "?"}, ("response.done", None, False)),
    (REALTIME, {"type": "session.created"}, (None, None, False)),
    (REALTIME, {"no": "type"}, (None, None, False)),
]


@pytest.mark.parametrize(("p", "doc", "expected"), SERVER)
def test_server_events(
    p: SocketProtocol, doc: dict[str, Any], expected: tuple[object, ...]
) -> None:
    event = read_server(p, message(doc), True)
    assert (event.event, event.usage, event.ends_turn) == expected


def test_error_event_is_what_openai_clients_read() -> None:
    doc = json.loads(error_event("stopped: it contains EMAIL_ADDRESS", "warden_dlp_blocked"))
    assert doc["type"] == "error" and doc["status"] == 403
    assert doc["error"]["message"] == "stopped: it contains EMAIL_ADDRESS"
    assert doc["error"]["code"] == "warden_dlp_blocked"


def test_reading_is_linear() -> None:
    """A message of many items costs in proportion to its size: 10x the items take well
    under 40x the time (linear: 10x; quadratic work: 100x). The best of five runs with the
    collector off, so that a busy CI's pauses do not decide it."""

    def cost(n: int) -> float:
        doc = {
            "type": "response.create",
            "input": [{"type": "message", "role": "user", "content": USER}] * n,
        }
        content = message(doc)
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            read_client(RESPONSES, content, True)
            best = min(best, time.perf_counter() - start)
        return best

    gc.disable()
    try:
        small, large = cost(2_000), cost(20_000)
    finally:
        gc.enable()
    assert large < small * 40


def test_lanes_of_a_multiplexed_socket() -> None:
    create = {"type": "response.create", "stream_id": "lane-2", "input": "hi"}
    assert read_client(RESPONSES, message(create), True).lane == "lane-2"
    done = {"type": "response.completed", "stream_id": "lane-2", "response": {}}
    assert read_server(RESPONSES, message(done), True).lane == "lane-2"
    assert read_client(RESPONSES, message({"type": "response.create"}), True).lane is None
