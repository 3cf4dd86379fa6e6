"""The login portal on a real aiohttp server, a real session store and, when a test needs
sign-in, the real dev IdP; clients can come from any loopback address (127.0.0.0/8 is all
local on Linux), so per-source behaviour is tested with real source addresses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from warden.gateway.state.store import open_state
from warden.identity.claims import ClaimMapping
from warden.identity.events import AuthEvent
from warden.identity.oidc import OidcClient
from warden.identity.portal import ConfiguredIdp, Portal, PortalSettings
from warden.identity.sessions import SessionStore

from .devidp import DevIdp

PORTAL_SECRET = "portal-bed-secret"


@dataclass
class EventLog:
    """Keeps what the portal emits (the AuthEvents interface, as the audit trail has it)."""

    events: list[AuthEvent] = field(default_factory=list)

    def emit(self, event: AuthEvent) -> None:
        self.events.append(event)


@dataclass
class PortalBed:
    portal: Portal
    server: TestServer
    events: EventLog

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    def client(self, source: str = "127.0.0.1") -> aiohttp.ClientSession:
        """A browser at ``source`` (its own cookie jar, redirects not followed)."""
        connector = aiohttp.TCPConnector(local_addr=(source, 0), force_close=True)
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True))


def settings(public_url: str) -> PortalSettings:
    return PortalSettings(
        public_url=public_url,
        session_lifetime_s=3600,
        surrogate_ttl_s=600,
        surrogate_networks=(),
        shared_networks=(),
        company="Acme Test",
        help_contact="it@acme.example",
        proxy_url="http://127.0.0.1:8080",
    )


@asynccontextmanager
async def portal_bed(
    tmp_path: Path,
    public_url: str = "http://127.0.0.1",
    idp: DevIdp | None = None,
    port: int | None = None,
    **kw: Any,
) -> AsyncIterator[PortalBed]:
    idps: dict[str, ConfiguredIdp] = {}
    if idp is not None:
        client = OidcClient(
            idp.issuer,
            "warden-portal",
            PORTAL_SECRET,
            device_client_id="warden-cli",
            scopes=("openid", "email", "profile", "warden"),
            algorithms=("RS256",),
        )
        mapping = ClaimMapping(
            idp.issuer, None, "tenant", "department", "groups", frozenset({"acme"})
        )
        idps["dev"] = ConfiguredIdp("dev", client, mapping)
    events = EventLog()
    conn = open_state(tmp_path / "state.db")
    portal = Portal(settings(public_url), idps, SessionStore(conn), events, lambda _h: False, **kw)
    app = web.Application()
    app.add_routes(portal.routes())
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        yield PortalBed(portal, server, events)
    finally:
        await server.close()
        for configured in idps.values():
            await configured.client.aclose()
        conn.close()
