from __future__ import annotations

import pytest

from warden.providers.jsonbody import (
    MAX_BODY_BYTES,
    BodyError,
    encode,
    get_at,
    load_object,
    loads,
    loads_answer,
    set_at,
)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),
        (b"\xc3", "body is not valid UTF-8"),
        (b"{", "body is not valid JSON"),
        (b"[1]", "body is not a JSON object"),
        (b'{"a":1,"a":2}', "duplicate JSON key"),
        (b'{"x":{"a":1,"a":1}}', "duplicate JSON key"),
        (b"[" * 100_000, "body nesting too deep"),
        (b"{" + b" " * MAX_BODY_BYTES + b"}", "body too large"),
    ],
)
def test_load_object_refuses(body: bytes, reason: str) -> None:
    with pytest.raises(BodyError) as info:
        load_object(body)
    assert info.value.reason == reason == str(info.value)


def test_load_object_and_loads() -> None:
    assert load_object('{"a": [1, "ü", null, true, 1.5]}'.encode()) == {
        "a": [1, "ü", None, True, 1.5]
    }
    assert loads('{"a": {"b": 1}, "c": {"b": 2}}') == {"a": {"b": 1}, "c": {"b": 2}}


def test_answers_are_read_like_the_client_reads_them() -> None:
    # Requests refuse a repeated key (we must see what upstream sees); answers are read
    # for usage only, and a repeat resolves to the last value as in the client's parser.
    assert loads_answer('{"usage": {"n": 1}, "usage": {"n": 2}}') == {"usage": {"n": 2}}
    for text, reason in (("{", "body is not valid JSON"), ("[" * 100_000, "body nesting too deep")):
        with pytest.raises(BodyError) as info:
            loads_answer(text)
        assert info.value.reason == reason


def test_encode() -> None:
    assert encode({"a": ["ü", 1]}) == '{"a":["ü",1]}'.encode()
    assert encode({"a": "\udc80"}) == b'{"a":"\\udc80"}'


DOC = {"a": [{"b": "x"}, '[null,"[[\\"p\\",0]]"]'], "n": 1}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("a", 0, "b"), "x"),
        (("n",), 1),
        (("a", 1, "<json>", 1, "<json>", 0, 0), "p"),
    ],
)
def test_get_at(path: tuple[str | int, ...], value: object) -> None:
    assert get_at(DOC, path) == value


@pytest.mark.parametrize(
    "path",
    [("a", 2), ("a", -1), ("a", "0"), ("z",), ("n", "<json>"), ("a", 0, "<json>"), ("a", True)],
)
def test_get_at_missing(path: tuple[str | int, ...]) -> None:
    with pytest.raises(LookupError):
        get_at(DOC, path)


def test_set_at_nested_json_string() -> None:
    doc = {"f": [None, '[["old",0],["de"]]']}
    out = set_at(doc, ("f", 1, "<json>", 0, 0), "néu")
    assert out is doc
    assert doc == {"f": [None, '[["néu",0],["de"]]']}


def test_a_dict_key_named_like_the_marker_is_a_key() -> None:
    doc = {"<json>": "v"}
    assert get_at(doc, ("<json>",)) == "v"
    assert set_at(doc, ("<json>",), "w") == {"<json>": "w"}
