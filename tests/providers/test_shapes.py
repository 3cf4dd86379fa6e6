from __future__ import annotations

import dataclasses

import pytest

from warden.providers.shapes import JSON_STRING, ParsedRequest, StreamEvent, TextSegment, Usage


def test_unparsed() -> None:
    assert ParsedRequest.unparsed("openai", "body too large", "openai.embeddings", "m") == (
        ParsedRequest("openai", "openai.embeddings", "m", False, (), False, False, "body too large")
    )


def test_types_are_frozen_and_slotted() -> None:
    for value in (
        TextSegment(("a",), "user", "x"),
        Usage(1, 2),
        StreamEvent("t", None, None),
        ParsedRequest.unparsed("s", "r"),
    ):
        assert not hasattr(value, "__dict__")
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, dataclasses.fields(value)[0].name, "y")
    assert Usage(1, 2).estimated is False
    assert JSON_STRING == "<json>"
