from __future__ import annotations

import pytest

from warden.providers.requestpath import ANY, match, split_target


@pytest.mark.parametrize(
    ("target", "segments"),
    [
        ("/v1/chat/completions", ("v1", "chat", "completions")),
        ("/v1/chat/completions?a=1/2", ("v1", "chat", "completions")),
        ("//v1///x/", ("v1", "x")),
        ("/a/./b/../c", ("a", "c")),
        ("/../../a", ("a",)),
        ("/model/arn%3Aaws%2Fx/converse", ("model", "arn:aws/x", "converse")),
        ("/a%2e%2e/b", ("a..", "b")),
        ("/%2e%2e/b", ("b",)),
        ("/x#frag?y", ("x",)),
        ("/%ff", ("\ufffd",)),
        ("", ()),
    ],
)
def test_split_target(target: str, segments: tuple[str, ...]) -> None:
    assert split_target(target) == segments


@pytest.mark.parametrize(
    ("segments", "route", "captured"),
    [
        (("v1", "Chat"), ("v1", "chat"), ()),
        (("openai", "deployments", "Gpt4"), ("openai", "deployments", ANY), ("Gpt4",)),
        (("v1",), ("v1", "chat"), None),
        (("v1", "chat", "x"), ("v1", "chat"), None),
        (("v2", "chat"), ("v1", "chat"), None),
    ],
)
def test_match(
    segments: tuple[str, ...], route: tuple[str, ...], captured: tuple[str, ...] | None
) -> None:
    assert match(segments, route) == captured
