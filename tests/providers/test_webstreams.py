from __future__ import annotations

import json

from warden.providers.shapes import StreamEvent, Usage
from warden.providers.webstreams import ChatGptWebStream, ClaudeWebStream

from .helpers import feed_all, splits


def sse(*events: tuple[str | None, object]) -> bytes:
    out = ""
    for name, data in events:
        if name:
            out += f"event: {name}\n"
        out += (
            f"data: {data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}\n\n"
        )
    return out.encode()


def message(
    text_parts: list[object], role: str = "assistant", mid: str = "m1"
) -> dict[str, object]:
    return {
        "message": {
            "id": mid,
            "author": {"role": role, "name": None, "metadata": {}},
            "content": {"content_type": "text", "parts": text_parts},
            "status": "in_progress",
            "metadata": {"model_slug": "gpt-4o"},
        },
        "conversation_id": "c1",
        "error": None,
    }


CUMULATIVE = sse(
    (None, message(["Draft"], role="user", mid="u1")),
    (None, message(["Hel"])),
    (None, message(["Hello wö"])),
    (None, message(["Hello wörld"])),
    (None, message(["Hello"])),  # the app replaced the text: report it whole
    (None, message(["Second"], mid="m2")),
    (None, {"type": "title_generation", "title": "Greeting"}),
    (None, "[DONE]"),
)
CUMULATIVE_EVENTS = [
    StreamEvent(None, None, None),
    StreamEvent("Hel", None, None),
    StreamEvent("lo wö", None, None),
    StreamEvent("rld", None, None),
    StreamEvent("Hello", None, None),
    StreamEvent("Second", None, None),
    StreamEvent(None, None, "title_generation"),
]

PATCHES = sse(
    ("delta_encoding", "v1"),
    ("delta", {"p": "", "o": "add", "v": message([""]), "c": 0}),
    ("delta", {"p": "/message/content/parts/0", "o": "append", "v": "Hal"}),
    ("delta", {"v": "lo"}),
    ("delta", {"v": " 👋"}),
    (
        "delta",
        {
            "p": "",
            "o": "patch",
            "v": [
                {"p": "/message/content/parts/0", "o": "append", "v": "!"},
                {"p": "/message/status", "o": "replace", "v": "finished_successfully"},
                {
                    "p": "/message/metadata",
                    "o": "append",
                    "v": {"finish_details": {"type": "stop"}},
                },
            ],
        },
    ),
    ("delta", {"p": "/message/content/parts/0", "o": "truncate", "v": 4}),
    (None, {"type": "message_stream_complete", "conversation_id": "c1"}),
    (None, "[DONE]"),
)
PATCH_EVENTS = [
    StreamEvent(None, None, "delta_encoding"),
    StreamEvent(None, None, "delta"),
    StreamEvent("Hal", None, "delta"),
    StreamEvent("lo", None, "delta"),
    StreamEvent(" 👋", None, "delta"),
    StreamEvent("!", None, "delta"),
    StreamEvent("Hall", None, "delta"),
    StreamEvent(None, None, "message_stream_complete"),
]


def test_chatgpt_cumulative_every_split() -> None:
    for chunks in splits(CUMULATIVE):
        parser = ChatGptWebStream()
        assert feed_all(parser, chunks) == CUMULATIVE_EVENTS
        assert parser.full_text == "Second"


def test_chatgpt_patches_every_split() -> None:
    for chunks in splits(PATCHES):
        parser = ChatGptWebStream()
        assert feed_all(parser, chunks) == PATCH_EVENTS
        assert parser.full_text == "Hall"


def test_chatgpt_full_text_after_patches_before_truncate() -> None:
    parser = ChatGptWebStream()
    cut = PATCHES.index(b'event: delta\ndata: {"p": "/message/content/parts/0", "o": "truncate"')
    parser.feed(PATCHES[:cut])
    assert parser.full_text == "Hallo 👋!"


def test_chatgpt_odd_patches_do_not_raise() -> None:
    stream = sse(
        ("delta", {"v": "text before any message"}),
        ("delta", {"p": "/nowhere/deep/0", "o": "append", "v": "x"}),
        ("delta", {"p": "message", "o": "append", "v": "x"}),
        ("delta", {"p": 5, "o": "add", "v": {}}),
        ("delta", {"p": "", "o": "add", "v": message(["a"])}),
        ("delta", {"p": "/message/content/parts/9", "o": "append", "v": "x"}),
        ("delta", {"p": "/message/content/parts/-", "o": "add", "v": "b"}),
        ("delta", {"p": "/message/content/parts", "o": "append", "v": ["c"]}),
        ("delta", {"p": "/message/content/parts", "o": "append", "v": {"image": 1}}),
        (
            "delta",
            {"o": "patch", "v": [1, {"p": "/message/author/role", "o": "replace", "v": "tool"}]},
        ),
        ("delta", {"v": "ignored: not the assistant"}),
    )
    texts = [e.text for e in feed_all(ChatGptWebStream(), [stream])]
    assert texts == [None, None, None, None, "a", None, "b", "c", None, None, None]


CLAUDE = sse(
    (
        "completion",
        {
            "type": "completion",
            "id": "chatcompl_1",
            "completion": "Hallo",
            "stop_reason": None,
            "model": "claude-sonnet-4-5",
            "log_id": "x",
        },
    ),
    ("ping", {"type": "ping"}),
    ("completion", {"type": "completion", "completion": " Welt", "stop_reason": "stop_sequence"}),
    ("message_start", {"type": "message_start", "message": {"usage": {"input_tokens": 3}}}),
    (
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "neu"}},
    ),
)
CLAUDE_EVENTS = [
    StreamEvent("Hallo", None, "completion"),
    StreamEvent(None, None, "ping"),
    StreamEvent(" Welt", None, "completion"),
    StreamEvent(None, Usage(3, None), "message_start"),
    StreamEvent("neu", None, "content_block_delta"),
]


def test_claude_every_split() -> None:
    for chunks in splits(CLAUDE):
        assert feed_all(ClaudeWebStream(), chunks) == CLAUDE_EVENTS


def test_chatgpt_rebuilding_work_is_bounded() -> None:
    """Tiny replace operations next to a large text would make the parser rebuild the
    whole text per event (work quadratic in the stream): past 16x the stream's size it
    stops and says too_large, so the answer is cut instead of the event loop stalled."""
    parser = ChatGptWebStream()
    parser.feed(sse(("delta", {"p": "", "o": "add", "v": message(["x" * 400_000, ""])})))
    replace = sse(("delta", {"p": "/message/content/parts/1", "o": "replace", "v": "y"}))
    fed = 0
    while not parser.too_large and fed < 1000:
        parser.feed(replace)
        fed += 1
    assert parser.too_large and parser.broken and fed < 100
    assert parser.feed(replace) == []
