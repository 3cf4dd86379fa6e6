"""The portal's device-login API (RFC 8628), reached directly: start, poll, revoke, discovery."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from .addresses import ProxyAddress, normalize_portal_url
from .base import (
    DEFAULT_EXPIRES_S,
    TIMEOUT,
    WELL_KNOWN_URL,
    LoginError,
)


@dataclass(frozen=True, slots=True)
class DeviceGrant:
    handle: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    interval: float  # 0 when the portal gave none
    expires_in: float


@dataclass(frozen=True, slots=True)
class Approval:
    credential: str
    expires_at: float
    email: str
    tenant: str
    department: str
    proxy_url: str | None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return float(value)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _tls_context() -> ssl.SSLContext:
    # The system trust store (OpenSSL's default paths, which honour SSL_CERT_FILE): a portal
    # certificate from the company's CA verifies where IT installed that CA.
    return ssl.create_default_context()


def _reason(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


class PortalClient:
    """The portal's device-login JSON API, reached directly (never through a proxy)."""

    def __init__(
        self,
        portal: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout = TIMEOUT,
    ) -> None:
        self.portal = portal
        self._http = httpx.Client(
            base_url=portal,
            trust_env=False,
            timeout=timeout,
            transport=transport,
            verify=_tls_context(),
            follow_redirects=False,
            headers={"User-Agent": "warden-login"},
        )

    def close(self) -> None:
        self._http.close()

    def unreachable(self, exc: httpx.HTTPError) -> LoginError:
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            return LoginError(
                f"the portal at {self.portal} has a certificate this machine does not trust "
                f"({_reason(exc)}): install the company CA that IT publishes into the system "
                "trust store, or run `SSL_CERT_FILE=/path/to/that-ca.pem warden login ...`"
            )
        return LoginError(
            f"cannot reach the portal at {self.portal} ({_reason(exc)}): check the URL "
            "(--portal or $WARDEN_PORTAL), your network or VPN, and that the gateway is running"
        )

    def _unexpected(self, what: str, response: httpx.Response) -> LoginError:
        if response.status_code == 404:
            return LoginError(
                f"{self.portal} does not serve the Egress Warden portal ({what}: HTTP 404): check "
                "--portal / $WARDEN_PORTAL; it is the gateway's control-plane address"
            )
        return LoginError(
            f"unexpected answer from the portal at {self.portal} ({what}: HTTP "
            f"{response.status_code} {response.text[:200]!r}): try again; if it persists, tell IT"
        )

    def ca_pem(self) -> tuple[bytes, str]:
        """The gateway's CA certificate (PEM) and its SHA-256 fingerprint."""
        try:
            response = self._http.get("/ca.pem")
        except httpx.HTTPError as exc:
            raise self.unreachable(exc) from None
        if response.status_code != 200:
            raise self._unexpected("GET /ca.pem", response)
        try:
            cert = x509.load_pem_x509_certificate(response.content)
        except ValueError:
            raise LoginError(
                f"{self.portal}/ca.pem is not a PEM certificate: check --portal / $WARDEN_PORTAL"
            ) from None
        return response.content, cert.fingerprint(hashes.SHA256()).hex(":").upper()

    def start(self, idp: str | None, label: str) -> DeviceGrant:
        body: dict[str, str] = {"label": label}
        if idp:
            body["idp"] = idp
        try:
            response = self._http.post("/portal/device/start", json=body)
        except httpx.HTTPError as exc:
            raise self.unreachable(exc) from None
        data = _json_object(response) or {}
        error = _text(data.get("error"))
        if response.status_code == 503 and error == "idp_unreachable":
            raise LoginError(
                f"the portal at {self.portal} is up, but it cannot reach the identity provider "
                "right now, so no one can sign in: try again in a few minutes; if it persists, "
                "tell IT (existing sign-ins keep working)"
            )
        if response.status_code == 400 and error == "choose_idp":
            idps = ", ".join(str(i) for i in data.get("idps") or []) or "none configured"
            problem = f"unknown --idp {idp!r}" if idp else "this portal has several sign-in options"
            raise LoginError(f"{problem}: pass --idp ID, one of: {idps}", 2)
        if response.status_code == 502 and error:
            raise LoginError(
                f"the identity provider refused to start a device sign-in ({error}: "
                f"{_text(data.get('message'))}): the device grant may not be enabled for the "
                "gateway's CLI client; tell IT"
            )
        if response.status_code != 200:
            raise self._unexpected("POST /portal/device/start", response)
        handle, user_code = _text(data.get("handle")), _text(data.get("user_code"))
        uri = _text(data.get("verification_uri"))
        if not (handle and user_code and uri):
            raise self._unexpected("POST /portal/device/start", response)
        return DeviceGrant(
            handle,
            user_code,
            uri,
            _text(data.get("verification_uri_complete")) or None,
            _number(data.get("interval")) or 0.0,
            _number(data.get("expires_in")) or DEFAULT_EXPIRES_S,
        )

    def poll(self, handle: str) -> tuple[int, dict[str, Any] | None]:
        """One poll; network errors propagate as ``httpx.TransportError``."""
        response = self._http.post("/portal/device/poll", json={"handle": handle})
        return response.status_code, _json_object(response)

    def revoke(self, credential: str) -> bool:
        """True when revoked, False when the portal does not know the credential."""
        try:
            response = self._http.post("/portal/device/revoke", json={"credential": credential})
        except httpx.HTTPError as exc:
            raise self.unreachable(exc) from None
        if response.status_code == 200:
            return True
        if response.status_code == 404 and (_json_object(response) or {}).get("revoked") is False:
            return False
        raise self._unexpected("POST /portal/device/revoke", response)


def discover_portal(
    proxy: ProxyAddress, *, transport: httpx.BaseTransport | None = None
) -> tuple[str, str | None]:
    """Ask the gateway, through the proxy, where its portal is: (portal, proxy it names)."""
    fix = (
        "pass --portal URL or set WARDEN_PORTAL (the gateway's control-plane address; "
        "IT can tell you)"
    )
    try:
        with httpx.Client(
            proxy=proxy.url, trust_env=False, timeout=TIMEOUT, transport=transport
        ) as client:
            response = client.get(WELL_KNOWN_URL)
    except (httpx.ProxyError, httpx.ConnectError, httpx.TimeoutException) as exc:
        raise LoginError(
            f"cannot reach the proxy at {proxy.netloc} ({_reason(exc)}): check --proxy, your "
            "network or VPN; or skip the lookup: " + fix
        ) from None
    except httpx.HTTPError as exc:
        raise LoginError(
            f"asking the proxy at {proxy.netloc} for its portal failed ({_reason(exc)}): {fix}"
        ) from None
    data = _json_object(response) if response.status_code == 200 else None
    portal = _text((data or {}).get("portal"))
    if not portal:
        raise LoginError(
            f"the proxy at {proxy.netloc} did not say where its sign-in portal is (HTTP "
            f"{response.status_code} for {WELL_KNOWN_URL}; an older gateway, or not an Egress "
            f"Warden proxy): {fix}"
        )
    return normalize_portal_url(portal, "the proxy"), _text((data or {}).get("proxy")) or None
