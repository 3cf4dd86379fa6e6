"""safe_next: the open-redirect table (oauth2-proxy's CVE history, OWASP) and the safe shapes."""

from __future__ import annotations

import pytest

from warden.identity.redirects import MAX_NEXT_LENGTH, normalise_host, safe_next

CATALOG = {"chatgpt.com", "claude.ai", "xn--caf-dma.example"}
DEFAULT = "/portal/"


def check(value: str | None) -> str:
    return safe_next(value, allowed_hosts=CATALOG, default=DEFAULT)


@pytest.mark.parametrize(
    "value",
    [
        # scheme-relative and its browser spellings
        "//evil.com",
        "///evil.com",
        "////evil.com",
        "/\\evil.com",
        "\\/evil.com",
        "\\\\evil.com",
        "/\t/evil.com",
        "/\n/evil.com",
        "/\r\n/evil.com",
        "/\\\t\\evil.com",
        " //evil.com",
        "\x01//evil.com",
        "/\x00/evil.com",
        "/\x7f/evil.com",
        # encoded whitespace, slashes, backslashes and dots
        "/%09/evil.com",
        "/%0a/evil.com",
        "/%0D%0A/evil.com",
        "/%2F%2Fevil.com",
        "/%2f/evil.com",
        "/%5Cevil.com",
        "/%5c%5cevil.com",
        "/%252F%252Fevil.com",
        "/.//evil.com",
        "/%2e//evil.com",
        "/..//evil.com",
        "/a/../..//evil.com",
        # schemes and their malformed spellings
        "https:evil.com",
        "https:/evil.com",
        "https:///evil.com",
        "https:\\\\evil.com",
        "https:chatgpt.com",
        "https:/chatgpt.com",
        "https:///chatgpt.com",
        "http://chatgpt.com",
        "HTTP://chatgpt.com/",
        "ftp://chatgpt.com/",
        "wss://chatgpt.com/",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "javascript://chatgpt.com/%0aalert(1)",
        "data:text/html,<script>alert(1)</script>",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "vbscript:msgbox(1)",
        "mailto:a@evil.com",
        # userinfo tricks
        "https://chatgpt.com@evil.com",
        "https://chatgpt.com@evil.com/",
        "https://evil.com@chatgpt.com",
        "https://user:pass@chatgpt.com/",
        "https://chatgpt.com%40evil.com/",
        "https://evil.com\\@chatgpt.com",
        "https://evil.com\\.chatgpt.com",
        # host lookalikes and confusion
        "https://chatgpt.com.evil.com",
        "https://chatgpt.com%2eevil.com",
        "https://chatgpt.com%2Eevil.com/",
        "https://evil.com#chatgpt.com",
        "https://evil.com?chatgpt.com",
        "https://evil.com/chatgpt.com",
        "https://evilchatgpt.com/",
        "https://chatgpt.c\u043em/",  # Cyrillic small o
        "https://\u0441hatgpt.com/",  # Cyrillic small es
        "https://chatgpt.com%2f@evil.com",
        "https://chatgpt.com%00.evil.com/",
        "https://chat%67pt.com%2eevil.com/",
        "https://chatgpt..com/",
        "https://.chatgpt.com/",
        "https://chatgpt.com../",
        "https:// chatgpt.com/",
        "https://chat gpt.com/",
        "https://[::1]/",
        "https://127.0.0.1/",
        "https://0x7f.1/",
        "https://2130706433/",
        "https://%/",
        "https://%ff/",
        "https:///",
        "https://",
        # ports
        "https://chatgpt.com:444/",
        "https://chatgpt.com:80/",
        "https://chatgpt.com:0443x/",
        "https://chatgpt.com:\uff14\uff14\uff13/",  # fullwidth digits
        "https://chatgpt.com:443:443/",
        "https://chatgpt.com:99999999999999999999/",
        # not a portal path and not an absolute URL
        "evil.com",
        "evil.com/path",
        "portal/done",
        "./portal",
        "../portal",
        "?next=//evil.com",
        "#fragment",
        "",
        "   ",
        "\t\n",
        # length
        "/" + "a" * MAX_NEXT_LENGTH,
        "https://chatgpt.com/" + "a" * MAX_NEXT_LENGTH,
    ],
)
def test_attack_falls_back_to_default(value: str) -> None:
    assert check(value) == DEFAULT


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/portal/done", "/portal/done"),
        ("/x?y=1#z", "/x?y=1#z"),
        ("/", "/"),
        ("/portal/done?next=//evil.com", "/portal/done?next=//evil.com"),  # query is inert
        ("/a/./b/../c", "/a/c"),
        ("/a b", "/a%20b"),
        ("/caf\u00e9", "/caf%C3%A9"),
        ('/x?q="<script>"', "/x?q=%22%3Cscript%3E%22"),
        ("/x?q=a\\b", "/x?q=a%5Cb"),
        ("  /portal/done\t", "/portal/done"),
        ("/por\ttal/do\nne", "/portal/done"),
        ("/x\x00", "/x"),  # trailing C0 controls are stripped, as browsers do
        ("/a\\b", "/a/b"),
        ("/%2e%2e/x", "/x"),
        ("https://chatgpt.com/c/123?model=gpt-4o", "https://chatgpt.com/c/123?model=gpt-4o"),
        ("https://chatgpt.com", "https://chatgpt.com/"),
        ("https://chatgpt.com?x=1", "https://chatgpt.com/?x=1"),
        ("https://CHATGPT.COM./x", "https://chatgpt.com/x"),
        ("HTTPS://ChatGPT.com/x", "https://chatgpt.com/x"),
        ("https://chatgpt.com:443/x", "https://chatgpt.com/x"),
        ("https://chatgpt.com:/x", "https://chatgpt.com/x"),
        ("https://chat%67pt.com/", "https://chatgpt.com/"),
        ("https://chatgpt.com\\c\\1", "https://chatgpt.com/c/1"),
        ("https://chatgpt.com/a/../b", "https://chatgpt.com/b"),
        ("https://chatgpt.com/x#frag", "https://chatgpt.com/x#frag"),
        ("https://claude.ai/new", "https://claude.ai/new"),
        ("https://\uff43\uff48\uff41\uff54\uff47\uff50\uff54\u3002com/", "https://chatgpt.com/"),
        ("https://caf\u00e9.example/", "https://xn--caf-dma.example/"),  # punycode in catalog
        ("https://CAF\u00c9.example/", "https://xn--caf-dma.example/"),
    ],
)
def test_safe_targets_are_normalised(value: str, expected: str) -> None:
    assert check(value) == expected


def test_none_gives_default() -> None:
    assert check(None) == DEFAULT
    assert safe_next(None, allowed_hosts=CATALOG) == "/"


def test_predicate_receives_normalised_host() -> None:
    seen: list[str] = []

    def allowed(host: str) -> bool:
        seen.append(host)
        return host.endswith(".openai.com")

    assert (
        safe_next("https://Chat.OpenAI.com./x", allowed_hosts=allowed)
        == "https://chat.openai.com/x"
    )
    assert safe_next("https://chat.openai.com.evil/x", allowed_hosts=allowed) == "/"
    assert seen == ["chat.openai.com", "chat.openai.com.evil"]


def test_set_entries_are_normalised() -> None:
    assert (
        safe_next("https://chatgpt.com/", allowed_hosts={"ChatGPT.com."}) == "https://chatgpt.com/"
    )


def test_empty_catalog_allows_only_portal_paths() -> None:
    assert safe_next("https://chatgpt.com/", allowed_hosts=set()) == "/"
    assert safe_next("/done", allowed_hosts=set()) == "/done"


@pytest.mark.parametrize("default", ["//evil.com", "https://chatgpt.com/", "evil", "/a b"])
def test_unsafe_default_is_a_programming_error(default: str) -> None:
    with pytest.raises(ValueError, match="default"):
        safe_next("/x", allowed_hosts=CATALOG, default=default)


def test_output_is_header_safe() -> None:
    for value in [
        "/a\u2028b",
        "/a%0d%0aSet-Cookie:x",
        "/<>\"'`{}|^",
        "https://chatgpt.com/\u00a0x",
    ]:
        out = check(value)
        assert out.isascii()
        assert not any(c in out for c in ' \r\n\t"<>\\')


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("ChatGPT.com.", "chatgpt.com"),
        ("chatgpt.c\u043em", "chatgpt.xn--cm-fmc"),
        ("xn--caf-dma.example", "xn--caf-dma.example"),
        ("a_b.example", None),
        ("1.2.3.4", None),
        ("", None),
        ("%zz", None),
        ("a" * 64 + ".com", None),
    ],
)
def test_normalise_host(host: str, expected: str | None) -> None:
    assert normalise_host(host) == expected
