"""The development IdP (``packaging/dev-idp/server.mjs``, panva's oidc-provider) as a test peer.

The test gives users, clients and resources; the harness writes them into a JSON config,
starts the node server on a free loopback port, waits for discovery, and stops it by PID.
The helpers drive the IdP's login form over plain HTTP, as a browser would.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin

import httpx

from tests.peers import Peer, free_port, wait_until

SERVER = Path(__file__).resolve().parents[2] / "packaging" / "dev-idp" / "server.mjs"

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
PROXY_RESOURCE = "urn:egress-warden:proxy"

DEFAULT_USERS: list[dict[str, Any]] = [
    {
        "sub": "alice",
        "email": "alice@acme.example",
        "name": "Alice Archer",
        "tenant": "acme",
        "department": "eng",
        "groups": ["llm-users", "eng"],
        "password": "dev-alice-password",
    },
    {
        "sub": "bob",
        "email": "bob@acme.example",
        "name": "Bob Baker",
        "tenant": "acme",
        "department": "finance",
        "groups": ["llm-users"],
        "password": "dev-bob-password",
    },
    {
        "sub": "carol",
        "email": "carol@globex.example",
        "name": "Carol Chen",
        "tenant": "globex",
        "department": "research",
        "groups": ["llm-users", "reviewers"],
        "password": "dev-carol-password",
    },
    {
        "sub": "dave",
        "email": "dave@acme.example",
        "name": "Dave Dunn",
        "tenant": "acme",
        "department": "sales",
        "groups": [],
        "password": "dev-dave-password",
    },
]

DEFAULT_RESOURCES: dict[str, dict[str, Any]] = {PROXY_RESOURCE: {"scope": "proxy"}}


class LoginFailed(Exception):
    """The IdP answered the login form with the form again (wrong password, disabled user)."""

    def __init__(self, status: int, page: str) -> None:
        super().__init__(f"login refused with HTTP {status}")
        self.status = status
        self.page = page


# --------------------------------------------------------------------------- client metadata


def public_client(
    client_id: str = "warden-cli",
    redirect_uris: list[str] | None = None,
    default_resource: str | None = None,
) -> dict[str, Any]:
    """A public client (no secret, PKCE S256) for the auth code and the device grant."""
    client: dict[str, Any] = {
        "client_id": client_id,
        "client_name": "warden login (terminal)",
        "application_type": "native",
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", DEVICE_GRANT, "refresh_token"],
        "response_types": ["code"],
        "redirect_uris": redirect_uris or ["http://127.0.0.1/callback"],
    }
    if default_resource:
        client["default_resource"] = default_resource
    return client


def portal_client(
    client_id: str,
    secret: str,
    redirect_uris: list[str],
    backchannel_logout_uri: str | None = None,
    post_logout_redirect_uris: list[str] | None = None,
) -> dict[str, Any]:
    """The gateway's login portal: confidential, auth code + PKCE + refresh tokens."""
    client: dict[str, Any] = {
        "client_id": client_id,
        "client_secret": secret,
        "client_name": "Egress Warden login portal",
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "redirect_uris": redirect_uris,
    }
    if post_logout_redirect_uris:
        client["post_logout_redirect_uris"] = post_logout_redirect_uris
    if backchannel_logout_uri:
        client["backchannel_logout_uri"] = backchannel_logout_uri
        client["backchannel_logout_session_required"] = True
    return client


def service_client(
    client_id: str,
    secret: str,
    token_claims: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A confidential service account with ``client_credentials``; ``token_claims`` (e.g.
    tenant, department) are added to its JWT access tokens."""
    client: dict[str, Any] = {
        "client_id": client_id,
        "client_secret": secret,
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["client_credentials"],
        "response_types": [],
        "redirect_uris": [],
    }
    if token_claims:
        client["token_claims"] = token_claims
    return client


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    return verifier, challenge.decode()


# --------------------------------------------------------------------------- HTML forms


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "id": a.get("id", ""), "fields": {}})
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")


def forms(html: str) -> list[dict[str, Any]]:
    """The page's forms: ``[{"action", "id", "fields": {name: value}}]``."""
    parser = _Forms()
    parser.feed(html)
    return parser.forms


# --------------------------------------------------------------------------- the peer


class DevIdp(Peer):
    """The dev IdP on a free loopback port; the issuer is ``http://127.0.0.1:<port>``."""

    def __init__(
        self,
        workdir: Path,
        *,
        users: list[dict[str, Any]] | None = None,
        clients: list[dict[str, Any]] | None = None,
        resources: dict[str, dict[str, Any]] | None = None,
        ttl: dict[str, int] | None = None,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.users = {u["sub"]: u for u in (users if users is not None else DEFAULT_USERS)}
        config: dict[str, Any] = {
            "port": self.port,
            "issuer": self.issuer,
            "resources": resources if resources is not None else DEFAULT_RESOURCES,
            "clients": clients if clients is not None else [public_client()],
            "users": list(self.users.values()),
        }
        if ttl:
            config["ttl"] = ttl
        self.config_path = workdir / "dev-idp.json"
        self.config_path.write_text(json.dumps(config, indent=2))
        self._discovery: dict[str, Any] | None = None
        super().__init__(
            "dev-idp",
            ["node", str(SERVER), "--config", str(self.config_path)],
            log_path=workdir / "dev-idp.log",
        )

    # -- lifecycle

    def start(self) -> None:
        super().start()

        def ready() -> bool:
            url = f"{self.issuer}/.well-known/openid-configuration"
            with urllib.request.urlopen(url, timeout=1) as r:
                self._discovery = json.load(r)
                return bool(r.status == 200)

        try:
            wait_until(ready, 30, "dev IdP", self.proc)
        except (TimeoutError, RuntimeError) as exc:
            self.stop()
            raise RuntimeError(f"{exc}\n--- dev IdP log ---\n{self.log()}") from None

    # -- metadata

    @property
    def discovery(self) -> dict[str, Any]:
        if self._discovery is None:
            self._discovery = httpx.get(f"{self.issuer}/.well-known/openid-configuration").json()
        return self._discovery

    def endpoint(self, name: str) -> str:
        """A discovery endpoint: ``endpoint("token")`` is ``token_endpoint``."""
        return str(self.discovery[f"{name}_endpoint"])

    def jwks(self) -> dict[str, Any]:
        return dict(httpx.get(self.discovery["jwks_uri"]).json())

    def authorize_url(
        self,
        client_id: str,
        redirect_uri: str,
        code_challenge: str | None,
        *,
        scope: str = "openid email profile warden",
        state: str | None = None,
        nonce: str | None = None,
        **extra: str,
    ) -> str:
        params: dict[str, str] = {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": scope,
            "state": state or secrets.token_urlsafe(16),
            "nonce": nonce or secrets.token_urlsafe(16),
        }
        if code_challenge is not None:
            params |= {"code_challenge": code_challenge, "code_challenge_method": "S256"}
        return f"{self.endpoint('authorization')}?{urlencode(params | extra)}"

    # -- the login form

    def _submit_login(
        self, client: httpx.Client, page: httpx.Response, username: str, password: str
    ) -> httpx.Response:
        login = next((f for f in forms(page.text) if "username" in f["fields"]), None)
        if login is None:
            raise AssertionError(f"no login form at {page.url} (HTTP {page.status_code})")
        fields = {**login["fields"], "username": username, "password": password}
        r = client.post(urljoin(str(page.url), login["action"]), data=fields)
        if r.status_code in (401, 403):
            raise LoginFailed(r.status_code, r.text)
        return r

    def _follow(
        self, client: httpx.Client, r: httpx.Response, username: str, password: str
    ) -> tuple[httpx.Response, str | None]:
        """Follow the IdP's redirects, answering the login form once; stop at the first
        redirect that leaves the IdP (returned, not fetched) or at a final page."""
        logged_in = False
        for _ in range(20):
            if r.is_redirect:
                location = urljoin(str(r.url), r.headers["location"])
                if not location.startswith(self.issuer + "/"):
                    return r, location
                r = client.get(location)
                continue
            if not logged_in and any("username" in f["fields"] for f in forms(r.text)):
                r = self._submit_login(client, r, username, password)
                logged_in = True
                continue
            return r, None
        raise AssertionError("too many redirects at the dev IdP")

    def password_login(
        self, client: httpx.Client, authorize_url: str, username: str, password: str
    ) -> str:
        """Sign in at ``authorize_url`` through the login form (automatic consent) and return
        the final redirect to the RP's redirect_uri (with ``code``/``state``), not fetched.
        Raises LoginFailed when the IdP shows the form again, AssertionError when the IdP
        ends on a page of its own (an error) instead of redirecting back."""
        r, location = self._follow(client, client.get(authorize_url), username, password)
        if location is None:
            raise AssertionError(f"the IdP did not redirect back: HTTP {r.status_code}\n{r.text}")
        return location

    def approve_device(self, user_code: str, username: str, password: str) -> None:
        """Enter ``user_code`` at the verification page, confirm, and sign in as the user."""
        with httpx.Client(timeout=10) as client:
            page = client.get(f"{self.issuer}/device")  # the verification_uri
            for form_id, extra in (
                ("op.deviceInputForm", {"user_code": user_code}),
                ("op.deviceConfirmForm", {}),
            ):
                form = next((f for f in forms(page.text) if f["id"] == form_id), None)
                if form is None:
                    raise AssertionError(f"no {form_id} at {page.url}: {page.text}")
                page = client.post(
                    urljoin(str(page.url), form["action"]), data={**form["fields"], **extra}
                )
            page, location = self._follow(client, page, username, password)
            if location is not None or "device-success" not in page.text:
                raise AssertionError(
                    f"device approval did not succeed: {page.status_code}\n{page.text}"
                )

    # -- tokens

    def client_credentials_token(
        self, client_id: str, secret: str, resource: str, scope: str | None = None
    ) -> str:
        """A JWT access token (RFC 9068) for ``resource`` from the client_credentials grant."""
        data = {"grant_type": "client_credentials", "resource": resource}
        if scope:
            data["scope"] = scope
        r = httpx.post(self.endpoint("token"), data=data, auth=(client_id, secret))
        if r.status_code != 200:
            raise AssertionError(f"client_credentials: HTTP {r.status_code} {r.text}")
        return str(r.json()["access_token"])

    # -- /__dev/ admin endpoints

    def _admin(self, path: str, data: dict[str, str] | None = None) -> dict[str, Any]:
        r = httpx.post(f"{self.issuer}/__dev/{path}", data=data or {}, timeout=10)
        r.raise_for_status()
        return dict(r.json())

    def rotate_keys(self, keep_old: bool = True) -> str:
        """Sign with a new RSA key from now on; returns its ``kid``. With ``keep_old`` the old
        keys stay in the JWKS (a normal rotation); without, earlier tokens no longer verify."""
        out = self._admin("rotate-keys", {"keep_old": "true" if keep_old else "false"})
        return str(out["kid"])

    def disable(self, sub: str) -> None:
        self._admin(f"users/{sub}/disable")

    def enable(self, sub: str) -> None:
        self._admin(f"users/{sub}/enable")

    def logout(self, sub: str) -> dict[str, Any]:
        """End the user's IdP sessions; RPs with a backchannel_logout_uri get a logout_token."""
        return self._admin(f"logout/{sub}")

    def health(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.issuer}/__dev/health").json())
