"""Pseudonyms in tool-call arguments, streamed and whole, in all four API shapes: no
placeholder reaches the client, whatever the split (every position, inside escapes), and
the joined arguments parse as JSON with the original values (a value with quotes too).

On the old restorer every streamed case here failed: argument deltas were not restored
at all (only Responses' ``.done`` event was, so the two disagreed)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from warden.dlp import PseudonymVault, SseRestorer, restore_json_response
from warden.dlp.argstream import JsonTextRestorer, restore_json_text

NAME = 'Jane "JJ" Röe\\'  # quotes, a backslash and a non-ASCII letter: all need escaping
VAULT = PseudonymVault({"<CUSTOMER_1>": NAME, "<EMAIL_ADDRESS_1>": "jane@example.com"})
EXPECTED = {"to": NAME, "cc": ["jane@example.com", "<CUSTOMER_2>"], "note": "a<b \\u003c"}
#: The arguments as encoders write them: plain, HTML-escaped (\u003c), upper-case hex,
#: and every letter of the placeholder escaped.
ARGUMENTS = {
    "plain": '{"to": "<CUSTOMER_1>", "cc": ["<EMAIL_ADDRESS_1>", "<CUSTOMER_2>"], '
    '"note": "a<b \\\\u003c"}',
    "html-escaped": '{"to":"\\u003cCUSTOMER_1\\u003e","cc":["\\u003cEMAIL_ADDRESS_1\\u003e",'
    '"\\u003cCUSTOMER_2\\u003e"],"note":"a\\u003cb \\\\u003c"}',
    "upper-hex": '{"to":"\\u003CCUSTOMER_1\\u003E","cc":["<EMAIL_ADDRESS_1>","<CUSTOMER_2>"],'
    '"note":"a<b \\\\u003c"}',
    "all-escaped": '{"to":"' + "".join(f"\\u{ord(c):04x}" for c in "<CUSTOMER_1>") + '",'
    '"cc":["<EMAIL_ADDRESS_1>","<CUSTOMER_2>"],"note":"a<b \\\\u003c"}',
}
LEAK = re.compile(r"(<|\\u003c)(CUSTOMER_1|EMAIL_ADDRESS_1)", re.IGNORECASE)


def test_the_fixtures_are_what_they_say() -> None:
    for text in ARGUMENTS.values():
        doc = json.loads(text)
        assert doc["to"] == "<CUSTOMER_1>" and doc["cc"][0] == "<EMAIL_ADDRESS_1>"


def sse(events: Sequence[tuple[str | None, dict[str, Any]]]) -> bytes:
    out = b""
    for name, doc in events:
        if name:
            out += f"event: {name}\n".encode()
        out += b"data: " + json.dumps(doc).encode() + b"\n\n"
    return out


def chat(deltas: list[str]) -> bytes:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [choice]}

    start = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "send", "arguments": ""},
    }
    events = [(None, chunk({"role": "assistant", "tool_calls": [start]}))]
    for d in deltas:
        events.append((None, chunk({"tool_calls": [{"index": 0, "function": {"arguments": d}}]})))
    events.append((None, chunk({}, "tool_calls")))
    return sse(events) + b"data: [DONE]\n\n"


def anthropic(deltas: list[str]) -> bytes:
    block = {"type": "tool_use", "id": "toolu_1", "name": "send", "input": {}}
    events: list[tuple[str | None, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": {"id": "m", "content": []}}),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": block},
        ),
    ]
    for d in deltas:
        delta = {"type": "input_json_delta", "partial_json": d}
        events.append(
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        )
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return sse(events)


def responses(deltas: list[str]) -> bytes:
    def ev(kind: str, **fields: Any) -> tuple[str, dict[str, Any]]:
        return kind, {"type": kind, **fields}

    item = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "send"}
    events = [ev("response.output_item.added", output_index=0, item={**item, "arguments": ""})]
    for d in deltas:
        events.append(
            ev("response.function_call_arguments.delta", item_id="fc_1", output_index=0, delta=d)
        )
    whole = "".join(deltas)
    events += [
        ev(
            "response.function_call_arguments.done", item_id="fc_1", output_index=0, arguments=whole
        ),
        ev("response.output_item.done", output_index=0, item={**item, "arguments": whole}),
    ]
    return sse(events)


def gemini(deltas: list[str]) -> bytes:
    # Gemini sends a function call whole, in one chunk: the split cannot cut it
    args = json.loads("".join(deltas))
    call = {"functionCall": {"name": "send", "args": args}}
    doc = {
        "candidates": [
            {"index": 0, "content": {"role": "model", "parts": [call]}, "finishReason": "STOP"}
        ]
    }
    return sse([(None, doc)])


def streamed_arguments(api: str, out: bytes) -> str:
    """The arguments the client's SDK would join from the restored stream."""
    joined, done = [], []
    for block in out.split(b"\n\n"):
        for line in block.split(b"\n"):
            if not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            doc = json.loads(line[6:])
            if api == "openai.chat_completions":
                for c in doc["choices"]:
                    for call in c["delta"].get("tool_calls", []):
                        joined.append(call["function"].get("arguments", ""))
            elif api == "anthropic.messages":
                if doc["type"] == "content_block_delta":
                    joined.append(doc["delta"]["partial_json"])
            elif api == "openai.responses":
                if doc["type"] == "response.function_call_arguments.delta":
                    joined.append(doc["delta"])
                elif doc["type"] == "response.function_call_arguments.done":
                    done.append(doc["arguments"])
            else:
                for part in doc["candidates"][0]["content"]["parts"]:
                    joined.append(json.dumps(part["functionCall"]["args"]))
    text = "".join(joined)
    if done:
        assert done == [text], "the .done event and the deltas disagree"
    return text


SHAPES: dict[str, Callable[[list[str]], bytes]] = {
    "openai.chat_completions": chat,
    "anthropic.messages": anthropic,
    "openai.responses": responses,
    "gemini.stream_generate_content": gemini,
}


def restored(api: str, deltas: list[str]) -> bytes:
    r = SseRestorer(api, VAULT)
    return r.feed(SHAPES[api](deltas)) + r.close()


def check(api: str, out: bytes) -> None:
    assert not LEAK.search(out.decode()), out
    assert json.loads(streamed_arguments(api, out)) == EXPECTED


@pytest.mark.parametrize("api", sorted(SHAPES))
@pytest.mark.parametrize("form", sorted(ARGUMENTS))
def test_split_in_two_at_every_position(api: str, form: str) -> None:
    text = ARGUMENTS[form]
    for i in range(len(text) + 1):
        check(api, restored(api, [text[:i], text[i:]]))


@pytest.mark.parametrize("api", sorted(SHAPES))
@pytest.mark.parametrize("form", sorted(ARGUMENTS))
def test_one_character_per_delta(api: str, form: str) -> None:
    text = ARGUMENTS[form]
    check(api, restored(api, list(text)))


@pytest.mark.parametrize("form", sorted(ARGUMENTS))
def test_split_in_three_across_the_placeholder(form: str) -> None:
    """Every pair of cuts within the first 60 characters (where the placeholder is)."""
    text = ARGUMENTS[form]
    for i in range(60):
        for j in range(i, 60):
            check(
                "anthropic.messages",
                restored("anthropic.messages", [text[:i], text[i:j], text[j:]]),
            )


@pytest.mark.parametrize(
    "piece",
    ["\\u003", "\\u00", "\\u0", "\\u", "\\", "<CUSTOMER_", "\\u003cCUSTOMER_1\\u003"],
)
def test_a_broken_document_lets_go_of_what_it_held(piece: str) -> None:
    r = JsonTextRestorer(VAULT)
    out = r.feed('{"to": "' + piece)
    assert out + r.flush() == '{"to": "' + piece


def test_held_text_is_bounded_by_a_placeholder() -> None:
    r = JsonTextRestorer(VAULT)
    r.feed('{"to": "\\u003cEMAIL_ADDRESS_')
    assert r.held <= len("\\u003cEMAIL_ADDRESS_")
    assert r.feed('1\\u003e"}') == json.dumps("jane@example.com")[1:] + "}"


def test_whole_arguments_and_non_streamed_answers() -> None:
    for text in ARGUMENTS.values():
        assert json.loads(restore_json_text(text, VAULT)) == EXPECTED
    chat_body = {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "c",
                            "type": "function",
                            "function": {"name": "send", "arguments": ARGUMENTS["html-escaped"]},
                        }
                    ],
                }
            }
        ]
    }
    out = json.loads(
        restore_json_response("openai.chat_completions", json.dumps(chat_body).encode(), VAULT)
    )
    assert (
        json.loads(out["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"])
        == EXPECTED
    )
    resp_body = {
        "output": [{"type": "function_call", "name": "send", "arguments": ARGUMENTS["plain"]}]
    }
    out = json.loads(
        restore_json_response("openai.responses", json.dumps(resp_body).encode(), VAULT)
    )
    assert json.loads(out["output"][0]["arguments"]) == EXPECTED
    for api, body in [
        (
            "anthropic.messages",
            {"content": [{"type": "tool_use", "input": json.loads(ARGUMENTS["plain"])}]},
        ),
        (
            "gemini.generate_content",
            {
                "candidates": [
                    {
                        "content": {
                            "parts": [{"functionCall": {"args": json.loads(ARGUMENTS["plain"])}}]
                        }
                    }
                ]
            },
        ),
    ]:
        raw = restore_json_response(api, json.dumps(body).encode(), VAULT)
        assert not LEAK.search(raw.decode()) and NAME in json.loads(raw).__repr__().replace(
            "\\\\", "\\"
        )


def test_text_and_arguments_of_one_answer_are_restored_apart() -> None:
    """A chat chunk stream with text in choice 0 and two tool calls, interleaved: each has
    its own restorer, so a prefix held in one does not swallow another's delta."""

    def chunk(delta: dict[str, Any]) -> tuple[None, dict[str, Any]]:
        return None, {"id": "c", "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}

    def args(i: int, text: str) -> tuple[None, dict[str, Any]]:
        return chunk({"tool_calls": [{"index": i, "function": {"arguments": text}}]})

    raw = (
        sse(
            [
                chunk({"content": "To <CUST"}),
                args(0, '{"a": "<CUS'),
                args(1, '{"b": "\\u003cEMA'),
                chunk({"content": "OMER_1>."}),
                args(0, 'TOMER_1>"}'),
                args(1, 'IL_ADDRESS_1\\u003e"}'),
                (
                    None,
                    {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                ),
            ]
        )
        + b"data: [DONE]\n\n"
    )
    r = SseRestorer("openai.chat_completions", VAULT)
    out = (r.feed(raw) + r.close()).decode()
    assert not LEAK.search(out)
    docs = [json.loads(line[6:]) for line in out.split("\n") if line.startswith("data: {")]
    text = "".join(d["choices"][0]["delta"].get("content") or "" for d in docs)
    calls: dict[int, str] = {}
    for d in docs:
        for call in d["choices"][0]["delta"].get("tool_calls", []):
            calls[call["index"]] = calls.get(call["index"], "") + call["function"]["arguments"]
    assert text == f"To {NAME}."
    assert json.loads(calls[0]) == {"a": NAME} and json.loads(calls[1]) == {"b": "jane@example.com"}


def test_argument_restoring_work_grows_linearly() -> None:
    """Arguments of 8x the size take about 8x the CPU time, whatever the mix of plain
    text, escapes and placeholder prefixes (a ratio, not a time bound: tests/scaling.py)."""
    from tests.scaling import LINEAR_BOUND, growth

    unit = "plain text \\u003cCUST <CUSTOMER_1> \\n \\u00e9 <EMAIL_ADDRESS_1> a<b "

    def make(n: int) -> list[str]:
        text = '{"note": "' + unit * n + '"}'
        return [text[i : i + 7] for i in range(0, len(text), 7)]

    def run(pieces: list[str]) -> None:
        r = JsonTextRestorer(VAULT)
        out = "".join(r.feed(p) for p in pieces) + r.flush()
        assert "<CUSTOMER_1>" not in out

    ratio = growth(run, make, 400)
    assert ratio < LINEAR_BOUND, f"8x the input took {ratio:.1f}x the CPU time"
