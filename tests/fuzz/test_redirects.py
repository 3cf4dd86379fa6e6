"""Fuzzing the portal's open-redirect guard (``identity/redirects.py``): any ``next``.

Properties: ``safe_next`` never raises; what it returns is the default, a portal path
(``/`` not followed by ``/`` or ``\\``) or an ``https://`` URL of an allowed host on the
default port, with no character a browser would strip, reinterpret or that would break a
``Location`` header; resolved against the portal's own URL it stays on the portal or on
an allowed host; and it is a fixed point (checking the result again gives the result).
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from hypothesis import example, given
from hypothesis import strategies as st

from warden.identity.redirects import safe_next

from .strategies import texts

ALLOWED = {"chatgpt.com", "claude.ai", "gemini.google.com"}
PORTAL = "https://warden.example.com/portal/"

_PIECES = st.sampled_from(
    [
        "/",
        "//",
        "\\",
        "/\\",
        "https:",
        "https://",
        "http://",
        "javascript:",
        "%2f",
        "%2F",
        "%5c",
        "%252f",
        "%2e",
        "..",
        ".",
        "@",
        ":",
        ":443",
        ":444",
        "?",
        "#",
        "\t",
        "\n",
        " ",
        "\x00",
        "\x7f",
        "chatgpt.com",
        "CHATGPT.COM.",
        "evil.com",
        "claude.ai",
        "xn--",
        "\uff43\uff48\uff41\uff54\uff47\uff50\uff54.com",
        "\u3002",
        "[::1]",
        "0x7f.1",
        "%ed%a0%80",
        "\ud800",
        "é",
    ]
)
next_values = st.one_of(
    st.lists(_PIECES, max_size=10).map("".join),
    st.lists(st.one_of(_PIECES, texts), max_size=6).map("".join),
    st.text(max_size=60),
)

# Never in the result: what a browser strips or reinterprets, and what ends a header value
# or an HTML attribute. (`'` stays: a valid URL character; HTML use escapes it, see the
# module doc of redirects.py.)
_FORBIDDEN = set(map(chr, range(0x21))) | {"\x7f", "\\", '"', "<", ">", "`"}


@given(next_values)
@example("/\\evil.com")
@example("https://chatgpt.com@evil.com/")
@example("/%ed%a0%80")
@example("/\ud800")
@example("https://chatgpt.com/\ud800")
@example("/'")  # a valid URL character (the property was too strict)
def test_safe_next(value: str) -> None:
    result = safe_next(value, allowed_hosts=ALLOWED)
    assert not _FORBIDDEN & set(result), result
    assert result.isascii()
    if result.startswith("/"):
        assert not result.startswith("//")
    else:
        parts = urlsplit(result)
        assert parts.scheme == "https" and parts.hostname in ALLOWED and parts.port is None
        assert not parts.username and not parts.password
    target = urlsplit(urljoin(PORTAL, result))
    assert target.hostname in ALLOWED | {"warden.example.com"}
    assert safe_next(result, allowed_hosts=ALLOWED) == result
