"""Identify: bind every intercepted flow to a person before it may go anywhere.

Proxy credentials arrive on the CONNECT (HTTPS) or on the request itself (plain HTTP) and
are remembered per client connection, as mitmproxy's proxyauth does, in memory only; the
person behind them is looked up again on every request, so a revocation (logout, SCIM
deactivation) cuts a connection that is already open. A service JWT's verdict is kept per
connection (verifying its signature on every request would cost ~0.1 ms) together with
the session store's revocation count at the time; any revocation since (a SCIM
deprovisioning, a logout, a reviewer's revoke) makes the next request verify the token and
ask the directory again, exactly as a new connection would. So the directory (deactivation,
deletion, removal from the last LLM access group) cuts a service token at once; ending
warden sessions does not, as the token is the IdP's, valid until it expires.
Without credentials, a browser whose address is bound to a portal session is known by that
binding; an unknown browser navigation is sent to the portal, and an API call gets 407 in
its provider's error shape.
Credentials, portal cookies and client-sent identity headers never go upstream.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import re
import time
import weakref
from urllib.parse import quote

from mitmproxy import connection, http

from warden.addons.answers import answer, answer_error
from warden.addons.flowcontext import FlowContext, ResolvedPrincipal
from warden.identity.events import AuthEvent, AuthEvents
from warden.identity.portal import PORTAL_COOKIES, PortalSettings, eligible_for_surrogate
from warden.identity.resolver import (
    CredentialRejected,
    IdentityResolver,
    ProxyCredential,
    ResolvedIdentity,
    parse_proxy_authorization,
)
from warden.identity.sessions import UserIdentity

logger = logging.getLogger("warden.identify")

#: The note (``FlowContext.notes``) naming why a known person's credential was refused.
REFUSED_NOTE = "refused:"

#: A name that never resolves: requests for it through the proxy are answered here.
WELL_KNOWN_HOST = "warden.internal"

# Headers a client could use to claim an identity upstream (or to a later hop that trusts
# them); compared after lower-casing and mapping '_' to '-'.
_IDENTITY_HEADERS = re.compile(
    r"^(x-forwarded-(user|email|preferred-username|groups|access-token)|x-auth-request-.*"
    r"|x-remote-(user|email|groups)|remote-user|x-user|x-email|x-warden-.*)$"
)


_OTHER, _IDENTITY, _COOKIE = 0, 1, 2


@functools.lru_cache(maxsize=4096)  # names repeat from request to request
def _header_kind(raw_name: bytes) -> int:
    norm = raw_name.decode("utf-8", "surrogateescape").lower().replace("_", "-")
    if norm == "proxy-authorization" or _IDENTITY_HEADERS.match(norm):
        return _IDENTITY
    return _COOKIE if norm == "cookie" else _OTHER


def strip_identity_headers(headers: http.Headers) -> None:
    # One look at the raw names; most requests carry none of these and stay untouched.
    fields = headers.fields
    kinds = [_header_kind(name) for name, _ in fields]
    if not any(kinds):
        return
    if _IDENTITY in kinds:
        headers.fields = tuple(
            f for f, kind in zip(fields, kinds, strict=True) if kind != _IDENTITY
        )
    if _COOKIE not in kinds:
        return
    cookies = []
    for header in headers.get_all("cookie"):
        parts = [p for p in header.split(";") if p.strip().split("=", 1)[0] not in PORTAL_COOKIES]
        if parts:
            cookies.append(";".join(parts).strip())
    headers.set_all("cookie", cookies)


def is_navigation(request: http.Request) -> bool:
    headers: dict[str, str] = {k.lower(): v for k, v in request.headers.items()}
    mode = headers.get("sec-fetch-mode")
    if mode is not None:
        return mode == "navigate" and headers.get("sec-fetch-dest", "document") == "document"
    return request.method == "GET" and "text/html" in headers.get("accept", "")


class Identify:
    def __init__(
        self,
        resolver: IdentityResolver,
        portal: PortalSettings,
        events: AuthEvents,
        enforce: bool = True,
    ) -> None:
        self.resolver = resolver
        self.portal = portal
        self.events = events
        self.enforce = enforce
        self._by_conn: weakref.WeakKeyDictionary[connection.Client, ProxyCredential] = (
            weakref.WeakKeyDictionary()
        )
        # (verdict, the session store's revocation count it was reached under)
        self._jwt_cache: weakref.WeakKeyDictionary[
            connection.Client, tuple[ResolvedIdentity, int]
        ] = weakref.WeakKeyDictionary()
        self._refused_conn: weakref.WeakKeyDictionary[connection.Client, CredentialRejected] = (
            weakref.WeakKeyDictionary()
        )
        # Whether an address may be known by its portal binding depends only on the
        # address and the (fixed) portal networks: parsed once per address, not per flow.
        self._surrogate_eligible = functools.lru_cache(maxsize=4096)(
            functools.partial(eligible_for_surrogate, settings=portal)
        )

    # -- CONNECT -----------------------------------------------------------------------

    async def http_connect(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error:
            return
        header = flow.request.headers.get("proxy-authorization")
        if header is None:
            return
        del flow.request.headers["proxy-authorization"]
        revocations = self.resolver.sessions.revocations  # read before any await
        try:
            credential = parse_proxy_authorization(header)
            resolved = await self.resolver.resolve(credential)
        except CredentialRejected as exc:
            self._rejected(flow, exc)
            # The tunnel still opens: a 407 on the CONNECT reaches SDKs as a bare
            # "connection error", while a 407 inside it carries our message in the
            # provider's error shape. Nothing of it goes upstream either way.
            self._refused_conn[flow.client_conn] = exc
            return
        self._by_conn[flow.client_conn] = credential
        self._refused_conn.pop(flow.client_conn, None)
        if resolved.auth_method == "jwt":
            self._jwt_cache[flow.client_conn] = (resolved, revocations)

    def _rejected(self, flow: http.HTTPFlow, exc: CredentialRejected) -> None:
        owner = exc.owner  # set only when the gateway knows whose credential it is
        details: dict[str, str | int | bool] = {"host": flow.request.host[:100]}
        if exc.detail:
            details["revoked_reason"] = exc.detail
        self.events.emit(
            AuthEvent(
                "credential.rejected",
                tenant=owner.tenant if owner else None,
                issuer=owner.issuer if owner else None,
                subject=owner.subject if owner else None,
                email=owner.email if owner else None,
                auth_method=exc.auth_method if owner else None,
                client_addr=client_address(flow),
                reason=exc.reason,
                details=details,
            )
        )

    # -- each request ------------------------------------------------------------------

    async def _who(self, flow: http.HTTPFlow) -> ResolvedIdentity | None:
        header = flow.request.headers.get("proxy-authorization")
        if header is not None and not flow.request.is_http2 and flow.request.scheme == "http":
            self._by_conn[flow.client_conn] = parse_proxy_authorization(header)
        refused = self._refused_conn.get(flow.client_conn)
        if refused is not None:
            raise refused
        credential = self._by_conn.get(flow.client_conn)
        if credential is not None:
            if credential.kind == "device":
                found = self.resolver.device(credential.secret)
                if found is None:
                    raise await self.resolver.device_refused(
                        credential.secret,
                        "your sign-in has ended (signed out, expired or access removed): "
                        "run `warden login` again",
                    )
                return found
            # The common case inline (no coroutine of its own): the verdict still stands.
            cached = self._jwt_cache.get(flow.client_conn)
            if (
                cached is not None
                and cached[1] == self.resolver.sessions.revocations
                and cached[0].expires_at > time.time()
            ):
                return cached[0]
            return await self._bearer(flow.client_conn, credential.secret)
        addr = client_address(flow)
        if addr and self._surrogate_eligible(addr):
            return self.resolver.surrogate(addr)
        return None

    async def _bearer(self, conn: connection.Client, token: str) -> ResolvedIdentity:
        revocations = self.resolver.sessions.revocations  # read before any await
        cached = self._jwt_cache.get(conn)
        if cached is not None and cached[1] == revocations and cached[0].expires_at > time.time():
            return cached[0]
        try:
            resolved = await self.resolver.bearer(token)
        except CredentialRejected:
            self._jwt_cache.pop(conn, None)
            raise
        self._jwt_cache[conn] = (resolved, revocations)
        return resolved

    async def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        if flow.request.host == WELL_KNOWN_HOST and flow.request.scheme == "http":
            self._well_known(flow)
            return
        ctx = FlowContext.of(flow)
        if ctx.destination is None:
            return
        try:
            who = await self._who(flow)
        except CredentialRejected as exc:
            self._rejected(flow, exc)
            if exc.owner is not None:
                # The refusal is the owner's, under their name: an investigator filtering by
                # that person finds the attempt. The answer is the same 407 as for anyone.
                ctx = ctx.replace(
                    principal=_principal(exc.owner, exc),
                    notes=(*ctx.notes, f"{REFUSED_NOTE}{exc.reason}"),
                )
                ctx.save(flow)  # the answer below records what the flow's context holds
            self._challenge(flow, ctx, exc.message)
            return
        finally:
            strip_identity_headers(flow.request.headers)
        if who is None:
            if self.enforce:
                self._challenge(flow, ctx, None)
            return
        u = who.user
        ctx.replace(
            principal=ResolvedPrincipal(
                tenant=u.tenant,
                issuer=u.issuer,
                subject=u.subject,
                auth_method=who.auth_method,
                email=u.email,
                department=u.department,
                groups=u.groups,
                session_id=who.session_id,
            )
        ).save(flow)

    def _well_known(self, flow: http.HTTPFlow) -> None:
        """``http://warden.internal/.well-known/egress-warden`` through the proxy: tells
        `warden login` where the portal is, knowing only the proxy's address."""
        if flow.request.path != "/.well-known/egress-warden":
            answer(flow, 404, b"not found\n", {"Content-Type": "text/plain"})
            return
        body = json.dumps({"portal": self.portal.public_url, "proxy": self.portal.proxy_url})
        answer(flow, 200, body, {"Content-Type": "application/json", "Cache-Control": "no-store"})

    def _challenge(self, flow: http.HTTPFlow, ctx: FlowContext, problem: str | None) -> None:
        dest = ctx.destination
        assert dest is not None
        portal = self.portal.public_url
        if dest.kind == "webapp" and is_navigation(flow.request):
            target = quote(flow.request.pretty_url, safe="")
            location = f"{portal}/portal/login?next={target}"
            answer(
                flow,
                302,
                b"",
                {"Location": location, "Cache-Control": "no-store"},
                "unauthenticated",
            )
        else:
            message = (problem or "Egress Warden: you are not signed in.") + (
                f" Sign in with `warden login --proxy {self.portal.proxy_url}` (terminals, SDKs) "
                f"or open {portal}/portal/login in your browser; services send "
                "`Proxy-Authorization: Bearer <JWT from your IdP>`."
            )
            status = 407 if dest.kind == "api" else 401
            headers = {"Cache-Control": "no-store"}
            if status == 407:
                headers["Proxy-Authenticate"] = 'Basic realm="Egress Warden"'
            answer_error(
                flow, status, message, "warden_unauthenticated", "unauthenticated", headers
            )


def _principal(owner: UserIdentity, exc: CredentialRejected) -> ResolvedPrincipal:
    return ResolvedPrincipal(
        tenant=owner.tenant,
        issuer=owner.issuer,
        subject=owner.subject,
        auth_method=exc.auth_method or "unknown",
        email=owner.email,
        department=owner.department,
        groups=owner.groups,
    )


def client_address(flow: http.HTTPFlow) -> str:
    """The client's IP address as text; an IPv4-mapped IPv6 address as plain IPv4."""
    peer: tuple[str, int] | None = flow.client_conn.peername
    if peer is None:
        return ""
    return _address_text(peer[0])


@functools.lru_cache(maxsize=4096)
def _address_text(host: str) -> str:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return ""
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return str(mapped or ip)
