"""Pseudonyms restored in the web apps' answers through the one restoring engine:
ChatGPT's SSE (whole messages and the ``v``/``p``/``o`` delta encoding), Claude's SSE
(text, thinking, the old ``completion`` events) and Gemini's length-prefixed frames.

Placeholders are cut across events on purpose: ``<PER`` + ``SON_1>``. The ChatGPT delta
events follow the shapes the bridges replaying chatgpt.com read (``event: delta_encoding``
then ``data: "v1"``, ``{"p": "", "o": "add", "v": {"message": ...}}``, ``{"p":
"/message/content/parts/0", "o": "append", "v": ...}``, bare ``{"v": ...}`` and ``{"o":
"patch", "v": [...]}``), as ``providers/webstreams.py`` documents them."""

from __future__ import annotations

import json

import pytest

from tests.providers.gemini_frames import answer_frames
from warden.dlp import PseudonymVault
from warden.dlp.webrestore import (
    GeminiFrameRestorer,
    restore_answer_body,
    restore_streamed_answer,
    restores_stream,
)
from warden.providers.geminiframes import FrameDecoder, GeminiWebStream
from warden.providers.sse import StreamTooLarge
from warden.providers.webstreams import ChatGptWebStream, ClaudeWebStream

VAULT = PseudonymVault({"<PERSON_1>": "Alice Example"})


def sse(name: str | None, doc: object) -> bytes:
    head = f"event: {name}\n" if name else ""
    data = doc if isinstance(doc, str) else json.dumps(doc)
    return f"{head}data: {data}\n\n".encode()


def run(api: str, events: list[bytes], size: int) -> bytes:
    restorer = restore_streamed_answer(api, VAULT, 1 << 20)
    data = b"".join(events)
    out = b"".join(restorer.feed(data[i : i + size]) for i in range(0, len(data), size))
    return out + restorer.feed(b"")


def chatgpt_delta_events() -> list[bytes]:
    message = {
        "id": "m-2",
        "author": {"role": "assistant"},
        "content": {"content_type": "text", "parts": [""]},
        "status": "in_progress",
    }
    return [
        sse("delta_encoding", '"v1"'),
        sse("delta", {"p": "", "o": "add", "v": {"message": message, "conversation_id": "c"}}),
        sse("delta", {"p": "/message/content/parts/0", "o": "append", "v": "Dear <PER"}),
        sse("delta", {"v": "SON_1>, thanks"}),
        sse("delta", {"v": " — <PERSON"}),
        sse(
            "delta",
            {
                "p": "",
                "o": "patch",
                "v": [
                    {"p": "/message/content/parts/0", "o": "append", "v": "_1>!"},
                    {"p": "/message/status", "o": "replace", "v": "finished_successfully"},
                ],
            },
        ),
        sse(None, {"type": "message_stream_complete", "conversation_id": "c"}),
        sse(None, "[DONE]"),
    ]


@pytest.mark.parametrize("size", [1, 5, 1 << 20])
def test_chatgpt_delta_encoding_restored_across_events(size: int) -> None:
    out = run("chatgpt.conversation", chatgpt_delta_events(), size)
    parser = ChatGptWebStream()
    parser.feed(out)
    parser.close()
    assert parser.full_text == "Dear Alice Example, thanks — Alice Example!"
    assert b"PERSON" not in out and b"/message/status" in out


def test_chatgpt_held_text_goes_out_before_a_new_message() -> None:
    events = chatgpt_delta_events()[:3]  # "Dear <PER" held, then a new message starts
    events.append(sse("delta", {"p": "", "o": "add", "v": {"message": {"id": "m-3"}}}))
    out = run("chatgpt.conversation", events, 1 << 20)
    tail = b'event: delta\ndata: {"p":"/message/content/parts/0","o":"append","v":"<PER"}'
    assert out.index(tail) < out.index(b'"m-3"')  # nothing is lost, in order


def test_chatgpt_whole_message_form_restored() -> None:
    def event(text: str) -> bytes:
        message = {"id": "m", "author": {"role": "assistant"}, "content": {"parts": [text]}}
        return sse(None, {"message": message, "conversation_id": "c"})

    out = run(
        "chatgpt.conversation", [event("Hi <PER"), event("Hi <PERSON_1>"), sse(None, "[DONE]")], 3
    )
    assert out.count(b"Alice Example") == 1 and b"<PERSON_1>" not in out


def claude_events() -> list[bytes]:
    def ev(name: str, **fields: object) -> bytes:
        return sse(name, {"type": name, **fields})

    return [
        ev("message_start", message={"id": "m", "model": "", "content": []}),
        ev("content_block_start", index=0, content_block={"type": "thinking", "thinking": ""}),
        ev(
            "content_block_delta",
            index=0,
            delta={"type": "thinking_delta", "thinking": "Ask <PERS"},
        ),
        ev("content_block_delta", index=0, delta={"type": "thinking_delta", "thinking": "ON_1>"}),
        ev(
            "content_block_delta",
            index=0,
            delta={"type": "thinking_summary_delta", "summary": {"summary": "About <PERSON_1>"}},
        ),
        ev("content_block_stop", index=0),
        ev("content_block_start", index=1, content_block={"type": "text", "text": ""}),
        ev("content_block_delta", index=1, delta={"type": "text_delta", "text": "Hello <"}),
        ev("content_block_delta", index=1, delta={"type": "text_delta", "text": "PERSON_1>"}),
        ev("content_block_stop", index=1),
        ev("message_limit", message_limit={"type": "within_limit"}),
        ev("message_stop"),
    ]


@pytest.mark.parametrize("size", [1, 9, 1 << 20])
def test_claude_web_text_thinking_and_summary_restored(size: int) -> None:
    out = run("claude.completion", claude_events(), size)
    assert b"PERSON" not in out and out.count(b"Alice Example") == 3
    parser = ClaudeWebStream()
    texts = [e.text for e in parser.feed(out) + parser.close() if e.text]
    assert "".join(texts) == "Ask Alice ExampleAbout Alice ExampleHello Alice Example"


def test_claude_old_completion_events_restored() -> None:
    events = [
        sse("completion", {"completion": "Hi <PERS", "stop_reason": None, "model": "claude-2"}),
        sse("completion", {"completion": "ON_1>.", "stop_reason": None}),
        sse("completion", {"completion": "", "stop_reason": "stop_sequence"}),
    ]
    out = run("claude.completion", events, 4)
    parser = ClaudeWebStream()
    texts = [e.text for e in parser.feed(out) + parser.close() if e.text]
    assert "".join(texts) == "Hi Alice Example."


TEXTS = ["Hallo <PER", "Hallo <PERSON_1> 👋", "Hallo <PERSON_1> 👋, bis bald"]


@pytest.mark.parametrize("size", [1, 2, 13, 1 << 20])
def test_gemini_frames_restored_with_new_lengths(size: int) -> None:
    out = run("gemini_web.stream_generate", [answer_frames(TEXTS).encode()], size)
    # the restored stream is a valid frame stream: its lengths were written anew
    decoder = FrameDecoder()
    decoder.feed(out)
    decoder.close()
    assert not decoder.broken
    parser = GeminiWebStream()
    texts = [e.text for e in parser.feed(out) + parser.close() if e.text]
    assert texts[-1].endswith(", bis bald") and "".join(texts).count("Alice Example") == 1
    assert "<PERSON_1>" not in out.decode() and out.startswith(b")]}'")


def test_gemini_frames_without_placeholders_pass_byte_for_byte() -> None:
    body = answer_frames(["Nothing to restore", "Nothing to restore here"]).encode()
    assert run("gemini_web.stream_generate", [body], 7) == body


def test_gemini_lost_framing_passes_the_rest_as_it_came() -> None:
    body = b")]}'\n" + b"garbage <PERSON_1> tail"
    assert run("gemini_web.stream_generate", [body], 4) == body  # nothing invented or lost


def test_gemini_frame_over_the_limit_cuts_the_answer() -> None:
    restorer = GeminiFrameRestorer(VAULT, 64)
    with pytest.raises(StreamTooLarge):
        restorer.feed(answer_frames(["x" * 100]).encode())


def test_whole_bodies_are_restored_like_streams() -> None:
    body = answer_frames(TEXTS).encode()
    out = restore_answer_body("gemini_web.stream_generate", body, VAULT, len(body) + 1)
    assert b"<PERSON_1>" not in out and b"Alice Example" in out
    events = b"".join(chatgpt_delta_events())
    out = restore_answer_body("chatgpt.conversation", events, VAULT, len(events) + 1)
    assert b"PERSON" not in out


def test_every_web_app_answer_has_a_restorer() -> None:
    for api in ("chatgpt.conversation", "claude.completion", "gemini_web.stream_generate"):
        assert restores_stream(api)
    assert not restores_stream("nope") and not restores_stream(None)
