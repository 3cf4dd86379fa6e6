"""Provider-shaped event payloads for the stream fuzzing: real shapes with hostile values,
so that generated streams reach the parsers' branches and not only their JSON errors."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from .strategies import json_values, mutated, texts

_counts = st.one_of(st.integers(-5, 10**6), json_values)
_text = st.one_of(texts, json_values)


def _usage(*names: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={n: _counts for n in names})


@st.composite
def openai_chunks(draw: st.DrawFn) -> object:
    choices = draw(
        st.lists(
            st.fixed_dictionaries(
                {"index": st.one_of(st.integers(0, 2), json_values)},
                optional={
                    "delta": st.fixed_dictionaries({}, optional={"content": _text}),
                    "text": _text,
                    "finish_reason": st.sampled_from([None, "stop", "length"]),
                },
            ),
            max_size=3,
        )
    )
    doc: dict[str, Any] = {"id": "c1", "object": "chat.completion.chunk", "choices": choices}
    if draw(st.booleans()):
        doc["usage"] = draw(_usage("prompt_tokens", "completion_tokens", "total_tokens"))
    return doc


@st.composite
def anthropic_events(draw: st.DrawFn) -> object:
    kind = draw(
        st.sampled_from(
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop",
                "ping",
                "error",
            ]
        )
    )
    index = draw(st.one_of(st.integers(0, 2), json_values))
    if kind == "content_block_delta":
        kind_delta = draw(st.sampled_from(["text_delta", "input_json_delta", "x"]))
        return {"type": kind, "index": index, "delta": {"type": kind_delta, "text": draw(_text)}}
    if kind == "message_start":
        usage = draw(_usage("input_tokens", "output_tokens", "cache_read_input_tokens"))
        return {"type": kind, "message": {"id": "m", "usage": usage}}
    if kind == "message_delta":
        return {"type": kind, "usage": draw(_usage("output_tokens", "input_tokens"))}
    return {"type": kind, "index": index}


@st.composite
def responses_events(draw: st.DrawFn) -> object:
    kind = draw(
        st.sampled_from(
            [
                "response.output_text.delta",
                "response.output_text.done",
                "response.refusal.delta",
                "response.completed",
                "response.created",
            ]
        )
    )
    doc: dict[str, Any] = {
        "type": kind,
        "item_id": draw(st.one_of(st.sampled_from(["i1", "i2"]), json_values)),
        "output_index": draw(st.integers(0, 1)),
        "content_index": 0,
    }
    if kind.endswith(".delta"):
        doc["delta"] = draw(_text)
    elif kind.endswith(".done"):
        doc["text"] = draw(_text)
    else:
        usage = draw(_usage("input_tokens", "output_tokens"))
        doc["response"] = {"id": "r", "output": draw(json_values), "usage": usage}
    return doc


@st.composite
def gemini_chunks(draw: st.DrawFn) -> object:
    parts = draw(
        st.lists(
            st.fixed_dictionaries({"text": _text}, optional={"thought": st.booleans()}),
            max_size=3,
        )
    )
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}}
    if draw(st.booleans()):
        candidate["index"] = draw(st.one_of(st.integers(0, 2), json_values))
    if draw(st.booleans()):
        candidate["finishReason"] = "STOP"
    doc: dict[str, Any] = {"candidates": [candidate]}
    if draw(st.booleans()):
        doc["usageMetadata"] = draw(_usage("promptTokenCount", "candidatesTokenCount"))
    return doc


def _chatgpt_message(text: object, mid: object, role: str) -> dict[str, Any]:
    return {
        "message": {
            "id": mid,
            "author": {"role": role},
            "content": {"content_type": "text", "parts": [text]},
        }
    }


@st.composite
def chatgpt_events(draw: st.DrawFn) -> object:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        role = draw(st.sampled_from(["assistant", "user"]))
        return _chatgpt_message(draw(_text), draw(st.sampled_from(["m1", "m2"])), role)
    paths = st.sampled_from(
        ["/message/content/parts/0", "/message/id", "", "/message/content/parts/-", "/x/~1/~0"]
    )
    op = {
        "p": draw(paths),
        "o": draw(st.sampled_from(["append", "add", "replace", "truncate", "patch", "x"])),
        "v": draw(st.one_of(_text, st.integers(-3, 50))),
    }
    if kind == 1:
        return {k: v for k, v in op.items() if draw(st.booleans()) or k == "v"}
    if kind == 2:
        return {"o": "patch", "v": [op, {"v": draw(_text)}]}
    return {"p": "", "o": "add", "v": _chatgpt_message("", "m1", "assistant")}


@st.composite
def claude_web_events(draw: st.DrawFn) -> object:
    if draw(st.booleans()):
        return {"type": "completion", "completion": draw(_text)}
    return draw(anthropic_events())


def shaped(base: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """The shape as it is, mutated, or any JSON at all."""
    return st.one_of(base, base.flatmap(mutated), json_values)


#: Payload strategies by api family of ``stream_parser_for``.
PAYLOADS: dict[str, st.SearchStrategy[object]] = {
    "openai": shaped(openai_chunks()),
    "responses": shaped(responses_events()),
    "anthropic": shaped(anthropic_events()),
    "gemini": shaped(gemini_chunks()),
    "chatgpt": shaped(chatgpt_events()),
    "claude": shaped(claude_web_events()),
}
