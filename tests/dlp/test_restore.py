"""Pseudonym restoring in answers: text streams split anywhere, SSE bytes of the provider
streams split at every byte, and plain JSON answers."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from tests.scaling import LINEAR_BOUND, growth
from warden.dlp import PseudonymRestorer, PseudonymVault, SseRestorer, restore_json_response
from warden.dlp.restore import STREAM_APIS

VAULT = PseudonymVault({"<PERSON_1>": "Alice Example", "<EMAIL_ADDRESS_12>": "a@x.io"})
ANSWER = "Dear <PERSON_1>, I mailed <EMAIL_ADDRESS_12> and <EMAIL_ADDRESS_2> (<PERSON_1>)<"
RESTORED = "Dear Alice Example, I mailed a@x.io and <EMAIL_ADDRESS_2> (Alice Example)<"


def run(pieces: list[str]) -> tuple[str, int]:
    r = PseudonymRestorer(VAULT)
    out, most_held = [], 0
    for p in pieces:
        out.append(r.feed(p))
        most_held = max(most_held, r.held)
    out.append(r.flush())
    return "".join(out), most_held


def test_split_at_every_boundary() -> None:
    for i in range(len(ANSWER) + 1):
        for j in range(i, len(ANSWER) + 1):
            text, held = run([ANSWER[:i], ANSWER[i:j], ANSWER[j:]])
            assert text == RESTORED, (i, j)
            assert held < len("<EMAIL_ADDRESS_12>")


def test_one_character_at_a_time_holds_only_a_possible_prefix() -> None:
    r = PseudonymRestorer(VAULT)
    shown = ""
    for c in "x <PERS":
        shown += r.feed(c)
    assert shown == "x " and r.held == len("<PERS")
    shown += r.feed("ON_2>")  # not a placeholder of the vault: let it through
    assert shown == "x <PERSON_2>" and r.held == 0
    assert r.feed("<EMAIL_ADDRESS_1") == "" and r.feed("3>") == "<EMAIL_ADDRESS_13>"


def test_empty_vault_passes_text_through() -> None:
    r = PseudonymRestorer(PseudonymVault())
    assert r.feed("<PERSON_1>") == "<PERSON_1>" and r.flush() == ""


def sse(events: Sequence[tuple[str | None, dict[str, Any]]]) -> bytes:
    out = b""
    for name, doc in events:
        if name:
            out += f"event: {name}\n".encode()
        out += b"data: " + json.dumps(doc).encode() + b"\n\n"
    return out


def chunks_of(text: str, n: int) -> list[str]:
    return [text[i : i + n] for i in range(0, len(text), n)] or [""]


def openai_stream(text: str) -> bytes:
    events = [
        (
            None,
            {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "m",
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": ""},
                        "finish_reason": None,
                    }
                ],
            },
        )
    ]
    for piece in chunks_of(text, 3):
        events.append(
            (
                None,
                {
                    "id": "c1",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": "m",
                    "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
                },
            )
        )
    events.append(
        (
            None,
            {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "m",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            },
        )
    )
    return sse(events) + b": keep-alive comment\n\ndata: [DONE]\n\n"


def anthropic_stream(text: str) -> bytes:
    events: list[tuple[str | None, dict]] = [
        ("message_start", {"type": "message_start", "message": {"id": "m1", "content": []}}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
    ]
    for piece in chunks_of(text, 4):
        events.append(
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": piece},
                },
            )
        )
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return sse(events)


def decode_text(api: str, raw: bytes) -> str:
    out = []
    for block in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        for line in block.split(b"\n"):
            if not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            doc = json.loads(line[6:])
            if api == "openai.chat_completions":
                for c in doc.get("choices", []):
                    out.append(c.get("delta", {}).get("content") or "")
            elif doc.get("type") == "content_block_delta":
                out.append(doc["delta"]["text"])
    return "".join(out)


@pytest.mark.parametrize(
    ("api", "stream"),
    [("openai.chat_completions", openai_stream), ("anthropic.messages", anthropic_stream)],
)
def test_sse_split_at_every_byte(api: str, stream: Callable[[str], bytes]) -> None:
    raw = stream(ANSWER)
    for cut in range(1, len(raw), 7):
        r = SseRestorer(api, VAULT)
        out = r.feed(raw[:cut]) + r.feed(raw[cut:]) + r.feed(b"")  # b"": the end
        assert decode_text(api, out) == RESTORED, cut
        assert b"Alice Example" in out and b"<PERSON_1>" not in out
    one_by_one = SseRestorer(api, VAULT)
    out = b"".join(one_by_one.feed(raw[i : i + 1]) for i in range(len(raw))) + one_by_one.close()
    assert decode_text(api, out) == RESTORED


def test_sse_events_without_placeholders_pass_byte_for_byte() -> None:
    raw = openai_stream("nothing to restore here").replace(b"\n", b"\r\n")
    r = SseRestorer("openai.chat_completions", VAULT)
    assert r.feed(raw) + r.close() == raw


def test_sse_held_tail_is_sent_before_done() -> None:
    raw = sse(
        [
            (
                None,
                {
                    "id": "c",
                    "choices": [
                        {"index": 0, "delta": {"content": "hi <PERS"}, "finish_reason": None}
                    ],
                },
            )
        ]
    )
    r = SseRestorer("openai.chat_completions", VAULT)
    out = r.feed(raw) + r.feed(b"data: [DONE]\n\n")
    assert decode_text("openai.chat_completions", out) == "hi <PERS"
    assert out.endswith(b"data: [DONE]\n\n")


def test_responses_and_gemini_streams() -> None:
    raw = sse(
        [
            (
                "response.output_text.delta",
                {
                    "type": "response.output_text.delta",
                    "item_id": "i",
                    "output_index": 0,
                    "content_index": 0,
                    "delta": "to <PER",
                },
            ),
            (
                "response.output_text.delta",
                {
                    "type": "response.output_text.delta",
                    "item_id": "i",
                    "output_index": 0,
                    "content_index": 0,
                    "delta": "SON_1>",
                },
            ),
            (
                "response.output_text.done",
                {
                    "type": "response.output_text.done",
                    "item_id": "i",
                    "output_index": 0,
                    "content_index": 0,
                    "text": "to <PERSON_1>",
                },
            ),
        ]
    )
    r = SseRestorer("openai.responses", VAULT)
    out = r.feed(raw) + r.close()
    assert b"<PERSON_1>" not in out and out.count(b"Alice Example") == 2
    gem = sse(
        [
            (None, {"candidates": [{"index": 0, "content": {"parts": [{"text": "Hi <PERSON"}]}}]}),
            (
                None,
                {
                    "candidates": [
                        {
                            "index": 0,
                            "content": {"parts": [{"text": "_1>!"}]},
                            "finishReason": "STOP",
                        }
                    ]
                },
            ),
        ]
    )
    g = SseRestorer("gemini.stream_generate_content", VAULT)
    out = g.feed(gem) + g.close()
    assert b"Hi " in out and b"Alice Example!" in out


GEMINI_ARRAY = (
    b'[{"candidates":[{"index":0,"content":{"role":"model","parts":[{"text":"Hi <PER"}]}}]}'
    b'\r\n,{"candidates":[{"index":0,"content":{"role":"model",'
    b'"parts":[{"text":"SON_1>, how"}]}}]}\r\n,{"candidates":[{"index":0,"content":'
    b'{"role":"model","parts":[{"text":" is <EMAIL_ADDRESS_2"}]},"finishReason":"STOP"}],'
    b'"usageMetadata":{"promptTokenCount":3}}\r\n]'
)


def _gemini_text(out: bytes) -> str:
    return "".join(
        part.get("text", "")
        for element in json.loads(out)
        for candidate in element["candidates"]
        for part in (candidate.get("content") or {}).get("parts", [])
    )


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64, len(GEMINI_ARRAY)])
def test_gemini_json_array_stream_is_restored_at_any_split(step: int) -> None:
    """Gemini without ``alt=sse`` streams one JSON array (it used to pass through with its
    placeholders): a placeholder split across elements comes back whole, a prefix of one
    held at the end goes out as it was, and what the client reads is one valid array."""
    r = SseRestorer("gemini.stream_generate_content", VAULT)
    chunks = [GEMINI_ARRAY[i : i + step] for i in range(0, len(GEMINI_ARRAY), step)]
    out = b"".join(r.feed(c) for c in chunks) + r.feed(b"")
    assert _gemini_text(out) == "Hi Alice Example, how is <EMAIL_ADDRESS_2"
    assert b"<PERSON_1>" not in out
    assert json.loads(out)[-1].get("usageMetadata") == {"promptTokenCount": 3}


def test_gemini_json_array_cut_short_is_not_closed_for_it() -> None:
    r = SseRestorer("gemini.stream_generate_content", VAULT)
    out = r.feed(GEMINI_ARRAY[:60]) + r.feed(b"")
    assert not out.endswith(b"]")  # the upstream never ended its array; neither do we


def test_unknown_stream_api() -> None:
    assert "anthropic.messages" in STREAM_APIS
    with pytest.raises(ValueError, match="no streamed-answer restorer"):
        SseRestorer("bedrock.converse_stream", VAULT)


def test_restore_json_response() -> None:
    body = json.dumps(
        {"choices": [{"message": {"content": "Hi <PERSON_1>, see <EMAIL_ADDRESS_9>"}}]}
    ).encode()
    out = json.loads(restore_json_response("openai.chat_completions", body, VAULT))
    assert out["choices"][0]["message"]["content"] == "Hi Alice Example, see <EMAIL_ADDRESS_9>"
    plain = b'{"content": [{"type": "text", "text": "no placeholders"}]}'
    assert restore_json_response("anthropic.messages", plain, VAULT) is plain
    assert restore_json_response("x", b"<not json", VAULT) == b"<not json"
    assert restore_json_response("x", body, None) == body


def test_sse_restorer_work_grows_linearly() -> None:
    """One long event in 16-byte chunks, 32 KB and 256 KB: the old restorer re-joined and
    re-scanned what it held per chunk (quadratic). A CPU-time ratio, not a time bound:
    see tests/scaling.py."""

    def make(n: int) -> list[bytes]:
        return (
            [b'data: {"choices": [{"delta": {"content": "']
            + [b"<PERSON_1> " * 2] * n
            + [b'"}}]}\n\n']
        )

    def run(chunks: list[bytes]) -> None:
        r = SseRestorer("openai.chat_completions", VAULT)
        out = b"".join(r.feed(c) for c in chunks) + r.close()
        assert b"<PERSON_1>" not in out

    ratio = growth(run, make, 1600)
    assert ratio < LINEAR_BOUND, f"8x the input took {ratio:.1f}x the CPU time"


def test_an_event_over_the_limit_raises_instead_of_being_held() -> None:
    from warden.providers.sse import StreamTooLarge

    r = SseRestorer("openai.chat_completions", VAULT, max_event_bytes=64 * 1024)
    assert r.feed(b"data: " + b"x" * 60000 + b"\n\n")  # under the limit: restored as usual
    with pytest.raises(StreamTooLarge, match=r"streams\.max_event_bytes"):
        for _ in range(20):
            r.feed(b"data: " + b"y" * 4000 + b"\n")  # one event of many lines
