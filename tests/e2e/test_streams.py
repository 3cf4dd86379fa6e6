"""Streamed answers end to end: the real gateway (``warden run``) with a pseudonym active,
a loopback upstream of our own that cuts its events where aimock cannot (``data:`` line and
blank line apart, one byte per write), and the real openai and anthropic SDKs: the full
restored answer arrives, and the same client connection serves the next request.

Connection reuse is asserted with the anthropic SDK: it reads a stream to its end. The
openai SDK stops reading at ``data: [DONE]`` and closes the response before the chunked
body's last chunk, so its connection is never reused, through the gateway or not.

Before the fix, a chunk holding no complete event made the restorer return ``b""``, which
mitmproxy wrote as ``0\r\n\r\n``: the SDKs got an empty answer and the next request
on the connection read the rest of the old answer as its status line."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import openai
import pytest

from tests.e2e.split_upstream import SplitUpstream, every_byte, sse_event
from tests.e2e.stream_clients import (
    ConnectionCount,
    anthropic_client,
    http_client,
    openai_client,
)
from tests.peers import UNSAFE_ENV, WardenProcess

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PROMPT = "Draft a short apology to Jane Roe for the late delivery."
PLACEHOLDER = "<CUSTOMER_1>"  # what the demo profile's pseudonymize writes for Jane Roe
DELTAS = ["Dear <CUS", "TOMER_1>, we are", " sorry. Regards to ", PLACEHOLDER, "!"]
RESTORED = "Dear Jane Roe, we are sorry. Regards to Jane Roe!"


def chat_events(deltas: list[str]) -> list[list[bytes]]:
    def chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
        doc = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return json.dumps(doc).encode()

    events = [sse_event(chunk({"role": "assistant", "content": ""}))]
    events += [sse_event(chunk({"content": d})) for d in deltas]
    events += [sse_event(chunk({}, "stop")), sse_event(b"[DONE]")]
    return events


def anthropic_events(deltas: list[str]) -> list[list[bytes]]:
    def event(name: str, **fields: object) -> list[bytes]:
        return sse_event(json.dumps({"type": name, **fields}).encode(), name.encode())

    message: dict[str, object] = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 1},
    }
    events = [
        event("message_start", message=message),
        event("content_block_start", index=0, content_block={"type": "text", "text": ""}),
    ]
    events += [
        event("content_block_delta", index=0, delta={"type": "text_delta", "text": d})
        for d in deltas
    ]
    events += [
        event("content_block_stop", index=0),
        event(
            "message_delta",
            delta={"stop_reason": "end_turn", "stop_sequence": None},
            usage={"output_tokens": 9},
        ),
        event("message_stop"),
    ]
    return events


def line_then_blank(events: list[list[bytes]]) -> list[bytes]:
    return [piece for event in events for piece in event]


def byte_by_byte(events: list[list[bytes]]) -> list[bytes]:
    return every_byte(line_then_blank(events))


SPLITS: dict[str, Callable[[list[list[bytes]]], list[bytes]]] = {
    "line_then_blank": line_then_blank,
    "every_byte": byte_by_byte,
}


class Script:
    """What the upstream answers next: ``pieces``, or for a request whose body holds a key
    of ``special``, what that function yields."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.special: dict[bytes, Callable[[], Iterable[bytes]]] = {}

    def __call__(self, path: str, body: bytes) -> Iterable[bytes]:
        for key, answer in self.special.items():
            if key in body:
                return answer()
        return self.pieces


@pytest.fixture(scope="module")
def script() -> Script:
    return Script()


@pytest.fixture(scope="module")
def upstream(script: Script) -> Iterator[SplitUpstream]:
    server = SplitUpstream(script).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def warden(
    upstream: SplitUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WardenProcess]:
    gateway = WardenProcess(
        tmp_path_factory.mktemp("streams"),
        {
            "unsafe_testing": {"route_catalog_hosts_to": upstream.url},
            "dlp": {
                "profiles_file": str(ROOT / "packaging" / "demo" / "dlp-profiles.yaml"),
                "default_profile": "pii-basic",
                "workers": 1,
            },
            "streams": {"max_event_bytes": 32 * 1024 * 1024},
        },
        env=UNSAFE_ENV,
    )
    gateway.ready_timeout_s = 120  # a DLP worker starts Presidio: slow on a busy 2-core host
    gateway.start()
    yield gateway
    gateway.stop()


@pytest.mark.parametrize("split", sorted(SPLITS))
def test_openai_sdk_gets_the_whole_restored_answer(
    warden: WardenProcess, upstream: SplitUpstream, script: Script, split: str
) -> None:
    script.pieces = SPLITS[split](chat_events(DELTAS))
    client = openai_client(warden.proxy_url, warden.ca_cert, ConnectionCount())
    before = len(upstream.journal)
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    client.close()
    assert text == RESTORED
    sent = upstream.wait_for_requests(before + 1)[before:]
    assert b"Jane Roe" not in sent[0].body and PLACEHOLDER.encode() in sent[0].body


@pytest.mark.parametrize("split", sorted(SPLITS))
def test_anthropic_sdk_gets_the_whole_answer_and_reuses_its_connection(
    warden: WardenProcess, upstream: SplitUpstream, script: Script, split: str
) -> None:
    script.pieces = SPLITS[split](anthropic_events(DELTAS))
    count = ConnectionCount()
    client = anthropic_client(warden.proxy_url, warden.ca_cert, count)
    before = len(upstream.journal)
    for _ in range(2):  # the second request goes over the connection the first one left
        events = client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=100,
            messages=[{"role": "user", "content": PROMPT}],
            stream=True,
        )
        text = "".join(
            e.delta.text
            for e in events
            if e.type == "content_block_delta" and e.delta.type == "text_delta"
        )
        assert text == RESTORED
    client.close()
    assert count.opened == 1, "a new connection was needed: the first answer left it unusable"
    sent = upstream.wait_for_requests(before + 2)[before:]
    assert all(b"Jane Roe" not in r.body and PLACEHOLDER.encode() in r.body for r in sent)


def tool_call_events(arguments: str) -> list[list[bytes]]:
    """An OpenAI chat tool call whose arguments come one character per delta."""

    def chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return json.dumps(
            {"id": "c", "object": "chat.completion.chunk", "choices": [choice]}
        ).encode()

    start = {"index": 0, "id": "call_1", "type": "function"}
    start["function"] = {"name": "send_email", "arguments": ""}
    events = [sse_event(chunk({"role": "assistant", "tool_calls": [start]}))]
    for c in arguments:
        call = {"index": 0, "function": {"arguments": c}}
        events.append(sse_event(chunk({"tool_calls": [call]})))
    return [*events, sse_event(chunk({}, "tool_calls")), sse_event(b"[DONE]")]


def test_escaped_tool_call_arguments_split_at_every_byte(
    warden: WardenProcess, script: Script
) -> None:
    """Arguments as an HTML-escaping encoder writes them (\\u003cCUSTOMER_1\\u003e), one
    character per delta, one byte per TCP write: aimock cannot write either."""
    escaped = '{"to": "\\u003cCUSTOMER_1\\u003e", "cc": "\\u003cCUSTOMER_1>"}'
    script.pieces = byte_by_byte(tool_call_events(escaped))
    client = openai_client(warden.proxy_url, warden.ca_cert, ConnectionCount())
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}], stream=True
    )
    pieces = [
        call.function.arguments or ""
        for c in stream
        if c.choices
        for call in c.choices[0].delta.tool_calls or []
        if call.function is not None
    ]
    client.close()
    joined = "".join(pieces)
    assert "CUSTOMER_1" not in joined
    assert json.loads(joined) == {"to": "Jane Roe", "cc": "Jane Roe"}


def run_hostile(
    warden: WardenProcess, script: Script, upstream: SplitUpstream, line_mb: int
) -> tuple[dict[str, object], threading.Event, threading.Event, threading.Thread]:
    """Starts a client whose upstream answers one ``line_mb`` MB SSE line (16 KB writes,
    no pause), then holds the end of its answer until the returned ``release`` is set.
    ``started`` is set once the line's first bytes are written."""
    started, release = threading.Event(), threading.Event()

    def hostile() -> Iterator[bytes]:
        yield b'data: {"choices": [{"index": 0, "delta": {"content": "' + PLACEHOLDER.encode()
        started.set()
        for _ in range(line_mb * 64):
            yield b"x" * 16384
        release.wait(120)
        yield b'"}}]}\n\n'
        yield b"data: [DONE]\n\n"

    script.special = {b"hostile": hostile}
    upstream.gap_s = 0
    outcome: dict[str, object] = {}

    def hostile_client() -> None:
        client = openai_client(warden.proxy_url, warden.ca_cert, ConnectionCount())
        try:
            stream = client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "hostile: " + PROMPT}],
                stream=True,
            )
            outcome["text"] = "".join(c.choices[0].delta.content or "" for c in stream)
        except openai.APIError as exc:
            outcome["error"] = exc.message
        finally:
            client.close()
            started.set()  # also when the request failed before the upstream answered

    thread = threading.Thread(target=hostile_client, daemon=True)
    thread.start()
    return outcome, started, release, thread


@pytest.fixture
def hostile_cleanup(script: Script, upstream: SplitUpstream) -> Iterator[None]:
    yield
    script.special = {}
    upstream.gap_s = 0.002


@pytest.mark.usefixtures("hostile_cleanup")
def test_a_16_mb_line_does_not_stall_another_client(
    warden: WardenProcess, script: Script, upstream: SplitUpstream
) -> None:
    """A hostile upstream streams one 16 MB SSE line (this gateway's streams.max_event_bytes
    is 32 MB, so it is read, restored and passed on whole). Another client's request,
    sent as soon as the upstream starts writing the line, completes while the hostile
    answer is still open (the upstream holds its end until then), and the hostile client
    gets its whole answer within its own 60 s timeout. On the old code, which re-scanned
    its buffer per chunk (issue 19: 18 MB took 619 s), this test failed: the 16 MB line
    did not get through in 60 s. (The other client was slowed but answered there too:
    that work came in many short steps, one per read.) 30 s for the other client is
    generous for an answer that takes milliseconds."""
    script.pieces = line_then_blank(chat_events(DELTAS))
    outcome, started, release, thread = run_hostile(warden, script, upstream, 16)
    try:
        assert started.wait(120), "the hostile upstream did not get to send its line"
        other = openai.OpenAI(
            api_key="sk-test",
            max_retries=0,
            timeout=30,
            http_client=http_client(warden.proxy_url, warden.ca_cert, ConnectionCount()),
        )
        stream = other.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}], stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        other.close()
        assert text == RESTORED
        assert thread.is_alive() and not outcome  # the hostile answer was still open
    finally:
        release.set()
    thread.join(120)
    answer = str(outcome.get("text", outcome))
    assert answer.startswith("Jane Roe" + "x" * 100) and len(answer) == 8 + 16 * 1024 * 1024


@pytest.mark.usefixtures("hostile_cleanup")
def test_a_line_over_the_limit_cuts_the_answer_with_an_error_event(
    warden: WardenProcess, script: Script, upstream: SplitUpstream
) -> None:
    """33 MB in one line, over this gateway's 32 MB: the answer is cut (fail closed) with
    an error event the SDK raises, naming the limit; the rest is dropped, not held."""
    outcome, started, release, thread = run_hostile(warden, script, upstream, 33)
    try:
        assert started.wait(120)
        thread.join(120)
    finally:
        release.set()
    assert "error" in outcome, outcome
    message = str(outcome["error"])
    assert "cut this answer" in message and "streams.max_event_bytes" in message
    assert "cut a streamed answer" in warden.log()
