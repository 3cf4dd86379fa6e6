"""Fuzzing Gemini web frames (a hostile upstream): the decoder, the stream parser and the
pseudonym restorer never raise; the same bytes give the same items however they are cut;
the decoder accounts for every byte (what it yields, then ``rest``, is the input); the
restorer, with nothing to restore, passes the answer on byte for byte; linear time."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from warden.dlp import PseudonymVault
from warden.dlp.webrestore import GeminiFrameRestorer
from warden.providers.geminiframes import Frame, FrameDecoder, GeminiWebStream, Raw, encode_frame
from warden.providers.sse import StreamTooLarge

from .gemini_streams import frame_streams
from .strategies import chunked, scaled

LIMIT = 4096


def strings_of(text: str) -> list[str]:
    """Every string of a frame's JSON and of the JSON documents inside its strings."""
    try:
        doc = json.loads(text)
    except ValueError:
        return []
    out: list[str] = []
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            out.append(node)
            try:
                inner = json.loads(node)
            except ValueError:
                continue
            if isinstance(inner, list | dict):
                stack.append(inner)
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            stack.extend(node.values())
    return out


def decode(chunks: list[bytes]) -> tuple[list[Raw | Frame], bool, bytes]:
    """Items, broken, and what was not read: ``rest`` then what came after the break."""
    decoder = FrameDecoder(LIMIT)
    items: list[Raw | Frame] = []
    after = b""
    for chunk in chunks:
        if decoder.broken:
            after += chunk
        else:
            items += decoder.feed(chunk)
    items += decoder.close()
    return items, decoder.broken, decoder.rest + after


def written(items: list[Raw | Frame]) -> bytes:
    text = "".join(i.text if isinstance(i, Raw) else encode_frame(i.body) for i in items)
    return text.encode("utf-8", "surrogatepass")


@scaled(1)
@given(st.data())
def test_decoder_chunking_and_every_byte_accounted_for(data: st.DataObject) -> None:
    body = data.draw(st.one_of(frame_streams(), st.binary(max_size=64)))
    whole = decode([body] if body else [])
    assert decode(chunked(data.draw, body)) == whole
    items, broken, rest = whole
    if not broken:
        assert written(items) == body and rest == b""
    elif not any(isinstance(i, Frame) and len(i.body) > LIMIT for i in items):
        assert body.endswith(rest)  # what was not read is handed back as it came


@scaled(1)
@given(st.data())
def test_parser_is_bounded_and_chunking_free(data: st.DataObject) -> None:
    body = data.draw(frame_streams())

    def run(chunks: list[bytes]) -> tuple[list[object], bool]:
        parser = GeminiWebStream(LIMIT)
        events: list[object] = []
        for chunk in chunks:
            events += parser.feed(chunk)
        return events + parser.close(), parser.broken

    whole = run([body] if body else [])
    assert run(chunked(data.draw, body)) == whole
    assert len(whole[0]) <= len(body) + 1


@scaled(1)
@given(st.data())
def test_restorer_never_raises_and_changes_nothing_without_placeholders(
    data: st.DataObject,
) -> None:
    body = data.draw(frame_streams())
    for vault in (PseudonymVault({"<NOT_THERE_9>": "x"}), PseudonymVault({"<PERSON_1>": "Ann"})):
        restorer = GeminiFrameRestorer(vault, LIMIT)
        try:
            out = b"".join(restorer.feed(c) for c in chunked(data.draw, body)) + restorer.close()
        except StreamTooLarge:
            continue  # the caller cuts the answer (fail closed)
        if "<NOT_THERE_9>" in vault:
            assert out == body
        elif not decode([body])[1]:  # a valid stream stays valid, with nothing left to restore
            items, broken, _ = decode([out])
            assert not broken
            for frame in (i for i in items if isinstance(i, Frame)):
                assert not any("<PERSON_1>" in t for t in strings_of(frame.json_text))


def test_one_byte_chunks_of_a_large_frame_take_linear_time() -> None:
    # 256 KB fed one byte at a time: a decoder that re-read what it holds would do ~3e10
    # steps and never finish; this one looks at each byte once.
    text = "x" * (256 * 1024)
    body = (")]}'\n" + encode_frame("\n" + json.dumps([["wrb.fr", None, text]]) + "\n")).encode()
    decoder = FrameDecoder(1 << 20)
    items = [item for i in range(len(body)) for item in decoder.feed(body[i : i + 1])]
    assert [len(i.body) for i in items if isinstance(i, Frame)] == [len(text) + 24]
