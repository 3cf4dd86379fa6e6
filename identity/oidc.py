"""The gateway as an OpenID Connect client of one IdP: discovery, code + PKCE, device grant, tokens.

authlib builds the authorization URL and runs the code exchange (PKCE S256); ID tokens
and back-channel logout tokens are verified here with pyjwt against the IdP's JWKS
(``JwksCache``: pinned algorithms, exact issuer, audience = our client id, leeway ≤ 60 s,
nonce bound to the login attempt). The IdP is called only from the portal and from
`warden login`, never on the proxy's hot path.

Over 400 lines: one client of one IdP, its discovery, flows and token checks.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from authlib.integrations.httpx_client import AsyncOAuth2Client  # type: ignore[import-untyped]

from .jwks import JwksCache, JwksError

LEEWAY_S = 60  # clock skew tolerated between gateway and IdP; more would widen replay windows
HTTP_TIMEOUT_S = 10.0
PROBE_TTL_S = 15.0
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


class IdpUnreachable(Exception):
    """The IdP did not answer (down, DNS, TLS): a new login cannot proceed."""


class IdpRefused(Exception):
    """The IdP answered with an OAuth error; ``error`` is its code (e.g. access_denied)."""

    def __init__(self, error: str, description: str = "") -> None:
        self.error = error
        self.description = description
        super().__init__(f"{error}: {description}" if description else error)


class InvalidIdToken(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class Discovery:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    device_authorization_endpoint: str | None
    end_session_endpoint: str | None

    @classmethod
    def parse(cls, doc: Mapping[str, Any], expected_issuer: str) -> Discovery:
        if doc.get("issuer") != expected_issuer:
            # OIDC Discovery 1.0 §4.3: the issuer must match exactly, or an attacker who
            # controls the document could make us trust another IdP's tokens.
            raise IdpRefused(
                "issuer_mismatch",
                f"discovery names issuer {str(doc.get('issuer'))[:200]!r}, config says "
                f"{expected_issuer!r}",
            )
        try:
            return cls(
                issuer=expected_issuer,
                authorization_endpoint=_url(doc["authorization_endpoint"]),
                token_endpoint=_url(doc["token_endpoint"]),
                jwks_uri=_url(doc["jwks_uri"]),
                device_authorization_endpoint=_opt_url(doc.get("device_authorization_endpoint")),
                end_session_endpoint=_opt_url(doc.get("end_session_endpoint")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise IdpRefused("bad_discovery", f"discovery document lacks {exc}") from None


def _url(v: object) -> str:
    if not isinstance(v, str) or not v.startswith(("https://", "http://")) or len(v) > 2048:
        raise ValueError("an endpoint URL")
    return v


def _opt_url(v: object) -> str | None:
    return None if v is None else _url(v)


@dataclass(frozen=True, slots=True)
class TokenSet:
    id_token_claims: Mapping[str, Any]
    refresh_token: str | None
    expires_in: int | None


@dataclass(frozen=True, slots=True)
class DeviceAuthorization:
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: int
    interval: int  # seconds; RFC 8628 §3.2 says 5 when the IdP omits it


class OidcClient:
    """One configured identity provider, seen from the gateway."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str,
        *,
        device_client_id: str | None,
        scopes: Sequence[str],
        algorithms: Sequence[str],
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self._client_secret = client_secret
        self.device_client_id = device_client_id
        self.scopes = tuple(scopes)
        self.algorithms = tuple(algorithms)
        self._http = http or httpx.AsyncClient(timeout=HTTP_TIMEOUT_S, follow_redirects=False)
        self._discovery: Discovery | None = None
        self._jwks: JwksCache | None = None
        self._lock = asyncio.Lock()
        self._last_ok = -PROBE_TTL_S
        self._oauth_client: AsyncOAuth2Client | None = None

    async def aclose(self) -> None:
        await self._http.aclose()
        if self._oauth_client is not None:
            await self._oauth_client.aclose()

    @property
    def _oauth(self) -> AsyncOAuth2Client:
        """authlib's client, built once: each one is an httpx client with its own TLS
        context (tens of ms of CPU on the event loop), so one per login let anonymous
        logins slow every signed-in user's requests. It holds no per-login state: state,
        nonce, verifier and redirect URI are passed on each call, and token requests
        withhold any token."""
        if self._oauth_client is None:
            self._oauth_client = AsyncOAuth2Client(
                client_id=self.client_id,
                client_secret=self._client_secret,
                scope=" ".join(self.scopes),
                code_challenge_method="S256",
                token_endpoint_auth_method="client_secret_basic",  # noqa: S106 - a method name
                timeout=HTTP_TIMEOUT_S,
            )
        return self._oauth_client

    # -- discovery ----------------------------------------------------------------

    async def discovery(self) -> Discovery:
        async with self._lock:
            if self._discovery is None:
                url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
                doc = await self._get_json(url)
                self._discovery = Discovery.parse(doc, self.issuer)
                self._jwks = JwksCache(self._discovery.jwks_uri, http=self._fetch_bytes)
            return self._discovery

    async def probe(self) -> None:
        """Raise IdpUnreachable unless the IdP answered within the last PROBE_TTL_S.

        A login redirects the browser to the IdP; when the IdP is down the user would meet
        a browser error page there. Asking first lets the portal say what is wrong."""
        if time.monotonic() - self._last_ok < PROBE_TTL_S:
            return
        await self._fetch_bytes(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
        self._last_ok = time.monotonic()

    @property
    def jwks(self) -> JwksCache | None:
        return self._jwks

    async def _fetch_bytes(self, url: str) -> bytes:
        try:
            r = await self._http.get(url)
        except httpx.HTTPError as exc:
            raise IdpUnreachable(f"{url}: {type(exc).__name__}") from None
        if r.status_code != 200:
            raise IdpUnreachable(f"{url}: HTTP {r.status_code}")
        return r.content

    async def _get_json(self, url: str) -> dict[str, Any]:
        body = await self._fetch_bytes(url)
        try:
            doc = json.loads(body)
        except ValueError:
            raise IdpRefused("bad_response", f"{url} did not return JSON") from None
        if not isinstance(doc, dict):
            raise IdpRefused("bad_response", f"{url} did not return a JSON object")
        return doc

    async def _post_form(self, url: str, data: Mapping[str, str], auth: bool) -> dict[str, Any]:
        try:
            basic = httpx.BasicAuth(self.client_id, self._client_secret)
            r = await self._http.post(
                url,
                data=dict(data),
                auth=basic if auth else httpx.USE_CLIENT_DEFAULT,
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise IdpUnreachable(f"{url}: {type(exc).__name__}") from None
        try:
            doc = r.json()
        except ValueError:
            raise IdpRefused("bad_response", f"HTTP {r.status_code} without JSON") from None
        if not isinstance(doc, dict):
            raise IdpRefused("bad_response", "not a JSON object")
        if r.status_code >= 400 or "error" in doc:
            raise IdpRefused(
                str(doc.get("error", "error"))[:100], str(doc.get("error_description", ""))[:300]
            )
        return doc

    # -- authorization code + PKCE ----------------------------------------------------

    async def authorization_url(
        self, redirect_uri: str, state: str, nonce: str, code_verifier: str
    ) -> str:
        d = await self.discovery()
        await self.probe()
        url, _ = self._oauth.create_authorization_url(
            d.authorization_endpoint,
            state=state,
            nonce=nonce,
            code_verifier=code_verifier,
            redirect_uri=redirect_uri,
        )
        return str(url)

    async def exchange_code(
        self, code: str, redirect_uri: str, code_verifier: str, nonce: str
    ) -> TokenSet:
        d = await self.discovery()
        try:
            token = await self._oauth.fetch_token(
                d.token_endpoint,
                grant_type="authorization_code",
                code=code,
                code_verifier=code_verifier,
                redirect_uri=redirect_uri,
            )
        except httpx.HTTPError as exc:
            raise IdpUnreachable(f"token endpoint: {type(exc).__name__}") from None
        except Exception as exc:  # authlib raises OAuthError subclasses for IdP errors
            raise IdpRefused(
                getattr(exc, "error", "token_error") or "token_error", str(exc)[:300]
            ) from None
        return await self._token_set(dict(token), self.client_id, nonce)

    async def refresh(self, refresh_token: str, *, device_client: bool = False) -> TokenSet:
        """Redeem a refresh token: with the portal's confidential client, or with the
        public device client for sessions that began with `warden login`."""
        d = await self.discovery()
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        if device_client:
            assert self.device_client_id is not None
            form["client_id"] = self.device_client_id
        doc = await self._post_form(d.token_endpoint, form, auth=not device_client)
        audience = (
            self.device_client_id if device_client and self.device_client_id else self.client_id
        )
        return await self._token_set(doc, audience, None)

    async def _token_set(
        self, doc: Mapping[str, Any], audience: str, nonce: str | None
    ) -> TokenSet:
        id_token = doc.get("id_token")
        if not isinstance(id_token, str):
            raise InvalidIdToken("the IdP returned no ID token (is 'openid' in the scopes?)")
        claims = await self.verify_id_token(id_token, audience, nonce)
        refresh = doc.get("refresh_token")
        expires = doc.get("expires_in")
        return TokenSet(
            claims,
            refresh if isinstance(refresh, str) else None,
            expires if isinstance(expires, int) else None,
        )

    # -- device authorization grant (RFC 8628) -------------------------------------

    async def start_device_authorization(self) -> DeviceAuthorization:
        d = await self.discovery()
        if d.device_authorization_endpoint is None or self.device_client_id is None:
            raise IdpRefused(
                "device_flow_unavailable",
                "this IdP has no device authorization endpoint or no device_client_id is set",
            )
        doc = await self._post_form(
            d.device_authorization_endpoint,
            {"client_id": self.device_client_id, "scope": " ".join(self.scopes)},
            auth=False,
        )
        try:
            interval = doc.get("interval", 5)
            return DeviceAuthorization(
                device_code=str(doc["device_code"]),
                user_code=str(doc["user_code"])[:64],
                verification_uri=_url(doc.get("verification_uri") or doc["verification_url"]),
                verification_uri_complete=_opt_url(doc.get("verification_uri_complete")),
                expires_in=int(doc.get("expires_in", 600)),
                interval=max(1, int(interval)) if isinstance(interval, int) else 5,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise IdpRefused("bad_response", f"device authorization lacks {exc}") from None

    async def poll_device_token(self, device_code: str) -> TokenSet:
        """One poll; raises IdpRefused('authorization_pending' | 'slow_down' | ...)."""
        d = await self.discovery()
        assert self.device_client_id is not None
        doc = await self._post_form(
            d.token_endpoint,
            {
                "grant_type": DEVICE_GRANT,
                "device_code": device_code,
                "client_id": self.device_client_id,
            },
            auth=False,
        )
        return await self._token_set(doc, self.device_client_id, None)

    # -- token verification ------------------------------------------------------------

    async def _key_for(self, token: str) -> tuple[Any, str]:
        await self.discovery()
        assert self._jwks is not None
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidIdToken("malformed token") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in self.algorithms:
            raise InvalidIdToken(f"algorithm {str(alg)[:20]!r} is not allowed for this IdP")
        if any(h in header for h in ("jku", "x5u", "jwk", "x5c")):
            raise InvalidIdToken("the token names its own key source; refused")
        if not isinstance(kid, str):
            raise InvalidIdToken("the token has no key id")
        try:
            key = await self._jwks.get_or_refetch(kid)
        except JwksError as exc:
            raise IdpUnreachable(str(exc)) from None
        if key is None or not key.allows(alg):
            raise InvalidIdToken("signed with a key the IdP does not publish")
        return key.public_key, alg

    async def verify_id_token(
        self, token: str, audience: str, nonce: str | None
    ) -> Mapping[str, Any]:
        key, alg = await self._key_for(token)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=audience,
                issuer=self.issuer,
                leeway=LEEWAY_S,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidIdToken(type(exc).__name__) from None
        if nonce is not None and claims.get("nonce") != nonce:
            raise InvalidIdToken("nonce does not match this login (replayed or mixed-up token)")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub or len(sub) > 255:
            raise InvalidIdToken("sub must be a non-empty string of at most 255 characters")
        return claims

    async def verify_logout_token(self, token: str) -> Mapping[str, Any]:
        """OIDC Back-Channel Logout 1.0 §2.6."""
        key, alg = await self._key_for(token)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.client_id,
                issuer=self.issuer,
                leeway=LEEWAY_S,
                options={"require": ["iss", "aud", "iat", "jti"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidIdToken(type(exc).__name__) from None
        events = claims.get("events")
        if not isinstance(events, dict) or BACKCHANNEL_EVENT not in events:
            raise InvalidIdToken("not a back-channel logout token (events claim)")
        if "nonce" in claims:
            raise InvalidIdToken("a logout token must not carry a nonce")
        if not isinstance(claims.get("sub"), str) and not isinstance(claims.get("sid"), str):
            raise InvalidIdToken("a logout token names sub or sid")
        if claims["iat"] < time.time() - 600:
            raise InvalidIdToken("logout token too old")
        return claims
