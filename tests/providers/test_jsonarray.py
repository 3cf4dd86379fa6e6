from __future__ import annotations

import pytest

from warden.providers.jsonarray import JsonArrayDecoder

from .helpers import splits

STREAM = (
    '[{"candidates": [{"content": {"parts": [{"text": "a \\"]}\\\\"}], "role": "model"}}]}\r\n'
    ',\r\n{"x": [1, [2, {"y": "ü 👋 {"}]]}\r\n,\r\n[3]\r\n]\r\n'
).encode()
ITEMS = [
    {"candidates": [{"content": {"parts": [{"text": 'a "]}\\'}], "role": "model"}}]},
    {"x": [1, [2, {"y": "ü 👋 {"}]]},
    [3],
]


def decode(chunks: list[bytes]) -> tuple[list[object], bool]:
    decoder = JsonArrayDecoder()
    items: list[object] = []
    for chunk in chunks:
        items += decoder.feed(chunk)
    items += decoder.close()
    return items, decoder.broken


def test_every_split_gives_the_same_elements() -> None:
    for chunks in splits(STREAM):
        assert decode(chunks) == (ITEMS, False), chunks


def test_elements_come_out_as_soon_as_they_close() -> None:
    decoder = JsonArrayDecoder()
    assert decoder.feed(b'  [{"a": 1}') == [{"a": 1}]
    assert decoder.feed(b',{"b"') == []
    assert decoder.feed(b":2}") == [{"b": 2}]
    assert decoder.feed(b"]") == [] and not decoder.broken


@pytest.mark.parametrize(
    ("stream", "items"),
    [
        (b'{"a": 1}', []),
        (b'[1, {"a": 1}]', []),
        (b'[{"a": 1}] x', [{"a": 1}]),
        (b'[{"a": 1}', [{"a": 1}]),
        (b'[{"a": 1}, {"b": ', [{"a": 1}]),
    ],
)
def test_broken_streams(stream: bytes, items: list[object]) -> None:
    assert decode([stream]) == (items, True)


def test_an_invalid_element_is_skipped() -> None:
    assert decode([b'[{"a": 1,}, {"a": 1, "a": 2}, {"b": 2}]']) == ([{"b": 2}], False)


def test_empty_array_and_empty_stream() -> None:
    assert decode([b" [ ] "]) == ([], False)
    assert decode([b""]) == ([], False)


def test_overlong_element_breaks() -> None:
    decoder = JsonArrayDecoder(max_element_bytes=16)
    assert decoder.feed(b'[{"a": "0123456789abcdef"}, {"b": 1}]') == []
    assert decoder.broken and decoder.too_large
