"""Fuzzing the pseudonym restorer (``dlp/restore.py``) on hostile and on well-formed answers.

Properties: ``SseRestorer`` never raises on any bytes an upstream sends, and passes on the
same bytes however they are chunked; on a well-formed stream of each api whose text
deltas are cut anywhere (inside placeholders too) and whose bytes are chunked anywhere,
the text a client reads (through our own stream parser) is the whole answer restored, and
no placeholder of the vault is left in it. ``PseudonymRestorer`` gives the whole-text
result for any split and holds less than the longest placeholder;
``restore_json_response`` never raises and leaves no vault placeholder in a JSON answer.

The crashes found here are regression tests at the end (a lone surrogate next to a
placeholder, an index or id that is a list or an object, a Gemini finish with odd content
after a held tail).
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warden.dlp import PseudonymRestorer, PseudonymVault, SseRestorer, restore_json_response
from warden.dlp.operators import PLACEHOLDER
from warden.dlp.restore import STREAM_APIS, restore_text
from warden.providers.streams import stream_parser_for

from .payloads import PAYLOADS
from .strategies import Draw, chunked, encode, json_values, scaled, sse_streams, texts

VAULT = PseudonymVault(
    {
        "<PERSON_1>": "Alice Example",
        "<PERSON_12>": "Bob <b>",
        "<EMAIL_ADDRESS_2>": "a@x.io",
        "<US_SSN_1>": "078-05-1120",
    }
)
_PLACEHOLDERS = sorted(VAULT.placeholders)

#: Answer text: vault placeholders, near misses and hostile characters, side by side.
answer_text = st.lists(
    st.one_of(
        st.sampled_from(_PLACEHOLDERS),
        st.sampled_from(["<PERSON_3>", "<PERSON_1", "PERSON_1>", "<", "<<", "<PER", "é", "\n"]),
        texts.filter(lambda t: not PLACEHOLDER.search(t)),
    ),
    max_size=10,
).map("".join)


def pieces(draw: Draw, text: str) -> list[str]:
    cuts = sorted(set(draw(st.lists(st.integers(0, len(text)), max_size=8))))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


# --- well-formed streams of each api ----------------------------------------------------


def _sse(events: list[tuple[str | None, object]], eol: bytes) -> bytes:
    out = b""
    for name, doc in events:
        if name:
            out += b"event: " + name.encode() + eol
        data = doc if isinstance(doc, bytes) else encode(doc)
        out += b"data: " + data + eol + eol
    return out


def well_formed(api: str, deltas: list[str], done: bool) -> list[tuple[str | None, object]]:
    whole = "".join(deltas)
    if api.endswith("chat_completions"):
        head = {"id": "c", "object": "chat.completion.chunk", "model": "m"}
        events: list[tuple[str | None, object]] = [
            (
                None,
                head | {"choices": [{"index": 0, "delta": {"content": d}, "finish_reason": None}]},
            )
            for d in deltas
        ]
        events.append(
            (None, head | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        )
    elif api.endswith(".completions"):
        events = [
            (None, {"id": "c", "choices": [{"index": 0, "text": d, "finish_reason": None}]})
            for d in deltas
        ]
        events.append(
            (None, {"id": "c", "choices": [{"index": 0, "text": "", "finish_reason": "stop"}]})
        )
    elif api.endswith("responses"):
        ids = {"item_id": "i", "output_index": 0, "content_index": 0}
        events = [("response.created", {"type": "response.created"})]
        events += [
            (
                "response.output_text.delta",
                {"type": "response.output_text.delta", **ids, "delta": d},
            )
            for d in deltas
        ]
        events.append(
            (
                "response.output_text.done",
                {"type": "response.output_text.done", **ids, "text": whole},
            )
        )
        events.append(
            (
                "response.completed",
                {
                    "type": "response.completed",
                    "response": {"usage": {"input_tokens": 1, "output_tokens": 2}},
                },
            )
        )
    elif api == "chatgpt.conversation":  # the delta encoding (providers/webstreams.py)
        message = {"id": "m", "author": {"role": "assistant"}, "content": {"parts": [""]}}
        path = "/message/content/parts/0"
        events = [
            ("delta_encoding", b'"v1"'),
            ("delta", {"p": "", "o": "add", "v": {"message": message}}),
        ]
        for i, d in enumerate(deltas):
            if i == 0:
                events.append(("delta", {"p": path, "o": "append", "v": d}))
            elif i % 3 == 2:  # some appends ride inside a patch, after other operations (the
                # last one's path and operation are what a bare {"v"} continues)
                ops = [
                    {"p": "/message/status", "o": "replace", "v": "x"},
                    {"p": path, "o": "append", "v": d},
                ]
                events.append(("delta", {"p": "", "o": "patch", "v": ops}))
            else:
                events.append(("delta", {"v": d}))
        events.append((None, {"type": "message_stream_complete"}))
    elif api in ("anthropic.messages", "claude.completion"):
        events = [
            ("message_start", {"type": "message_start", "message": {"usage": {"input_tokens": 3}}}),
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            ),
        ]
        events += [
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": d},
                },
            )
            for d in deltas
        ]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
        events.append(("message_stop", {"type": "message_stop"}))
    else:
        events = [
            (
                None,
                {
                    "candidates": [
                        {"content": {"role": "model", "parts": [{"text": d}]}, "index": 0}
                    ]
                },
            )
            for d in deltas
        ]
        events.append(
            (
                None,
                {
                    "candidates": [
                        {
                            "content": {"role": "model", "parts": [{"text": ""}]},
                            "finishReason": "STOP",
                            "index": 0,
                        }
                    ]
                },
            )
        )
    if done:
        events.append((None, b"[DONE]"))
    return events


def restored_stream(api: str, chunks: list[bytes]) -> bytes:
    restorer = SseRestorer(api, VAULT)
    return b"".join(restorer.feed(c) for c in chunks) + restorer.feed(b"")


def client_text(api: str, body: bytes) -> str:
    parser = stream_parser_for(api)
    assert parser is not None
    events = parser.feed(body) + parser.close()
    assert not parser.broken
    return "".join(e.text or "" for e in events)


def check_well_formed(
    api: str, text: str, deltas: list[str], chunks_of: Any, eol: bytes, done: bool
) -> None:
    body = _sse(well_formed(api, deltas, done), eol)
    out = restored_stream(api, chunks_of(body))
    shown = client_text(api, out)
    # lone surrogates that stand side by side may reach the client as one character (a
    # re-serialized event escapes them, and a JSON reader pairs the escapes): compare pairs
    assert _paired(shown) == _paired(restore_text(text, VAULT))
    assert not any(p in shown for p in _PLACEHOLDERS)


@pytest.mark.parametrize("api", sorted(STREAM_APIS))
def test_no_placeholder_survives_any_split(api: str) -> None:
    @scaled(0.5)
    @given(st.data())
    def check(data: st.DataObject) -> None:
        text = data.draw(answer_text)
        deltas = pieces(data.draw, text)
        eol = data.draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
        done = data.draw(st.booleans())
        check_well_formed(api, text, deltas, lambda b: chunked(data.draw, b), eol, done)

    check()


# --- hostile streams --------------------------------------------------------------------

_FAMILY = {
    "openai.chat_completions": "openai",
    "azure.chat_completions": "openai",
    "openai.completions": "openai",
    "azure.completions": "openai",
    "openai.responses": "responses",
    "azure.responses": "responses",
    "anthropic.messages": "anthropic",
    "gemini.stream_generate_content": "gemini",
    "chatgpt.conversation": "chatgpt",
    "claude.completion": "claude",
}


def _paired(text: str) -> str:
    """``text`` with adjacent surrogate halves joined into the character they pair to."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def test_every_restorer_api_is_fuzzed() -> None:
    assert set(_FAMILY) == set(STREAM_APIS)


@pytest.mark.parametrize("api", sorted(STREAM_APIS))
def test_hostile_stream(api: str) -> None:
    """Any bytes: no exception, and chunking does not change what is passed on."""

    @scaled(0.5)
    @given(st.data())
    def check(data: st.DataObject) -> None:
        body = data.draw(st.one_of(sse_streams(PAYLOADS[_FAMILY[api]]), st.binary(max_size=64)))
        whole = restored_stream(api, [body] if body else [])
        assert restored_stream(api, chunked(data.draw, body)) == whole

    check()


# --- text and JSON ----------------------------------------------------------------------


@given(st.data())
def test_pseudonym_restorer_any_split(data: st.DataObject) -> None:
    text = data.draw(answer_text)
    restorer = PseudonymRestorer(VAULT)
    out = []
    for piece in pieces(data.draw, text):
        out.append(restorer.feed(piece))
        assert restorer.held < VAULT.longest
    out.append(restorer.flush())
    assert "".join(out) == restore_text(text, VAULT)


@given(
    st.one_of(
        json_values.map(encode),
        st.binary(max_size=64),
        answer_text.map(lambda t: encode({"content": t})),
    )
)
def test_restore_json_response(body: bytes) -> None:
    out = restore_json_response("openai.chat_completions", body, VAULT)
    if out is body:
        return
    values = _string_values(json.loads(out))  # object keys are the provider's, not text
    assert not any(p in v for v in values for p in _PLACEHOLDERS)


def _string_values(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [v for item in node.values() for v in _string_values(item)]
    if isinstance(node, list):
        return [v for item in node for v in _string_values(item)]
    return []


# --- crashes found by the properties above: regression tests ---------------------------


@pytest.mark.parametrize("api", sorted(STREAM_APIS))
def test_stream_with_a_lone_surrogate_next_to_a_placeholder(api: str) -> None:
    """Found by ``test_no_placeholder_survives_any_split``: ``<EMAIL_ADDRESS_2>\\ud800``
    (and ``\\ud800<``, where only the held ``<`` changes the event)."""
    text = "<EMAIL_ADDRESS_2>\ud800"
    check_well_formed(api, text, [text], lambda b: [b], b"\n", False)


def test_json_answer_with_a_lone_surrogate_next_to_a_placeholder() -> None:
    body = b'{"content":"<PERSON_1> \\ud800"}'
    out = restore_json_response("openai.chat_completions", body, VAULT)
    assert json.loads(out) == {"content": "Alice Example \ud800"}  # the escape goes back out


_UNHASHABLE = {
    "openai.chat_completions": {"choices": [{"index": [None], "delta": {"content": "<PERSON_1>"}}]},
    "azure.chat_completions": {"choices": [{"index": {}, "delta": {"content": "x"}}]},
    "openai.completions": {"choices": [{"index": [None], "text": "x"}]},
    "azure.completions": {"choices": [{"index": [1], "text": "x"}]},
    "openai.responses": {"type": "response.output_text.delta", "item_id": [], "delta": "x"},
    "azure.responses": {"type": "response.output_text.delta", "item_id": {}, "delta": "x"},
    "anthropic.messages": {
        "type": "content_block_delta",
        "index": [0],
        "delta": {"type": "text_delta", "text": "x"},
    },
    "gemini.stream_generate_content": {
        "candidates": [{"index": [0], "content": {"parts": [{"text": "x"}]}}]
    },
    "chatgpt.conversation": {"p": ["/message"], "o": {}, "v": "<PERSON_1>"},
    "claude.completion": {
        "type": "content_block_delta",
        "index": [0],
        "delta": {"type": "thinking_delta", "thinking": "x"},
    },
}


@pytest.mark.parametrize("api", sorted(STREAM_APIS))
def test_stream_with_an_unhashable_index(api: str) -> None:
    """Found by ``test_hostile_stream[azure.completions]``: ``{"index":[null]}``."""
    out = restored_stream(api, [b"data: " + encode(_UNHASHABLE[api]) + b"\n\n"])
    assert b"<PERSON_1>" not in out


@pytest.mark.parametrize("finish", [b'"content":5', b'"content":{"parts":"x"}'])
def test_gemini_finish_with_odd_content_after_a_held_tail(finish: bytes) -> None:
    """Found by reading the restorer while writing these properties: ``<PER`` is held, then
    a finishing candidate whose ``content`` is not an object (or ``parts`` not a list)."""
    held = b'data: {"candidates":[{"index":0,"content":{"parts":[{"text":"hi <PER"}]}}]}\n\n'
    end = b'data: {"candidates":[{"index":0,' + finish + b',"finishReason":"STOP"}]}\n\n'
    restored_stream("gemini.stream_generate_content", [held, end])
