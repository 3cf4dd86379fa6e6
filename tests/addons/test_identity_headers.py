"""strip_identity_headers: what a client says about who it is never reaches the provider
(or a later hop that might trust it); everything else is left exactly as it was."""

from __future__ import annotations

from mitmproxy import http

from warden.addons.identify import strip_identity_headers


def _headers(*pairs: tuple[str, str]) -> http.Headers:
    return http.Headers([(k.encode(), v.encode()) for k, v in pairs])


def test_headers_without_identity_claims_are_left_untouched() -> None:
    headers = _headers(
        ("Host", "api.openai.com"),
        ("Authorization", "Bearer sk-x"),
        ("Content-Type", "application/json"),
        ("X-Forwarded-For", "10.0.0.7"),
    )
    before = headers.fields
    strip_identity_headers(headers)
    assert headers.fields is before


def test_identity_claims_in_any_spelling_are_removed() -> None:
    headers = _headers(
        ("Host", "api.openai.com"),
        ("X-FORWARDED-USER", "admin"),
        ("x_auth_request_email", "ceo@acme.example"),
        ("Remote-User", "admin"),
        ("proxy-authorization", "Basic eDp5"),
        ("X-Warden-Principal", "ceo"),
        ("Authorization", "Bearer sk-x"),
    )
    strip_identity_headers(headers)
    assert [k for k, _ in headers.fields] == [b"Host", b"Authorization"]


def test_portal_cookies_are_removed_and_other_cookies_kept() -> None:
    headers = _headers(
        ("Cookie", "__Host-warden_session=stolen; keep=1"),
        ("cookie", "warden_session=x"),
        ("Accept", "*/*"),
    )
    strip_identity_headers(headers)
    assert headers.get_all("cookie") == ["keep=1"]
    assert headers["accept"] == "*/*"


def test_a_header_name_that_is_not_utf8_does_not_break_stripping() -> None:
    headers = http.Headers([(b"X-\xff", b"1"), (b"Remote-User", b"admin")])
    strip_identity_headers(headers)
    assert headers.fields == ((b"X-\xff", b"1"),)
