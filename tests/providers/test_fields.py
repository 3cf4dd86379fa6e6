from __future__ import annotations

import pytest

from warden.providers.fields import (
    Segments,
    ShapeError,
    as_object,
    opt_list,
    opt_object,
    opt_str,
    req_list,
    role_of,
    stream_of,
)
from warden.providers.shapes import TextSegment


def test_accessors() -> None:
    doc: dict[str, object] = {"l": [1], "s": "x", "o": {"k": 1}, "n": None}
    assert opt_list(doc, "l") == [1] and opt_list(doc, "n") is None and opt_list(doc, "z") is None
    assert opt_str(doc, "s") == "x" and opt_str(doc, "n") is None
    assert opt_object(doc, "o") == {"k": 1} and opt_object(doc, "z") is None
    assert req_list(doc, "l") == [1]
    assert as_object({"a": 1}, "thing") == {"a": 1}


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        (lambda: opt_list({"l": "x"}, "l"), "l is not a list"),
        (lambda: req_list({}, "messages"), "missing messages"),
        (lambda: req_list({"messages": None}, "messages"), "missing messages"),
        (lambda: opt_str({"s": 1}, "s"), "s is not a string"),
        (lambda: opt_object({"o": []}, "o"), "o is not an object"),
        (lambda: as_object("x", "message"), "message is not an object"),
    ],
)
def test_shape_errors(call: object, reason: str) -> None:
    with pytest.raises(ShapeError) as info:
        call()  # type: ignore[operator]
    assert info.value.reason == reason


@pytest.mark.parametrize(
    ("message", "role"),
    [
        ({"role": "system"}, "system"),
        ({"role": "developer"}, "developer"),
        ({"role": "assistant"}, "assistant"),
        ({"role": "tool"}, "tool"),
        ({"role": "function"}, "tool"),
        ({"role": "model"}, "user"),
        ({"role": "root"}, "user"),
        ({}, "user"),
    ],
)
def test_role_of(message: dict[str, object], role: str) -> None:
    assert role_of(message) == role


def test_stream_of_is_true_only_for_true() -> None:
    assert [stream_of({"stream": v}) for v in (True, "true", 1, None, False)] == [
        True,
        False,
        False,
        False,
        False,
    ]


def test_segments() -> None:
    segments = Segments()
    segments.add(("a",), "user", "x")
    segments.add_field({"k": "y", "n": None}, "k", ("p", 0), "system")
    segments.add_field({"k": "y", "n": None}, "n", ("p", 0), "system")
    assert len(segments) == 2
    assert segments.freeze() == (
        TextSegment(("a",), "user", "x"),
        TextSegment(("p", 0, "k"), "system", "y"),
    )
