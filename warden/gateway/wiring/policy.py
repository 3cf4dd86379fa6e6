"""The policy side of a running gateway: the hot-reloaded policy, quotas, coaching.

The policy file is watched (and re-read on SIGHUP); an invalid new version is refused
whole, the old one stays in force, and both outcomes are audited. Quota counters live in
memory on the hot path and are written to the state database from a thread every few
seconds. A coaching notice is acknowledged on the portal through a link that carries a
signed, expiring token naming the person and the rule, so nobody can acknowledge for
someone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from aiohttp import web

from warden.config import ConfigError
from warden.gateway.wiring.coach_feed import CoachFeed
from warden.identity.redirects import safe_next
from warden.keyfiles import read_or_create
from warden.policy import (
    CoachAcknowledgements,
    PolicyDecision,
    PolicyError,
    PolicyFileWatcher,
    PolicyHolder,
    PrincipalFacts,
    Quotas,
    QuotaStore,
    ReloadResult,
)
from warden.policy.coach_tokens import CoachTokens, acknowledged
from warden.policy.pages import coach_confirm_page

if TYPE_CHECKING:
    from warden.gateway.wiring.audit import AdminEvent
    from warden.gateway.wiring.policy_fleet import FleetPolicy

logger = logging.getLogger("warden.policy")

FLUSH_EVERY_S = 5.0
#: In state_dir: the key of coaching acknowledgement links, made at first start.
COACH_LINK_KEY_FILE = "coach-links.key"
FLEET_FLUSH_EVERY_S = 0.25  # a fleet's quota slack is counted per flush (policy/quotas.py)


def coach_link_key(state_dir: Path) -> bytes:
    """The host's key for coaching acknowledgement links (``COACH_LINK_KEY_FILE``)."""
    path = state_dir / COACH_LINK_KEY_FILE
    key = read_or_create(path, lambda: secrets.token_hex(32).encode())
    if len(key) < 64:
        raise SystemExit(f"warden: {path} is damaged; delete it and restart to make a new one")
    return key


class PolicyRuntime:
    def __init__(
        self,
        policy_file: Path,
        quota_conn: sqlite3.Connection,
        known_tenants: set[str],
        known_dlp_profiles: set[str] | None,
        audit: AdminEvent,
        portal_url: str,
        is_catalog_host: Callable[[str], bool],
        *,
        shared_quotas: bool = False,
        state_db: Path | None = None,
        coach_key: bytes | None = None,
    ) -> None:
        self.path = policy_file
        self.audit = audit
        self.portal_url = portal_url
        self.is_catalog_host = is_catalog_host
        try:
            text = policy_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                str(policy_file), [f"cannot read the policy file: {exc.strerror}"]
            ) from None
        try:
            self.holder = PolicyHolder.from_text(
                text, known_tenants=known_tenants, known_dlp_profiles=known_dlp_profiles
            )
        except PolicyError as exc:
            raise ConfigError(str(policy_file), [str(issue) for issue in exc.issues]) from None
        # its own connection: the quota flush thread writes while the loop reads sessions
        self.quota_store = QuotaStore(quota_conn)
        self.quotas = Quotas(self.holder.get, self.quota_store, shared=shared_quotas)
        # a fleet's counters are shared by flushing: often, to keep each view fresh
        self.flush_every_s = FLEET_FLUSH_EVERY_S if shared_quotas else FLUSH_EVERY_S
        self.acks = CoachAcknowledgements()
        self.state_db = state_db
        #: With proxy.workers above 1: acknowledgements reach the other processes.
        self.feed: CoachFeed | None = None
        #: The host's processes sign and check acknowledgement links with one key: a
        #: worker makes the link, the control plane's process serves it.
        self.coach_tokens = CoachTokens(coach_key)
        self.watcher = PolicyFileWatcher(policy_file, self.holder, on_result=self._reloaded)
        #: On PostgreSQL, the fleet's version in force (set by
        #: warden/gateway/wiring/policy_fleet.py).
        self.fleet: FleetPolicy | None = None
        try:  # built on the loop: reports from threads before start() still reach it
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    def share_quotas(self) -> None:
        """Count quotas with the host's other workers on the one state database, as a
        fleet's instances do on PostgreSQL (``Quotas`` shared mode: add this process's
        increments, read the totals back, flush early when its share is used up)."""
        self.quotas.share()
        self.flush_every_s = FLEET_FLUSH_EVERY_S

    def _flush(self, now: float) -> None:
        self.quotas.flush(now)

    def share_acknowledgements(self) -> CoachFeed:
        """Publish (control plane) or take in (workers) coaching acknowledgements through
        the state database (warden.gateway.wiring.coach_feed)."""
        if self.feed is None:
            if self.state_db is None:
                raise RuntimeError("coaching acknowledgements need the state database's path")
            feed = self.feed = CoachFeed.on_file(self.state_db, self.acks)
            self.acks.missed = lambda now: feed.catch_up(now) > 0
        return self.feed

    def share_acknowledgements_in_fleet(self, conn: sqlite3.Connection) -> CoachFeed:
        """On PostgreSQL: publish to the fleet, and take in (``catch_up``, the listener's
        thread, on each notification) what any process of any instance recorded. No look
        on the request path (``missed``): a stalled database must not hold a flow."""
        self.feed = CoachFeed(conn, self.acks, every_row=True)
        return self.feed

    @property
    def version(self) -> str:
        return self.holder.get().version

    def _reloaded(self, result: ReloadResult) -> None:
        self.report(result, "file", {})

    def report(
        self, result: ReloadResult, source: str, extra: Mapping[str, str | int | bool]
    ) -> None:
        """Log and audit a reload (from any thread); ``source``: "file" (this instance's
        policy file) or "fleet" (the version another instance published)."""
        if source == "file" and self.fleet is not None:
            self.fleet.published_locally(result)
        if not result.changed and result.ok:
            return
        if result.ok:
            logger.info(
                "policy reloaded (%s): %s -> %s", source, result.previous_version, result.version
            )
        else:
            logger.error(
                "policy reload refused (%s), %s stays in force: %s",
                source,
                result.previous_version,
                "; ".join(result.errors)[:500],
            )
        details: dict[str, str | int | bool] = {
            "ok": result.ok,
            "version": str(result.version or ""),
            "previous": str(result.previous_version or ""),
            "source": source,
            **extra,
        }
        if not result.ok:
            details["errors"] = "; ".join(result.errors)[:900]
        if self._loop is not None:  # the watcher and the fleet's listener run on threads
            self._loop.call_soon_threadsafe(self.audit, "policy.reload", None, details)
        else:
            self.audit("policy.reload", None, details)

    def reload_now(self) -> None:
        if self.fleet is not None:  # a database round trip: never on the event loop
            threading.Thread(
                target=self.fleet.reload_file, args=(self.path,), name="policy-reload"
            ).start()
            return
        self._reloaded(self.holder.reload_file(self.path))

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.fleet is None or self.fleet.publisher:  # a fleet's workers follow only
            self.watcher.start()

    async def keep_flushing(self) -> None:
        due = asyncio.Event()
        loop = asyncio.get_running_loop()

        def flush_soon() -> None:
            loop.call_soon_threadsafe(due.set)

        self.quotas.share_used = flush_soon
        while True:
            with contextlib.suppress(TimeoutError):  # a fleet's share used up: flush now
                await asyncio.wait_for(due.wait(), self.flush_every_s)
            due.clear()
            try:
                await asyncio.to_thread(self._flush, time.time())
            except Exception:
                logger.exception("writing quota counters failed; trying again")

    async def stop(self) -> None:
        self.watcher.stop()
        await asyncio.to_thread(self._flush, time.time())
        self.quota_store.close()
        if self.feed is not None:
            self.feed.close()

    # -- coaching acknowledgements on the portal ---------------------------------------

    def acknowledge_url(
        self, principal: PrincipalFacts, decision: PolicyDecision, next_url: str
    ) -> str:
        token = self.coach_tokens.make(principal, decision, next_url, time.time())
        return f"{self.portal_url}/portal/coach?token={quote(token, safe='')}"

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/portal/coach", self.coach_page),
            web.post("/portal/coach", self.coach_ack),
        ]

    async def coach_page(self, request: web.Request) -> web.Response:
        data = self.coach_tokens.read(request.query.get("token", ""), time.time())
        if data is None:
            return web.Response(
                status=400, text="This link is no longer valid; repeat your request.\n"
            )
        body = coach_confirm_page(str(data.get("m") or ""), request.query["token"])
        return web.Response(
            text=body, content_type="text/html", headers={"Cache-Control": "no-store"}
        )

    async def coach_ack(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        token = form.get("token")
        now = time.time()
        data = self.coach_tokens.read(token, now) if isinstance(token, str) else None
        if data is None:
            return web.Response(
                status=400, text="This link is no longer valid; repeat your request.\n"
            )
        principal, decision = acknowledged(data, self.version)
        until = self.acks.acknowledge(principal, decision, now)
        if self.feed is not None and until is not None:
            try:  # off the loop: on PostgreSQL a round trip (or a stalled server's bound)
                await asyncio.to_thread(self.feed.publish, principal, decision, until, now)
            except sqlite3.Error as exc:
                # The processes that decide requests (workers, other instances) would
                # coach again and again: say so, rather than send the person back to it.
                logger.warning("cannot share a coaching acknowledgement: %s", exc)
                self.audit(
                    "coach.acknowledge_failed",
                    principal.tenant,
                    {"subject": principal.subject or "", "rule_id": decision.rule_id},
                )
                return web.Response(
                    status=503,
                    text="Egress Warden could not record your acknowledgement just now (its "
                    "state database did not answer). Go back and confirm again in a minute; "
                    "if it persists, tell your IT service desk.\n",
                    headers={"Retry-After": "60", "Cache-Control": "no-store"},
                )
        self.audit(
            "coach.acknowledged",
            principal.tenant,
            {
                "subject": principal.subject or "",
                "rule_id": decision.rule_id,
                "until": int(until or 0),
            },
        )
        target = safe_next(
            str(data.get("n") or ""), allowed_hosts=self.is_catalog_host, default="/portal/"
        )
        raise web.HTTPFound(target)
