"""The control plane's admin API, for the review console on the gateway host.

Authenticated by a bearer token that the gateway keeps in ``state/admin.token`` (0600,
made at first start): whoever can read the state folder is an administrator anyway.
Revocations go through the running gateway's session store, so they take effect at
once, and each is audited. The writes run on a thread: on PostgreSQL each is a network
round trip (up to a second while the database is unreachable), and the event loop serves
proxied flows too (``proxy.workers: 1``).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from warden.identity.sessions import SessionStore
from warden.keyfiles import read_or_create

if TYPE_CHECKING:
    from warden.gateway.wiring.audit import AdminEvent

logger = logging.getLogger(__name__)

ADMIN_TOKEN_FILE = "admin.token"  # noqa: S105 - a file name


def load_or_create_admin_token(state_dir: Path) -> str:
    path = state_dir / ADMIN_TOKEN_FILE
    token = read_or_create(path, lambda: secrets.token_urlsafe(32).encode()).decode("ascii")
    if len(token) < 32:
        raise SystemExit(f"warden: {path} is damaged; delete it and restart to make a new one")
    return token


class AdminApi:
    def __init__(self, token: str, sessions: SessionStore, audit: AdminEvent) -> None:
        self._token = token
        self.sessions = sessions
        self.audit = audit

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/admin/sessions/revoke", self.revoke)]

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip(), self._token)

    async def revoke(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"error": "unauthorized"}, status=401)
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("tenant"), str):
            return web.json_response(
                {"error": "send {tenant, session_id} or {tenant, subject[, issuer]}"}, status=400
            )
        tenant: str = body["tenant"]
        try:
            return await self._revoke(tenant, body)
        except sqlite3.OperationalError as exc:
            # the state database is down or did not answer within its bound: nothing was
            # revoked (one transaction); the reviewer must try again
            logger.warning("cannot revoke: %s", exc)
            return web.json_response(
                {"error": "the state database is unavailable; nothing was revoked, try again"},
                status=503,
            )

    async def _revoke(self, tenant: str, body: dict[str, Any]) -> web.Response:
        sid, subject, issuer = body.get("session_id"), body.get("subject"), body.get("issuer")
        if isinstance(sid, str):
            ids = [s.id for s in self.sessions.active_sessions(tenant) if s.id == sid]
            count = await asyncio.to_thread(
                self.sessions.revoke_sessions, ids, "revoked by a reviewer"
            )
            details: dict[str, str | int | bool] = {"session_id": sid[:16], "revoked": count}
        elif isinstance(subject, str):
            count = await asyncio.to_thread(
                self.sessions.revoke_user,
                tenant,
                issuer if isinstance(issuer, str) else None,
                subject,
                "revoked by a reviewer",
            )
            details = {"subject": subject[:256], "revoked": count}
        else:
            return web.json_response({"error": "name session_id or subject"}, status=400)
        self.audit("session.revoked", tenant, {**details, "actor": "console"})
        return web.json_response({"revoked": count})
