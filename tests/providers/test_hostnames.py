from __future__ import annotations

import pytest

from warden.providers.hostnames import (
    is_ip_literal,
    is_loopback,
    normalize_host,
    normalize_pattern,
)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("api.openai.com", "api.openai.com"),
        ("API.OpenAI.COM", "api.openai.com"),
        ("api.openai.com.", "api.openai.com"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("a" * 63 + ".com", "a" * 63 + ".com"),
        ("localhost", "localhost"),
        ("", None),
        (".", None),
        ("api.openai.com..", None),
        ("api..openai.com", None),
        (".api.openai.com", None),
        ("api.openai.com:443", None),
        ("a" * 64 + ".com", None),
        (("a" * 62 + ".") * 4 + "com", None),  # 255 characters
        ("-api.openai.com", None),
        ("api-.openai.com", None),
        ("api_x.openai.com", None),
        ("\u0430pi.openai.com", None),  # Cyrillic a
        ("api.openai.com/", None),
        ("api openai.com", None),
        ("*.openai.com", None),
        (None, None),
        (42, None),
    ],
)
def test_normalize_host(host: object, expected: str | None) -> None:
    assert normalize_host(host) == expected


def test_normalize_host_length_limit_is_253() -> None:
    name = ".".join(["a" * 63] * 3) + "." + "b" * 61  # 253 characters
    assert len(name) == 253
    assert normalize_host(name) == name
    assert normalize_host(name + ".") == name
    assert normalize_host("c" + name) is None


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("api.openai.com", "api.openai.com"),
        ("API.Example.com.", "api.example.com"),
        ("*.openai.azure.com", "*.openai.azure.com"),
        ("*.Example.COM", "*.example.com"),
    ],
)
def test_normalize_pattern(pattern: str, expected: str) -> None:
    assert normalize_pattern(pattern) == expected


@pytest.mark.parametrize(
    "pattern",
    [
        "",
        "*",
        "*.",
        "*.com",
        "com",
        "a.*.com",
        "*foo.com",
        "**.foo.com",
        "https://a.com",
        "a.com:1",
    ],
)
def test_normalize_pattern_refuses(pattern: str) -> None:
    with pytest.raises(ValueError, match="is not valid: write a host name"):
        normalize_pattern(pattern)


@pytest.mark.parametrize(
    ("host", "ip", "loopback"),
    [
        ("127.0.0.1", True, True),
        ("127.8.9.10", True, True),
        ("::1", True, True),
        ("localhost", False, True),
        ("10.0.0.1", True, False),
        ("2001:db8::1", True, False),
        ("localhost.evil.example", False, False),
        ("127.0.0.1.nip.io", False, False),
        ("1.2.3", False, False),  # not an address: a (bad) name
        ("", False, False),
    ],
)
def test_ip_literals_and_loopback(host: str, ip: bool, loopback: bool) -> None:
    assert is_ip_literal(host) is ip
    assert is_loopback(host) is loopback
