from __future__ import annotations

import pytest

from warden.providers.bedrockstream import BedrockStream
from warden.providers.shapes import StreamEvent, Usage

from .frames import chunk, event, frame
from .helpers import feed_all, is_broken, splits

CONVERSE = (
    event("messageStart", {"role": "assistant", "p": "abcd"})
    + event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Grüß"}, "p": "ab"})
    + event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": " Gott"}, "p": "a"})
    + event("contentBlockStop", {"contentBlockIndex": 0, "p": "abcdefg"})
    + event("messageStop", {"stopReason": "end_turn", "p": "ab"})
    + event(
        "metadata",
        {
            "usage": {"inputTokens": 12, "outputTokens": 5, "totalTokens": 17},
            "metrics": {"latencyMs": 312},
            "p": "abc",
        },
    )
)
CONVERSE_EVENTS = [
    StreamEvent(None, None, "messageStart"),
    StreamEvent("Grüß", None, "contentBlockDelta"),
    StreamEvent(" Gott", None, "contentBlockDelta"),
    StreamEvent(None, None, "contentBlockStop"),
    StreamEvent(None, None, "messageStop"),
    StreamEvent(None, Usage(12, 5), "metadata"),
]

INVOKE_ANTHROPIC = (
    chunk({"type": "message_start", "message": {"usage": {"input_tokens": 30, "output_tokens": 1}}})
    + chunk(
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}
    )
    + chunk(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 9},
        }
    )
    + chunk(
        {
            "type": "message_stop",
            "amazon-bedrock-invocationMetrics": {
                "inputTokenCount": 31,
                "outputTokenCount": 9,
                "invocationLatency": 500,
                "firstByteLatency": 100,
            },
        }
    )
)
INVOKE_ANTHROPIC_EVENTS = [
    StreamEvent(None, Usage(30, 1), "message_start"),
    StreamEvent("Hi", None, "content_block_delta"),
    StreamEvent(None, Usage(30, 9), "message_delta"),
    StreamEvent(None, Usage(31, 9), "message_stop"),
]


@pytest.mark.parametrize(
    ("stream", "expected"),
    [(CONVERSE, CONVERSE_EVENTS), (INVOKE_ANTHROPIC, INVOKE_ANTHROPIC_EVENTS)],
    ids=["converse", "invoke-anthropic"],
)
def test_every_split_gives_the_same_events(stream: bytes, expected: list[StreamEvent]) -> None:
    for chunks in splits(stream):
        parser = BedrockStream()
        assert feed_all(parser, chunks) == expected
        assert not parser.broken


def test_other_models_in_invoke_streams() -> None:
    stream = (
        chunk({"contentBlockDelta": {"delta": {"text": "nova"}, "contentBlockIndex": 0}})
        + chunk({"metadata": {"usage": {"inputTokens": 3, "outputTokens": 4}}})
        + chunk({"outputText": "titan", "index": 0})
        + chunk({"generation": "llama", "prompt_token_count": 5})
        + chunk({"outputs": [{"text": "mis"}, {"text": "tral"}]})
        + chunk({"completion": "claude2", "stop_reason": None})
        + chunk({"unknown": True})
    )
    assert feed_all(BedrockStream(), [stream]) == [
        StreamEvent("nova", None, "contentBlockDelta"),
        StreamEvent(None, Usage(3, 4), "metadata"),
        StreamEvent("titan", None, "chunk"),
        StreamEvent("llama", None, "chunk"),
        StreamEvent("mistral", None, "chunk"),
        StreamEvent("claude2", None, "chunk"),
        StreamEvent(None, None, "chunk"),
    ]


def test_exceptions_and_unreadable_payloads() -> None:
    exception = frame(
        {":message-type": "exception", ":exception-type": "throttlingException"},
        b'{"message":"Too many requests"}',
    )
    unreadable = (
        event("chunk", {"bytes": "!!not base64!!"})
        + event("chunk", {"bytes": 5})
        + frame({":event-type": "contentBlockDelta", ":message-type": "event"}, b"not json")
        + frame({":message-type": "event"}, b"{}")
    )
    assert feed_all(BedrockStream(), [exception + unreadable]) == [
        StreamEvent(None, None, "throttlingException")
    ]


def test_bad_crc_frame_is_skipped_and_bad_prelude_breaks() -> None:
    bad = bytearray(event("contentBlockDelta", {"delta": {"text": "lost"}}))
    bad[-2] ^= 0x10
    good = event("contentBlockDelta", {"delta": {"text": "kept"}})
    parser = BedrockStream()
    assert parser.feed(bytes(bad) + good) == [StreamEvent("kept", None, "contentBlockDelta")]
    assert not parser.broken
    broken_prelude = bytearray(good)
    broken_prelude[9] ^= 0x01
    assert parser.feed(bytes(broken_prelude) + good) == []
    assert is_broken(parser)
    assert parser.feed(good) == [] and parser.close() == []
