"""Portal cookies are removed with the attributes they were set with (issue 19, 9).

A browser ignores a ``__Host-`` Set-Cookie without ``Secure``, deletions included: the
session cookie of a signed-out user stayed in the browser.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from pathlib import Path

import pytest

from warden.identity.sessions import UserIdentity

from .portal_bed import portal_bed

ALICE = UserIdentity("acme", "https://idp.example", "alice", "alice@acme.example")


@pytest.mark.parametrize(
    "public_url,name,secure",
    [
        ("https://warden.example.com", "__Host-warden_session", True),
        ("http://127.0.0.1", "warden_session", False),
    ],
)
async def test_sign_out_deletes_the_session_cookie_as_it_was_set(
    tmp_path: Path, public_url: str, name: str, secure: bool
) -> None:
    async with portal_bed(tmp_path, public_url) as bed:
        issued = bed.portal.sessions.create_session(ALICE, "oidc", 3600)
        async with bed.client() as browser:
            r = await browser.post(
                bed.url("/portal/logout"), headers={"Cookie": f"{name}={issued.token}"}
            )
            assert r.status == 200
            (header,) = r.headers.getall("Set-Cookie")
        morsel = SimpleCookie(header)[name]
        assert morsel.value == "" and morsel["max-age"] == "0" and morsel["path"] == "/"
        assert bool(morsel["secure"]) is secure
        assert morsel["httponly"] and morsel["samesite"] == "Lax"
        assert not morsel["domain"]  # __Host-: no Domain
        assert bed.portal.sessions.session_by_token(issued.token) is None
