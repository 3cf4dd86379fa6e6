"""The proxy and portal addresses a user gives: parsed, checked, normalised."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from .base import (
    LoginError,
)


@dataclass(frozen=True, slots=True)
class ProxyAddress:
    host: str
    port: int

    @property
    def netloc(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.netloc}"

    def with_credential(self, credential: str) -> str:
        return f"http://device:{quote(credential, safe='')}@{self.netloc}"


def parse_proxy_url(raw: str) -> ProxyAddress:
    """``--proxy``: ``http://HOST:PORT`` (a bare ``HOST:PORT`` is read as http)."""
    fix = "give the proxy as http://HOST:PORT, e.g. --proxy http://proxy.example.com:8080"
    text = raw.strip()
    parts = urlsplit(text if "://" in text else f"http://{text}")
    if parts.scheme != "http":
        raise LoginError(
            f"bad --proxy URL {raw!r}: the scheme must be http (the gateway is a plain HTTP "
            f"proxy; the traffic to the AI services inside it is still TLS): {fix}",
            2,
        )
    try:
        port = parts.port
    except ValueError:
        raise LoginError(f"bad --proxy URL {raw!r}: the port is not a number: {fix}", 2) from None
    if not parts.hostname or port is None:
        raise LoginError(f"bad --proxy URL {raw!r}: it needs a host and a port: {fix}", 2)
    if parts.username is not None or parts.password is not None:
        raise LoginError(
            f"bad --proxy URL {raw!r}: leave out user and password (`warden login` gets the "
            f"credential for you): {fix}",
            2,
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise LoginError(f"bad --proxy URL {raw!r}: a proxy URL has no path or query: {fix}", 2)
    return ProxyAddress(parts.hostname, port)


def normalize_portal_url(raw: str, source: str) -> str:
    """The portal (= control plane) base URL without a trailing slash."""
    text = raw.strip().rstrip("/")
    text = text.removesuffix("/portal")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LoginError(
            f"bad portal URL {raw!r} (from {source}): give it as https://HOST[:PORT], "
            "the address of the gateway's control plane",
            2,
        )
    if parts.query or parts.fragment or parts.username is not None:
        raise LoginError(f"bad portal URL {raw!r} (from {source}): no query or user name", 2)
    return text
