"""Gemini web frames: lengths in UTF-16 units, any chunking, cumulative text to deltas,
the framing's failures named (broken, too large) with what was not read kept."""

from __future__ import annotations

import pytest

from warden.providers.geminiframes import Frame, FrameDecoder, GeminiWebStream, Raw, utf16_units
from warden.providers.streams import stream_parser_for

from .gemini_frames import answer_frames, frame

TEXTS = ["Hallo", "Hallo 👋 Welt", "Hallo 👋 Welt, <PERSON_1>!"]


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1 << 20])
def test_cumulative_text_becomes_deltas_in_any_chunking(size: int) -> None:
    parser = stream_parser_for("gemini_web.stream_generate")
    assert isinstance(parser, GeminiWebStream)
    events = []
    for piece in chunked(answer_frames(TEXTS).encode(), size):
        events += parser.feed(piece)
    events += parser.close()
    assert [e.text for e in events if e.text] == ["Hallo", " 👋 Welt", ", <PERSON_1>!"]
    assert not parser.broken and parser.conversation_id == "c_7f3a"
    assert all(e.usage is None for e in events)  # the app reports none: estimated upstream


def test_thoughts_and_a_rewritten_text() -> None:
    parser = GeminiWebStream()
    body = answer_frames(["Draft one", "Second try"], thoughts=["Think", "Think more"])
    texts = [e.text for e in parser.feed(body.encode()) + parser.close() if e.text]
    # text that changed other than by growing is reported whole
    assert texts == ["ThinkDraft one", " moreSecond try"]


def test_decoder_keeps_every_byte_apart() -> None:
    body = answer_frames(TEXTS)
    items = FrameDecoder().feed(body.encode())
    rebuilt = "".join(
        i.text if isinstance(i, Raw) else f"{utf16_units(i.body)}{i.body}" for i in items
    )
    assert rebuilt == body
    assert isinstance(items[0], Raw) and items[0].text == ")]}'"
    assert sum(isinstance(i, Frame) for i in items) == len(TEXTS) + 2


def test_length_counts_utf16_units_not_characters() -> None:
    one = frame([["x", "😀"]])  # the emoji is one character, two UTF-16 units
    assert one.startswith(str(len(one.split("\n", 1)[1]) + 2))
    items = FrameDecoder().feed(one.encode() + frame([["y"]]).encode())
    assert [i.json_text for i in items if isinstance(i, Frame)] == ['[["x","😀"]]', '[["y"]]']


def test_no_prefix_is_fine() -> None:
    items = FrameDecoder().feed(frame([["a"]]).encode())
    assert [i.json_text for i in items if isinstance(i, Frame)] == ['[["a"]]']


@pytest.mark.parametrize(
    "body",
    [
        b")]}'\nhello",  # neither a length nor white space
        b")]}'\n" + b"9" * 13 + b"\n",  # a length of more than 12 digits
        b")]}'\n2\n\xf0\x9f\x98\x80",  # the length ends inside a surrogate pair
        b")]}'\n5\n[\xff]\n",  # not UTF-8
    ],
)
def test_lost_framing_is_broken_and_keeps_the_rest(body: bytes) -> None:
    decoder = FrameDecoder()
    decoder.feed(body)
    decoder.close()
    assert decoder.broken
    assert decoder.rest and body.endswith(decoder.rest[-3:])


def test_a_frame_over_the_limit_is_too_large() -> None:
    decoder = FrameDecoder(max_frame=100)
    decoder.feed(b")]}'\n101\n")
    assert decoder.too_large and decoder.broken


def test_a_stream_cut_inside_a_frame_is_broken_at_close() -> None:
    decoder = FrameDecoder()
    data = answer_frames(TEXTS).encode()
    decoder.feed(data[: len(data) // 2])
    decoder.close()
    assert decoder.broken


def test_other_envelopes_and_bad_json_add_no_text() -> None:
    parser = GeminiWebStream()
    body = ")]}'\n" + frame([["wrb.fr", None, "{not json"], ["wrb.fr", None, 7]]) + "3\n[\n"
    events = parser.feed(body.encode()) + parser.close()
    assert [e.text for e in events if e.text] == []
