"""Validation of name-constraint host names."""

from __future__ import annotations

import pytest

from warden.certs import CAError
from warden.certs.names import validate_names


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("API.openai.com", "lowercase"),
        ("*.openai.com", "wildcard"),
        (".openai.com", "leading dot"),
        ("openai.com.", "trailing dot"),
        ("com", "at least two labels"),
        ("", "non-empty"),
        ("api..openai.com", "not a valid host name"),
        ("-api.openai.com", "not a valid host name"),
        ("api-.openai.com", "not a valid host name"),
        ("api_x.openai.com", "not a valid host name"),
        ("api.openai.com/v1", "not a valid host name"),
        ("https://api.openai.com", "not a valid host name"),
        ("a" * 64 + ".com", "not a valid host name"),
        (("a" * 62 + ".") * 4 + "com", "longer than 253"),
        ("bücher.de", "IDNA"),
        ("10.0.0.1", "IP address"),
        ("api openai.com", "not a valid host name"),
    ],
)
def test_bad_names_are_named_in_the_error(name: str, problem: str) -> None:
    with pytest.raises(CAError) as e:
        validate_names(["chatgpt.com", name])
    assert repr(name) in str(e.value)
    assert problem in str(e.value)
    assert "api.openai.com" in e.value.diagnostics()


@pytest.mark.parametrize(
    "name",
    [
        "api.openai.com",
        "chatgpt.com",
        "xn--bcher-kva.de",
        "a-b.c1.example",
        "generativelanguage.googleapis.com",
    ],
)
def test_good_names(name: str) -> None:
    assert validate_names([name]) == (name,)


def test_duplicates_are_dropped_in_order() -> None:
    assert validate_names(["b.example", "a.example", "b.example"]) == ("b.example", "a.example")


def test_empty_list_and_bare_string_are_refused() -> None:
    with pytest.raises(CAError, match="empty list"):
        validate_names([])
    with pytest.raises(CAError, match="must be a list"):
        validate_names("api.openai.com")
