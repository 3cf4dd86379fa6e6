"""Streamed tool calls through the real gateway, restored: aimock (tests/fixtures/aimock/
tools.json) answers the pseudonymized prompt with a tool call whose arguments name
``<CUSTOMER_1>``, streamed in 3-character deltas (so the placeholder is split), in each of
the four API shapes; the real openai and anthropic SDKs (and a plain HTTP client for
Gemini, whose SDK is not installed) get arguments that parse to the person's name."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.e2e.stream_clients import ConnectionCount, anthropic_client, openai_client
from tests.peers import UNSAFE_ENV, Aimock, WardenProcess

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PROMPT = "Email Jane Roe that the order shipped."
EXPECTED = {"to": "Jane Roe", "subject": "Your order, Jane Roe"}


@pytest.fixture(scope="module")
def warden(aimock: Aimock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WardenProcess]:
    gateway = WardenProcess(
        tmp_path_factory.mktemp("tools"),
        {
            "unsafe_testing": {"route_catalog_hosts_to": aimock.url},
            "dlp": {
                "profiles_file": str(ROOT / "packaging" / "demo" / "dlp-profiles.yaml"),
                "default_profile": "pii-basic",
                "workers": 1,
            },
        },
        env=UNSAFE_ENV,
    )
    gateway.ready_timeout_s = 120  # a DLP worker starts Presidio: slow on a busy 2-core host
    gateway.start()
    yield gateway
    gateway.stop()


def upstream_saw_only_the_placeholder(aimock: Aimock) -> None:
    last = json.dumps(aimock.journal()[-1]["body"])
    assert "Jane Roe" not in last and "<CUSTOMER_1>" in last


def test_openai_chat_tool_call(warden: WardenProcess, aimock: Aimock) -> None:
    client = openai_client(warden.proxy_url, warden.ca_cert, ConnectionCount())
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}], stream=True
    )
    pieces = [
        call.function.arguments or ""
        for chunk in stream
        if chunk.choices
        for call in chunk.choices[0].delta.tool_calls or []
        if call.function is not None
    ]
    client.close()
    assert len(pieces) > 5 and "<" not in "".join(pieces)
    assert json.loads("".join(pieces)) == EXPECTED
    upstream_saw_only_the_placeholder(aimock)


def test_openai_responses_tool_call(warden: WardenProcess, aimock: Aimock) -> None:
    client = openai_client(warden.proxy_url, warden.ca_cert, ConnectionCount())
    deltas, done = [], []
    for event in client.responses.create(model="gpt-4o-mini", input=PROMPT, stream=True):
        if event.type == "response.function_call_arguments.delta":
            deltas.append(event.delta)
        elif event.type == "response.function_call_arguments.done":
            done.append(event.arguments)
    client.close()
    assert json.loads("".join(deltas)) == EXPECTED
    assert done == ["".join(deltas)]  # the deltas and the .done event agree
    upstream_saw_only_the_placeholder(aimock)


def test_anthropic_tool_use(warden: WardenProcess, aimock: Aimock) -> None:
    client = anthropic_client(warden.proxy_url, warden.ca_cert, ConnectionCount())
    with client.messages.stream(
        model="claude-sonnet-4-5", max_tokens=200, messages=[{"role": "user", "content": PROMPT}]
    ) as stream:
        partial = [
            e.delta.partial_json
            for e in stream
            if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
        ]
        final = stream.get_final_message()
    client.close()
    assert json.loads("".join(partial)) == EXPECTED
    tool_use = [b for b in final.content if b.type == "tool_use"]
    assert tool_use and tool_use[0].input == EXPECTED  # what the SDK hands the agent
    upstream_saw_only_the_placeholder(aimock)


def test_gemini_function_call(warden: WardenProcess, aimock: Aimock) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}
    url = (
        "https://generativelanguage.googleapis.com/v1beta/models/"
        "gemini-2.0-flash:streamGenerateContent?alt=sse"
    )
    ctx = ssl.create_default_context(cafile=str(warden.ca_cert))
    with httpx2.Client(proxy=warden.proxy_url, verify=ctx, timeout=60) as http:
        answer = http.post(url, json=body, headers={"x-goog-api-key": "test"})
    assert answer.status_code == 200, answer.text
    calls = [
        part["functionCall"]["args"]
        for line in answer.text.splitlines()
        if line.startswith("data: ")
        for candidate in json.loads(line[6:]).get("candidates", [])
        for part in candidate["content"]["parts"]
        if "functionCall" in part
    ]
    assert calls == [EXPECTED]
    upstream_saw_only_the_placeholder(aimock)
