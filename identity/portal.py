"""The login portal: browser SSO (OIDC code + PKCE), device login for terminals, logout.

Routes (mounted on the control plane):
  GET  /portal/                      who am I, sign out
  GET  /portal/login?next=&idp=      start a browser login
  GET  /portal/callback              the IdP's redirect back (code, state, iss | error)
  POST /portal/logout                end this browser's session
  POST /portal/device/start          `warden login`: start a device grant (JSON)
  POST /portal/device/poll           `warden login`: poll it; on success a device credential
  POST /portal/device/revoke         `warden logout`: revoke a device credential
  POST /portal/backchannel-logout    OIDC Back-Channel Logout 1.0

A login attempt lives in memory, keyed by ``state`` and bound to a cookie of the browser
that started it, so a callback from another browser (login CSRF) or a replayed one fails.
Session writes and SCIM's check run on threads: on PostgreSQL each is a network round
trip (up to a second, or a stalled server's whole stall), and with ``proxy.workers: 1``
this event loop serves the proxied flows too.

Over 400 lines: the portal's routes (browser login, device login, logout, back-channel
logout) share one session and cookie model; splitting by flow is the next step.
"""

from __future__ import annotations

import asyncio
import functools
import html
import ipaddress
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from .claims import ClaimMapping, NotAllowed, user_from_claims
from .events import AuthEvent, AuthEvents
from .markdown import render
from .oidc import IdpRefused, IdpUnreachable, InvalidIdToken, OidcClient, TokenSet
from .redirects import safe_next
from .sessions import IssuedSession, Session, SessionEnded, SessionStore, UserIdentity
from .tarpit import Tarpit

DEPROVISIONED = (
    "Your access to AI services was removed by your company's directory. "
    "If this is a mistake, contact your IT service desk."
)
LOGIN_TTL_S = 600  # a login must finish within 10 minutes
MAX_PENDING = 10_000  # pending logins and device grants kept at most (see _Pending)
PER_SOURCE = 32  # pending logins per client address (tabs, retries), see _Pending
# Starting a sign-in costs the control plane CPU (and the proxy's event loop, with
# control.own_process: false); anonymous starts are rationed (LoginRations): per source a
# burst of 60, then one a second (a terminal server's staff arriving at nine fit); for
# everyone together 50 a second, a few % of one core. A rationed source waits for its 429
# (tarpit.py).
SOURCE_BURST, SOURCE_EVERY_S = 60, 1.0
GLOBAL_BURST, GLOBAL_PER_S = 100, 50.0
# With https the cookies carry the __Host- prefix (Secure, Path=/, no Domain: no sibling
# host can set or read them). A plain-http portal is only allowed on loopback, for
# development, where a Secure cookie would not come back; it drops prefix and Secure.
SESSION_COOKIE = "__Host-warden_session"
LOGIN_COOKIE = "__Host-warden_login"
PORTAL_COOKIES = (SESSION_COOKIE, LOGIN_COOKIE, "warden_session", "warden_login")


@dataclass(frozen=True, slots=True)
class ConfiguredIdp:
    id: str
    client: OidcClient
    mapping: ClaimMapping


@dataclass(frozen=True, slots=True)
class PortalSettings:
    public_url: str
    session_lifetime_s: float
    surrogate_ttl_s: float
    surrogate_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    shared_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    company: str
    help_contact: str
    proxy_url: str


@dataclass
class _LoginAttempt:
    idp: str
    nonce: str
    verifier: str
    next_url: str
    browser: str  # the login cookie's value this attempt is bound to
    created: float


@dataclass
class _DeviceAttempt:
    idp: str
    device_code: str
    interval: int
    next_poll: float
    expires: float
    label: str


def source_of(addr: str | None) -> str:
    """Whose pending logins these are: the client's IPv4 address, or its IPv6 /64 (one
    host commonly holds a whole /64, so a single address would be no bound at all)."""
    try:
        ip = ipaddress.ip_address(addr or "")
    except ValueError:
        return addr or "-"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else ip)


class _Pending[T]:
    """A bounded, expiring map (pending logins and device grants), fair between sources.

    Anyone can start a login, so the bound must not let one source push out another's
    login in progress. Each source keeps at most ``per_source`` entries (more drop its
    own oldest); when the whole map is full, the oldest entry of the source holding the
    most goes, and on a tie the asking source's own. A flood from one address (or one
    IPv6 /64) thus only ever evicts itself, and so does a flood from many sources while
    any of them holds more than the victim; a victim with one pending login loses it
    only when ``limit`` distinct sources each hold one (10,000 addresses).
    """

    def __init__(
        self, clock: Callable[[], float], limit: int = MAX_PENDING, per_source: int = PER_SOURCE
    ) -> None:
        self._items: dict[str, tuple[float, T, str]] = {}
        self._by_source: dict[str, OrderedDict[str, None]] = {}
        # count -> the sources holding that many (insertion-ordered): the heaviest source
        # is found in at most ``per_source`` steps.
        self._by_count: dict[int, dict[str, None]] = {}
        self._clock = clock
        self._limit = limit
        self._per_source = per_source

    def __len__(self) -> int:
        return len(self._items)

    def pending_of(self, source: str) -> int:
        return len(self._by_source.get(source, ()))

    def put(self, key: str, value: T, ttl: float, source: str = "-") -> None:
        self._drop(key)
        keys = self._by_source.get(source)
        if keys is not None:
            now = self._clock()
            while keys and self._items[next(iter(keys))][0] <= now:  # its expired ones
                self._drop(next(iter(keys)))
            while len(keys) >= self._per_source:
                self._drop(next(iter(keys)))
        while len(self._items) >= self._limit:
            self._drop_from_heaviest(source)
        self._items[key] = (self._clock() + ttl, value, source)
        keys = self._by_source.setdefault(source, OrderedDict())
        keys[key] = None
        self._recount(source, len(keys) - 1, len(keys))

    def pop(self, key: str) -> T | None:
        item = self._items.get(key)
        if item is None:
            return None
        self._drop(key)
        return item[1] if item[0] > self._clock() else None

    def get(self, key: str) -> T | None:
        item = self._items.get(key)
        return item[1] if item is not None and item[0] > self._clock() else None

    def _drop(self, key: str) -> None:
        item = self._items.pop(key, None)
        if item is None:
            return
        source = item[2]
        keys = self._by_source[source]
        del keys[key]
        if not keys:
            del self._by_source[source]
        self._recount(source, len(keys) + 1, len(keys))

    def _recount(self, source: str, before: int, after: int) -> None:
        if before:
            holders = self._by_count[before]
            del holders[source]
            if not holders:
                del self._by_count[before]
        if after:
            self._by_count.setdefault(after, {})[source] = None

    def _drop_from_heaviest(self, asking: str) -> None:
        """Make room: the oldest entry of the source holding the most; on a tie, the
        asking source's own."""
        for count in range(self._per_source, 0, -1):
            holders = self._by_count.get(count)
            if holders:
                own = self.pending_of(asking) >= count
                source = asking if own else next(iter(holders))
                self._drop(next(iter(self._by_source[source])))
                return


class LoginRations:
    """Token buckets for anonymous sign-in starts (login, callback, device start): one per
    source (``source_of``) and one shared. A source over its ration gets 429 for itself
    alone; the shared one bounds what a flood from many sources can cost signed-in users,
    at the price that such a flood delays sign-ins (never existing sessions)."""

    def __init__(self, clock: Callable[[], float], max_sources: int = MAX_PENDING) -> None:
        self._clock = clock
        self._sources: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at
        self._shared = (float(GLOBAL_BURST), clock())
        self._max_sources = max_sources

    def take(self, source: str) -> str | None:
        """None when ``source`` may start one; else why not (for the 429 page)."""
        now = self._clock()
        tokens, at = self._sources.pop(source, (float(SOURCE_BURST), now))
        tokens = min(float(SOURCE_BURST), tokens + (now - at) / SOURCE_EVERY_S)
        shared, shared_at = self._shared
        shared = min(float(GLOBAL_BURST), shared + (now - shared_at) * GLOBAL_PER_S)
        why = None
        if tokens < 1:
            why = "too many sign-in attempts from this address"
        elif shared < 1:
            why = "too many sign-in attempts right now"
        else:
            tokens, shared = tokens - 1, shared - 1
        self._sources[source] = (tokens, now)  # most recent last
        while len(self._sources) > self._max_sources:  # forget the longest idle (full again)
            self._sources.popitem(last=False)
        self._shared = (shared, now)
        return why


def eligible_for_surrogate(addr: str, settings: PortalSettings) -> bool:
    if not settings.surrogate_networks:
        return False
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    if any(ip in net for net in settings.shared_networks):
        return False
    return any(ip in net for net in settings.surrogate_networks)


class Portal:
    def __init__(
        self,
        settings: PortalSettings,
        idps: Mapping[str, ConfiguredIdp],
        sessions: SessionStore,
        events: AuthEvents,
        is_catalog_host: Callable[[str], bool],
        clock: Callable[[], float] = time.time,
        seal: Callable[[str], bytes] | None = None,
    ) -> None:
        #: Encrypts refresh tokens before they are stored (None: they are not kept).
        self._seal = seal
        #: A last word on sign-ins (SCIM: deactivated people stay out); None: all allowed.
        self.user_allowed: Callable[[UserIdentity], bool] | None = None
        #: The roles a person holds in their tenant (e.g. reviewer), from config.
        self.roles_of: Callable[[UserIdentity], tuple[str, ...]] = lambda _u: ()
        self.settings = settings
        self.idps = dict(idps)
        self.sessions = sessions
        self.events = events
        self.is_catalog_host = is_catalog_host
        self._clock = clock
        self._logins: _Pending[_LoginAttempt] = _Pending(clock)
        self._devices: _Pending[_DeviceAttempt] = _Pending(clock)
        self._rations = LoginRations(clock)
        #: holds the 429s of rationed sources a while (a flood waits, not the proxy)
        self.tarpit = Tarpit()

    @property
    def secure(self) -> bool:
        return self.settings.public_url.startswith("https://")

    def _name(self, cookie: str) -> str:
        return cookie if self.secure else cookie.removeprefix("__Host-")

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/portal/", self.home),
            web.get("/portal/login", self.login),
            web.get("/portal/callback", self.callback),
            web.post("/portal/logout", self.logout),
            web.post("/portal/device/start", self.device_start),
            web.post("/portal/device/poll", self.device_poll),
            web.post("/portal/device/revoke", self.device_revoke),
            web.post("/portal/backchannel-logout", self.backchannel_logout),
            web.get("/portal/whoami", self.whoami),
            web.get("/portal/about", self.about),
        ]

    # -- pages ---------------------------------------------------------------------

    def page(self, title: str, body_html: str, status: int = 200) -> web.Response:
        s = self.settings
        text = (
            "<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<title>{html.escape(title)} · Egress Warden</title>"
            "<meta name=viewport content='width=device-width,initial-scale=1'>"
            "<style>body{font:16px system-ui,sans-serif;max-width:40rem;margin:3rem auto;"
            "padding:0 1rem;color:#1d2433}h1{font-size:1.4rem}.muted{color:#5b6475}"
            "button{font:inherit;padding:.4rem 1rem}</style></head><body>"
            f"<h1>{html.escape(title)}</h1>{body_html}"
            f"<p class=muted>{html.escape(s.company)} routes AI traffic through Egress Warden "
            "(<a href='/portal/about'>what is recorded and why</a>). "
            f"Questions: {html.escape(s.help_contact)}.</p></body></html>"
        )
        return web.Response(
            text=text,
            status=status,
            content_type="text/html",
            headers={
                "Cache-Control": "no-store",
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                "form-action 'self'; frame-ancestors 'none'",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )

    def _cookie(self, response: web.StreamResponse, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            self._name(name),
            value,
            max_age=max_age,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="Lax",
        )

    def _forget(self, response: web.StreamResponse, name: str) -> None:
        # A deletion is a Set-Cookie too: a __Host- one without Secure is ignored by
        # browsers, so it carries the same attributes as the cookie it removes.
        response.del_cookie(
            self._name(name), path="/", secure=self.secure, httponly=True, samesite="Lax"
        )

    async def _allowed(self, user: UserIdentity) -> bool:
        """SCIM's say on a sign-in (a database read: on a thread, as the session writes)."""
        if self.user_allowed is None:
            return True
        return await asyncio.to_thread(self.user_allowed, user)

    def _session_of(self, request: web.Request) -> Session | None:
        token = request.cookies.get(self._name(SESSION_COOKIE))
        return self.sessions.session_by_token(token) if token else None

    def _choose_idp(self, requested: str | None) -> ConfiguredIdp | None:
        if requested:
            return self.idps.get(requested)
        return next(iter(self.idps.values())) if len(self.idps) == 1 else None

    async def home(self, request: web.Request) -> web.Response:
        session = self._session_of(request)
        if session is None:
            return self.page(
                "Not signed in",
                "<p>You are not signed in. <a href='/portal/login'>Sign in</a>.</p>",
            )
        u = session.user
        return self.page(
            "Signed in",
            f"<p>Signed in as <b>{html.escape(u.email or u.subject)}</b> "
            f"({html.escape(u.tenant)}{', ' + html.escape(u.department) if u.department else ''})."
            "</p><form method=post action='/portal/logout'><button>Sign out</button></form>",
        )

    # -- browser login -------------------------------------------------------------

    async def _rationed(self, request: web.Request, as_json: bool = False) -> web.Response | None:
        """None when the source may start a sign-in; else its 429, answered after the
        tarpit's hold (identity/tarpit.py), or at once with the connection closed."""
        source = source_of(request.remote)
        why = self._rations.take(source)
        if why is None:
            return None
        held = await self.tarpit.hold(source)
        headers = {"Retry-After": "2"}
        if as_json:
            answer = web.json_response(
                {"error": "slow_down", "message": f"{why}; try again in a few seconds"},
                status=429,
                headers=headers,
            )
        else:
            answer = self.page(
                "Please wait", f"<p>{html.escape(why)}. Try again in a few seconds.</p>", 429
            )
            answer.headers.update(headers)
        if not held:
            answer.force_close()
        return answer

    async def login(self, request: web.Request) -> web.StreamResponse:
        if (refused := await self._rationed(request)) is not None:
            return refused
        next_url = safe_next(
            request.query.get("next"), allowed_hosts=self.is_catalog_host, default="/portal/"
        )
        idp = self._choose_idp(request.query.get("idp"))
        if idp is None:
            links = "".join(
                f"<li><a href='/portal/login?idp={html.escape(i)}&next="
                f"{html.escape(next_url, quote=True)}'>{html.escape(i)}</a></li>"
                for i in self.idps
            )
            if not links:
                return self.page(
                    "Sign-in is not set up", "<p>No identity provider is configured.</p>", 503
                )
            return self.page("Choose how to sign in", f"<ul>{links}</ul>")
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        browser = request.cookies.get(self._name(LOGIN_COOKIE)) or secrets.token_urlsafe(24)
        try:
            url = await idp.client.authorization_url(self._redirect_uri(), state, nonce, verifier)
        except IdpUnreachable:
            return self._idp_unreachable()
        except IdpRefused as exc:
            return self.page(
                "Sign-in failed",
                f"<p>The identity provider refused: {html.escape(exc.error)}.</p>",
                502,
            )
        self._logins.put(
            state,
            _LoginAttempt(idp.id, nonce, verifier, next_url, browser, self._clock()),
            LOGIN_TTL_S,
            source_of(request.remote),
        )
        response = web.HTTPFound(url)
        self._cookie(response, LOGIN_COOKIE, browser, LOGIN_TTL_S)
        return response

    async def _issue_session(
        self, user: UserIdentity, kind: str, tokens: TokenSet
    ) -> IssuedSession:
        """A session for ``user`` signed in by ``kind`` with the IdP's ``tokens`` (its
        session id and sealed refresh token kept), written off the event loop."""
        return await asyncio.to_thread(
            functools.partial(
                self.sessions.create_session,
                user,
                kind,
                self.settings.session_lifetime_s,
                idp_session=_str(tokens.id_token_claims.get("sid")),
                refresh_token=self._sealed(tokens.refresh_token),
            )
        )

    def _sealed(self, refresh_token: str | None) -> bytes | None:
        return self._seal(refresh_token) if self._seal and refresh_token else None

    def _redirect_uri(self) -> str:
        return self.settings.public_url + "/portal/callback"

    def _idp_unreachable(self) -> web.Response:
        return self.page(
            "Identity provider unreachable",
            "<p>The sign-in service cannot be reached right now, so you cannot sign in. "
            "If you were signed in before, you can keep working. Try again in a few minutes.</p>",
            503,
        )

    def _failed(
        self, request: web.Request, reason: str, message: str, idp: str | None = None
    ) -> web.Response:
        self.events.emit(
            AuthEvent(
                "login.failed",
                client_addr=request.remote,
                auth_method="oidc",
                reason=reason,
                details={"idp": idp or "-"},
            )
        )
        return self.page(
            "Sign-in failed",
            f"<p>{html.escape(message)}</p><p><a href='/portal/login'>Try again</a>.</p>",
            400,
        )

    async def callback(self, request: web.Request) -> web.StreamResponse:
        if (refused := await self._rationed(request)) is not None:
            return refused
        q = request.query
        state = q.get("state", "")
        attempt = self._logins.pop(state) if state else None
        if attempt is None:
            return self._failed(
                request,
                "unknown_state",
                "This sign-in link is no longer valid (expired, used, or not started here).",
            )
        presented = request.cookies.get(self._name(LOGIN_COOKIE), "")
        if not secrets.compare_digest(presented, attempt.browser):
            return self._failed(
                request,
                "state_mismatch",
                "This sign-in was started in another browser.",
                attempt.idp,
            )
        idp = self.idps[attempt.idp]
        if "iss" in q and q["iss"] != idp.client.issuer:  # RFC 9207 mix-up defence
            return self._failed(
                request,
                "issuer_mismatch",
                "The answer came from an unexpected identity provider.",
                idp.id,
            )
        if "error" in q:
            return self._failed(
                request,
                f"idp_error:{q['error'][:40]}",
                f"The identity provider did not sign you in ({q['error'][:60]}).",
                idp.id,
            )
        code = q.get("code")
        if not code:
            return self._failed(
                request, "no_code", "The identity provider sent no authorization code.", idp.id
            )
        try:
            tokens = await idp.client.exchange_code(
                code, self._redirect_uri(), attempt.verifier, attempt.nonce
            )
            user = user_from_claims(tokens.id_token_claims, idp.mapping)
        except IdpUnreachable:
            return self._idp_unreachable()
        except IdpRefused as exc:
            return self._failed(
                request,
                f"token_error:{exc.error}",
                "The identity provider refused the sign-in.",
                idp.id,
            )
        except InvalidIdToken as exc:
            return self._failed(
                request, f"bad_id_token:{exc.reason}", "The sign-in could not be verified.", idp.id
            )
        except NotAllowed as exc:
            return self._failed(request, "not_allowed", str(exc), idp.id)
        if not await self._allowed(user):
            return self._failed(request, "deprovisioned", DEPROVISIONED, idp.id)
        # A new login replaces this browser's old session.
        old = self._session_of(request)
        if old is not None:
            await asyncio.to_thread(
                self.sessions.revoke_sessions, [old.id], "replaced by a new login"
            )
        issued = await self._issue_session(user, "oidc", tokens)
        client = request.remote or ""
        bound = eligible_for_surrogate(client, self.settings)
        if bound:
            await asyncio.to_thread(
                self.sessions.bind_surrogate,
                client,
                issued.session,
                self.settings.surrogate_ttl_s,
            )
        self.events.emit(
            AuthEvent.about(
                "login.ok",
                user,
                "oidc",
                client,
                details={"idp": idp.id, "surrogate_bound": bound},
            )
        )
        response = web.HTTPFound(attempt.next_url)
        self._cookie(response, SESSION_COOKIE, issued.token, int(self.settings.session_lifetime_s))
        self._forget(response, LOGIN_COOKIE)
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is not None and origin.rstrip("/") != self.settings.public_url:
            raise web.HTTPForbidden(text="cross-site sign-out refused")
        session = self._session_of(request)
        if session is not None:
            await asyncio.to_thread(self.sessions.revoke_sessions, [session.id], "logout")
            u = session.user
            self.events.emit(
                AuthEvent.about(
                    "logout",
                    u,
                    session.auth_method,
                    request.remote,
                )
            )
        response = self.page("Signed out", "<p>You are signed out.</p>")
        self._forget(response, SESSION_COOKIE)
        return response

    # -- device login (RFC 8628, for `warden login`) ----------------------------------

    async def _json(self, request: web.Request) -> dict[str, Any]:
        if request.content_length is not None and request.content_length > 4096:
            raise web.HTTPRequestEntityTooLarge(max_size=4096, actual_size=request.content_length)
        try:
            body = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text="send a JSON object") from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="send a JSON object")
        return body

    async def device_start(self, request: web.Request) -> web.Response:
        if (refused := await self._rationed(request, as_json=True)) is not None:
            return refused
        body = await self._json(request)
        idp = self._choose_idp(_str(body.get("idp")))
        if idp is None:
            return web.json_response(
                {
                    "error": "choose_idp",
                    "message": "name one of the identity providers",
                    "idps": sorted(self.idps),
                },
                status=400,
            )
        try:
            grant = await idp.client.start_device_authorization()
        except IdpUnreachable:
            return web.json_response(
                {
                    "error": "idp_unreachable",
                    "message": "the identity provider cannot be reached; try again later",
                },
                status=503,
            )
        except IdpRefused as exc:
            return web.json_response({"error": exc.error, "message": exc.description}, status=502)
        handle = secrets.token_urlsafe(32)
        now = self._clock()
        label = (_str(body.get("label")) or "")[:100]
        self._devices.put(
            handle,
            _DeviceAttempt(
                idp.id,
                grant.device_code,
                grant.interval,
                now + grant.interval,
                now + grant.expires_in,
                label,
            ),
            grant.expires_in,
            source_of(request.remote),
        )
        return web.json_response(
            {
                "handle": handle,
                "user_code": grant.user_code,
                "verification_uri": grant.verification_uri,
                "verification_uri_complete": grant.verification_uri_complete,
                "interval": grant.interval,
                "expires_in": grant.expires_in,
            }
        )

    def _device_failed(self, handle: str, request: web.Request, reason: str) -> None:
        """The device grant ended without a person: it cannot be polled again, and the
        failure is recorded against the polling client only."""
        self._devices.pop(handle)
        self.events.emit(
            AuthEvent(
                "login.failed", auth_method="device", client_addr=request.remote, reason=reason
            )
        )

    async def device_poll(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        handle = _str(body.get("handle")) or ""
        attempt = self._devices.get(handle)
        if attempt is None:
            return web.json_response(
                {
                    "status": "expired",
                    "message": "this device login expired or was used; run `warden login` again",
                },
                status=400,
            )
        now = self._clock()
        if now < attempt.next_poll:
            # RFC 8628 §3.5: polling faster than the interval earns slow_down.
            attempt.interval += 5
            attempt.next_poll = now + attempt.interval
            return web.json_response({"status": "slow_down", "interval": attempt.interval})
        attempt.next_poll = now + attempt.interval
        idp = self.idps[attempt.idp]
        try:
            tokens = await idp.client.poll_device_token(attempt.device_code)
            user = user_from_claims(tokens.id_token_claims, idp.mapping)
        except IdpUnreachable:
            return web.json_response(
                {
                    "status": "pending",
                    "interval": attempt.interval,
                    "message": "identity provider unreachable; still trying",
                }
            )
        except IdpRefused as exc:
            if exc.error == "authorization_pending":
                return web.json_response({"status": "pending", "interval": attempt.interval})
            if exc.error == "slow_down":
                attempt.interval += 5
                attempt.next_poll = now + attempt.interval
                return web.json_response({"status": "slow_down", "interval": attempt.interval})
            self._device_failed(handle, request, f"device:{exc.error}")
            status = "denied" if exc.error == "access_denied" else "expired"
            return web.json_response(
                {"status": status, "message": exc.description or exc.error}, status=400
            )
        except (InvalidIdToken, NotAllowed) as exc:
            self._device_failed(handle, request, str(exc)[:100])
            return web.json_response({"status": "denied", "message": str(exc)}, status=403)
        self._devices.pop(handle)  # one credential per grant: a replayed poll gets nothing
        if not await self._allowed(user):
            self.events.emit(
                AuthEvent.about(
                    "login.failed",
                    user,
                    "device",
                    request.remote,
                    reason="deprovisioned",
                )
            )
            return web.json_response({"status": "denied", "message": DEPROVISIONED}, status=403)
        issued = await self._issue_session(user, "device", tokens)
        try:
            credential = await asyncio.to_thread(
                self.sessions.issue_device_credential, issued.session, attempt.label
            )
        except SessionEnded as exc:  # revoked in the moment between the two (a reviewer)
            self.events.emit(
                AuthEvent.about(
                    "login.failed", user, "device", request.remote, reason="session ended"
                )
            )
            return web.json_response({"status": "denied", "message": str(exc)}, status=403)
        self.events.emit(
            AuthEvent.about(
                "login.ok",
                user,
                "device",
                request.remote,
            )
        )
        self.events.emit(
            AuthEvent.about(
                "credential.issued",
                user,
                "device",
                request.remote,
                details={"label": attempt.label},
            )
        )
        return web.json_response(
            {
                "status": "ok",
                "credential": credential,
                "expires_at": int(issued.session.expires_at),
                "user": {"email": user.email, "tenant": user.tenant, "department": user.department},
                "proxy_url": self.settings.proxy_url,
            }
        )

    async def device_revoke(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        credential = _str(body.get("credential")) or ""
        session = self.sessions.session_by_device_credential(credential) if credential else None
        if session is None or not await asyncio.to_thread(
            self.sessions.revoke_device_credential, credential
        ):
            return web.json_response({"revoked": False}, status=404)
        u = session.user
        self.events.emit(
            AuthEvent.about(
                "credential.revoked",
                u,
                "device",
                request.remote,
                reason="warden logout",
            )
        )
        return web.json_response({"revoked": True})

    async def about(self, request: web.Request) -> web.Response:
        """The employee page: what is logged, how to sign in, what a block means."""
        text = (Path(__file__).parent / "employee.md").read_text(encoding="utf-8")
        title, _, rest = text.partition("\n")
        return self.page(title.lstrip("# ").strip(), render(rest))

    async def whoami(self, request: web.Request) -> web.Response:
        """Who a device credential belongs to, and their roles (for `warden console`)."""
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        session = (
            self.sessions.session_by_device_credential(credential.strip())
            if scheme.lower() == "bearer"
            else None
        )
        if session is None:
            return web.json_response({"error": "unknown or expired credential"}, status=401)
        u = session.user
        return web.json_response(
            {
                "tenant": u.tenant,
                "issuer": u.issuer,
                "subject": u.subject,
                "email": u.email,
                "department": u.department,
                "roles": list(self.roles_of(u)),
            },
            headers={"Cache-Control": "no-store"},
        )

    # -- back-channel logout -------------------------------------------------------------

    async def backchannel_logout(self, request: web.Request) -> web.Response:
        form = await request.post()
        token = form.get("logout_token")
        if not isinstance(token, str) or len(token) > 16_384:
            return web.json_response({"error": "invalid_request"}, status=400)
        for idp in self.idps.values():
            try:
                claims = await idp.client.verify_logout_token(token)
            except (InvalidIdToken, IdpUnreachable, IdpRefused):
                continue
            count = await asyncio.to_thread(
                self.sessions.revoke_idp_session,
                idp.client.issuer,
                _str(claims.get("sub")),
                _str(claims.get("sid")),
            )
            self.events.emit(
                AuthEvent(
                    "logout.backchannel",
                    issuer=idp.client.issuer,
                    subject=_str(claims.get("sub")),
                    details={"sessions_ended": count},
                )
            )
            return web.Response(status=200, headers={"Cache-Control": "no-store"})
        self.events.emit(
            AuthEvent(
                "logout.backchannel_rejected", reason="no identity provider vouches for the token"
            )
        )
        return web.json_response({"error": "invalid_request"}, status=400)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
