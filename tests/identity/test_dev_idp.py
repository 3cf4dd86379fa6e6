"""The development IdP proves each capability the identity tests rely on, over HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import jwt
import pytest

from tests.identity.devidp import (
    DEVICE_GRANT,
    PROXY_RESOURCE,
    DevIdp,
    LoginFailed,
    forms,
    pkce_pair,
    portal_client,
    public_client,
    service_client,
)

pytestmark = pytest.mark.e2e

PORTAL = "warden-portal"
PORTAL_SECRET = "dev-portal-secret"
PORTAL_CALLBACK = "https://portal.warden.test/auth/callback"
PORTAL_SIGNED_OUT = "https://portal.warden.test/signed-out"
SERVICE = "acme-batch"
SERVICE_SECRET = "dev-service-secret"
CLI = "warden-cli"


class LogoutReceiver:
    """A tiny RP back-channel logout endpoint: records every POST body."""

    def __init__(self) -> None:
        received: list[dict[str, list[str]]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                received.append(parse_qs(body.decode()))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/backchannel-logout"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[LogoutReceiver]:
    r = LogoutReceiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory, receiver: LogoutReceiver) -> Iterator[DevIdp]:
    peer = DevIdp(
        tmp_path_factory.mktemp("dev-idp"),
        clients=[
            public_client(CLI),
            portal_client(
                PORTAL, PORTAL_SECRET, [PORTAL_CALLBACK], receiver.url, [PORTAL_SIGNED_OUT]
            ),
            service_client(SERVICE, SERVICE_SECRET, {"tenant": "acme", "department": "eng"}),
        ],
    )
    peer.start()
    yield peer
    peer.stop()


def verify(idp: DevIdp, token: str, audience: str) -> dict[str, Any]:
    """Verify a JWT against the IdP's published JWKS (fetched fresh) and return its claims."""
    key = jwt.PyJWKClient(idp.discovery["jwks_uri"], cache_jwk_set=False).get_signing_key_from_jwt(
        token
    )
    return dict(jwt.decode(token, key, algorithms=["RS256"], audience=audience, issuer=idp.issuer))


def portal_login(
    idp: DevIdp, client: httpx.Client, username: str, password: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The portal's auth code + PKCE flow; returns (token response, verified ID token claims)."""
    verifier, challenge = pkce_pair()
    url = idp.authorize_url(PORTAL, PORTAL_CALLBACK, challenge, state="st-1", nonce="n-1")
    callback = idp.password_login(client, url, username, password)
    assert callback.startswith(PORTAL_CALLBACK + "?")
    query = parse_qs(urlparse(callback).query)
    assert query["state"] == ["st-1"]
    assert query["iss"] == [idp.issuer]  # RFC 9207
    r = httpx.post(
        idp.endpoint("token"),
        auth=(PORTAL, PORTAL_SECRET),
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": PORTAL_CALLBACK,
            "code_verifier": verifier,
        },
    )
    assert r.status_code == 200, r.text
    tokens = r.json()
    claims = verify(idp, tokens["id_token"], PORTAL)
    assert claims["nonce"] == "n-1"
    return tokens, claims


def test_discovery_advertises_the_features(idp: DevIdp) -> None:
    d = idp.discovery
    assert d["issuer"] == idp.issuer
    assert d["device_authorization_endpoint"] == f"{idp.issuer}/device/auth"
    assert d["backchannel_logout_supported"] is True
    assert d["backchannel_logout_session_supported"] is True
    assert d["code_challenge_methods_supported"] == ["S256"]
    assert {"openid", "email", "profile", "warden", "offline_access"} <= set(d["scopes_supported"])
    assert {"tenant", "department", "groups"} <= set(d["claims_supported"])
    for name in ("introspection", "revocation", "end_session", "token", "authorization"):
        assert d[f"{name}_endpoint"].startswith(idp.issuer + "/")
    assert DEVICE_GRANT in d["grant_types_supported"]
    assert "client_credentials" in d["grant_types_supported"]
    keys = idp.jwks()["keys"]
    assert keys and all(k["kty"] == "RSA" and "d" not in k for k in keys)


def test_auth_code_pkce_gives_id_token_with_warden_claims(idp: DevIdp) -> None:
    with httpx.Client() as browser:
        tokens, claims = portal_login(idp, browser, "alice@acme.example", "dev-alice-password")
    assert claims["sub"] == "alice"
    assert claims["tenant"] == "acme"
    assert claims["department"] == "eng"
    assert claims["groups"] == ["llm-users", "eng"]
    assert claims["email"] == "alice@acme.example"
    assert claims["email_verified"] is True
    assert claims["name"] == "Alice Archer"
    assert claims["sid"]  # backchannel_logout_session_required
    assert tokens["refresh_token"]
    r = httpx.post(
        idp.endpoint("token"),
        auth=(PORTAL, PORTAL_SECRET),
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert r.status_code == 200, r.text
    assert verify(idp, r.json()["id_token"], PORTAL)["tenant"] == "acme"

    # the portal's (opaque) access token: introspection, then revocation
    access_token = r.json()["access_token"]

    def introspect() -> dict[str, Any]:
        r = httpx.post(
            idp.endpoint("introspection"),
            auth=(PORTAL, PORTAL_SECRET),
            data={"token": access_token},
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    assert introspect()["active"] is True
    assert introspect()["sub"] == "alice"
    r = httpx.post(
        idp.endpoint("revocation"), auth=(PORTAL, PORTAL_SECRET), data={"token": access_token}
    )
    assert r.status_code == 200, r.text
    assert introspect()["active"] is False


def test_pkce_is_required(idp: DevIdp) -> None:
    with httpx.Client() as browser:
        # no code_challenge at all: the authorization request is refused back to the RP
        url = idp.authorize_url(CLI, "http://127.0.0.1/callback", None)
        r = browser.get(url)
        assert r.is_redirect
        query = parse_qs(urlparse(r.headers["location"]).query)
        assert query["error"] == ["invalid_request"]
        assert "PKCE" in query["error_description"][0]

        # a challenge, then a token request without the verifier
        _, challenge = pkce_pair()
        url = idp.authorize_url(CLI, "http://127.0.0.1/callback", challenge)
        callback = idp.password_login(browser, url, "bob", "dev-bob-password")
    code = parse_qs(urlparse(callback).query)["code"][0]
    r = httpx.post(
        idp.endpoint("token"),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": CLI,
            "redirect_uri": "http://127.0.0.1/callback",
        },
    )
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"


def test_wrong_password_shows_the_form_again(idp: DevIdp) -> None:
    _, challenge = pkce_pair()
    with httpx.Client() as browser, pytest.raises(LoginFailed) as failed:
        idp.password_login(
            browser, idp.authorize_url(PORTAL, PORTAL_CALLBACK, challenge), "alice", "wrong"
        )
    assert failed.value.status == 401
    assert "Wrong username or password" in failed.value.page
    assert any("password" in f["fields"] for f in forms(failed.value.page))
    assert "Error" not in failed.value.page  # a page, not a stack trace


def test_device_flow(idp: DevIdp) -> None:
    r = httpx.post(
        idp.endpoint("device_authorization"),
        data={"client_id": CLI, "scope": "openid warden proxy", "resource": PROXY_RESOURCE},
    )
    assert r.status_code == 200, r.text
    start = r.json()
    assert start["verification_uri"] == f"{idp.issuer}/device"
    assert start["user_code"] and start["device_code"]
    poll = {"grant_type": DEVICE_GRANT, "device_code": start["device_code"], "client_id": CLI}

    pending = httpx.post(idp.endpoint("token"), data=poll)
    assert pending.status_code == 400
    assert pending.json()["error"] == "authorization_pending"

    idp.approve_device(start["user_code"], "carol@globex.example", "dev-carol-password")

    r = httpx.post(idp.endpoint("token"), data=poll)
    assert r.status_code == 200, r.text
    tokens = r.json()
    id_claims = verify(idp, tokens["id_token"], CLI)
    assert (id_claims["sub"], id_claims["tenant"], id_claims["department"]) == (
        "carol",
        "globex",
        "research",
    )
    assert jwt.get_unverified_header(tokens["access_token"])["typ"] == "at+jwt"
    at = verify(idp, tokens["access_token"], PROXY_RESOURCE)
    assert at["sub"] == "carol" and at["client_id"] == CLI
    assert at["tenant"] == "globex" and at["groups"] == ["llm-users", "reviewers"]

    # the device code is single use
    reused = httpx.post(idp.endpoint("token"), data=poll)
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"


def test_client_credentials_gives_rfc9068_jwt(idp: DevIdp) -> None:
    token = idp.client_credentials_token(SERVICE, SERVICE_SECRET, PROXY_RESOURCE, scope="proxy")
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256"
    claims = verify(idp, token, PROXY_RESOURCE)
    assert claims["aud"] == PROXY_RESOURCE
    assert claims["sub"] == SERVICE and claims["client_id"] == SERVICE
    assert claims["scope"] == "proxy"
    assert (claims["tenant"], claims["department"]) == ("acme", "eng")
    assert {"exp", "iat", "jti"} <= set(claims)
    # a JWT access token is self-contained: the IdP does not introspect it
    r = httpx.post(
        idp.endpoint("introspection"), auth=(SERVICE, SERVICE_SECRET), data={"token": token}
    )
    assert r.status_code == 400 and r.json()["error"] == "unsupported_token_type"

    r = httpx.post(
        idp.endpoint("token"),
        auth=(SERVICE, "not-the-secret"),
        data={"grant_type": "client_credentials", "resource": PROXY_RESOURCE},
    )
    assert r.status_code == 401
    r = httpx.post(
        idp.endpoint("token"),
        auth=(SERVICE, SERVICE_SECRET),
        data={"grant_type": "client_credentials", "resource": "urn:unknown"},
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_target"


def test_disabled_user_cannot_sign_in(idp: DevIdp) -> None:
    idp.disable("dave")
    try:
        _, challenge = pkce_pair()
        with httpx.Client() as browser, pytest.raises(LoginFailed) as failed:
            idp.password_login(
                browser,
                idp.authorize_url(PORTAL, PORTAL_CALLBACK, challenge),
                "dave",
                "dev-dave-password",
            )
        assert failed.value.status == 403
        assert "disabled" in failed.value.page
    finally:
        idp.enable("dave")
    with httpx.Client() as browser:
        _, claims = portal_login(idp, browser, "dave", "dev-dave-password")
    assert claims["groups"] == []


def test_backchannel_logout_posts_a_logout_token(idp: DevIdp, receiver: LogoutReceiver) -> None:
    with httpx.Client() as browser:
        _, id_claims = portal_login(idp, browser, "bob", "dev-bob-password")
        receiver.received.clear()
        out = idp.logout("bob")
        assert out["notified"] == [PORTAL], out

        assert len(receiver.received) == 1
        logout_token = receiver.received[0]["logout_token"][0]
        claims = verify(idp, logout_token, PORTAL)
        assert claims["sub"] == "bob"
        assert claims["sid"] == id_claims["sid"]
        assert "http://schemas.openid.net/event/backchannel-logout" in claims["events"]
        assert "nonce" not in claims and claims["jti"]
        assert jwt.get_unverified_header(logout_token)["typ"] == "logout+jwt"

        # the IdP session is gone: the same browser must sign in again
        _, challenge = pkce_pair()
        r = browser.get(
            idp.authorize_url(PORTAL, PORTAL_CALLBACK, challenge), follow_redirects=True
        )
        assert any("username" in f["fields"] for f in forms(r.text))


def test_rp_initiated_logout_also_notifies_the_back_channel(
    idp: DevIdp, receiver: LogoutReceiver
) -> None:
    with httpx.Client() as browser:
        tokens, id_claims = portal_login(idp, browser, "carol", "dev-carol-password")
        receiver.received.clear()
        page = browser.get(
            idp.endpoint("end_session"),
            params={
                "id_token_hint": tokens["id_token"],
                "post_logout_redirect_uri": PORTAL_SIGNED_OUT,
                "state": "bye",
            },
        )
        form = next(f for f in forms(page.text) if f["id"] == "op.logoutForm")
        r = browser.post(form["action"], data={**form["fields"], "logout": "yes"})
    assert r.is_redirect
    assert r.headers["location"] == f"{PORTAL_SIGNED_OUT}?state=bye"
    assert len(receiver.received) == 1
    claims = verify(idp, receiver.received[0]["logout_token"][0], PORTAL)
    assert (claims["sub"], claims["sid"]) == ("carol", id_claims["sid"])


def test_key_rotation_changes_kid(idp: DevIdp) -> None:
    before = idp.client_credentials_token(SERVICE, SERVICE_SECRET, PROXY_RESOURCE)
    old_kid = jwt.get_unverified_header(before)["kid"]

    new_kid = idp.rotate_keys()
    assert new_kid != old_kid
    after = idp.client_credentials_token(SERVICE, SERVICE_SECRET, PROXY_RESOURCE)
    assert jwt.get_unverified_header(after)["kid"] == new_kid
    assert {k["kid"] for k in idp.jwks()["keys"]} >= {old_kid, new_kid}
    verify(idp, before, PROXY_RESOURCE)  # the old key is still published
    verify(idp, after, PROXY_RESOURCE)

    newest = idp.rotate_keys(keep_old=False)
    assert [k["kid"] for k in idp.jwks()["keys"]] == [newest]
    with pytest.raises(jwt.PyJWKClientError):
        verify(idp, after, PROXY_RESOURCE)

    # sessions and logins survive a rotation
    with httpx.Client() as browser:
        portal_login(idp, browser, "alice", "dev-alice-password")


def test_health_request_log_and_clean_sigterm(tmp_path: Path) -> None:
    peer = DevIdp(tmp_path, clients=[public_client(CLI)])
    peer.start()
    try:
        assert peer.health()["status"] == "ok"
    finally:
        rc = peer.stop()
    assert rc == 0
    log = peer.log()
    assert "GET /__dev/health 200" in log
    assert "SIGTERM" in log
