"""Who is behind a request: proxy credentials (device credential, service JWT) or a surrogate IP.

Device credentials and surrogate bindings resolve from the session store's memory; a
service JWT is verified against its issuer's cached JWKS (the IdP is asked only for a key
id it has not seen, at most once per cooldown). The issuer is read from the unverified
token only to choose which verifier to ask; that verifier then checks it exactly.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import jwt as pyjwt

from .claims import ClaimMapping, NotAllowed, user_from_claims
from .jwt import ServiceTokenVerifier, TokenRejected
from .sessions import SessionStore, UserIdentity

DEVICE_USER = "device"
MAX_HEADER = 16_384


class CredentialRejected(Exception):
    """Credentials were presented and are not good; ``reason`` is a stable audit code.

    ``owner`` is the person the credential provably belongs to, where the gateway knows
    (a device credential it issued whose session ended; a service JWT whose signature
    verified but whose person lost access): the refusal is then recorded under their
    name. Never set from anything a client could have made up.
    """

    def __init__(
        self,
        reason: str,
        message: str,
        owner: UserIdentity | None = None,
        detail: str | None = None,
        auth_method: str | None = None,
    ) -> None:
        self.reason = reason
        self.message = message
        self.owner = owner
        self.detail = detail
        self.auth_method = auth_method
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class ProxyCredential:
    kind: str  # "device" or "bearer"
    secret: str  # kept in memory only, never in flow metadata or logs


@dataclass(frozen=True, slots=True)
class ResolvedIdentity:
    user: UserIdentity
    auth_method: str  # "device", "jwt", "surrogate"
    session_id: str | None
    expires_at: float


def parse_proxy_authorization(value: str) -> ProxyCredential:
    if len(value) > MAX_HEADER:
        raise CredentialRejected("malformed", "the Proxy-Authorization header is too long")
    scheme, _, rest = value.strip().partition(" ")
    scheme, rest = scheme.lower(), rest.strip()
    if scheme == "bearer" and rest:
        return ProxyCredential("bearer", rest)
    if scheme == "basic" and rest:
        try:
            user, sep, password = base64.b64decode(rest, validate=True).decode().partition(":")
        except ValueError:  # binascii.Error, UnicodeDecodeError, and non-ASCII text
            raise CredentialRejected(
                "malformed", "the Basic proxy credentials are not valid base64"
            ) from None
        if sep and user == DEVICE_USER and password:
            return ProxyCredential("device", password)
        raise CredentialRejected(
            "malformed", "proxy user must be 'device' with a credential from `warden login`"
        )
    raise CredentialRejected("malformed", "use Basic (device:<credential>) or Bearer <JWT>")


#: How long a service token waits for its IdP's first discovery after the gateway starts.
ARMING_WAIT_S = 10.0


@dataclass(frozen=True, slots=True)
class ServiceIssuer:
    verifier: ServiceTokenVerifier
    mapping: ClaimMapping


class IdentityResolver:
    def __init__(
        self, sessions: SessionStore, service_issuers: Mapping[str, ServiceIssuer]
    ) -> None:
        self.sessions = sessions
        self.service_issuers = dict(service_issuers)
        #: Issuers configured for service tokens whose IdP is not discovered yet: a token
        #: of theirs waits (briefly) for `arm` instead of being refused as unknown.
        self._arming: dict[str, asyncio.Event] = {}
        #: A last word on service identities (SCIM deactivation); None: all allowed. It may
        #: read the database, so it runs on a thread; ``user_allowed_cached`` answers from
        #: memory first (None: not known, ask ``user_allowed``).
        self.user_allowed: Callable[[UserIdentity], bool] | None = None
        self.user_allowed_cached: Callable[[UserIdentity], bool | None] | None = None

    def expect(self, issuer: str) -> None:
        """``issuer`` will accept service tokens once its IdP has been discovered."""
        if issuer not in self.service_issuers:
            self._arming.setdefault(issuer, asyncio.Event())

    def arm(self, issuer: str, entry: ServiceIssuer) -> None:
        """``issuer``'s service tokens are verified with ``entry`` from now on."""
        self.service_issuers[issuer] = entry
        waiting = self._arming.pop(issuer, None)
        if waiting is not None:
            waiting.set()

    async def _service_issuer(self, issuer: str) -> ServiceIssuer:
        entry = self.service_issuers.get(issuer)
        waiting = self._arming.get(issuer) if entry is None else None
        if waiting is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiting.wait(), ARMING_WAIT_S)
            entry = self.service_issuers.get(issuer)
            if entry is None:
                raise CredentialRejected(
                    "idp_not_ready",
                    "the gateway has not reached the identity provider of this token yet "
                    "(it is starting, or the IdP is down): try again in a minute",
                )
        if entry is None:
            raise CredentialRejected(
                "wrong_issuer", "no tenant accepts service tokens from this issuer"
            )
        return entry

    async def device_refused(self, secret: str, message: str) -> CredentialRejected:
        """The refusal of a device credential that does not resolve, naming its owner and
        why (signed out, deprovisioned, expired) when the gateway issued it. The lookup
        reads the state database (on PostgreSQL a network round trip, held by a stalled
        server), so it runs on a thread, never on the proxy's event loop."""
        ended = await asyncio.to_thread(self.sessions.ended_device_credential, secret)
        if ended is None:
            return CredentialRejected("device_credential_invalid", message)
        return CredentialRejected(ended.reason, message, ended.user, ended.detail, "device")

    def device(self, secret: str) -> ResolvedIdentity | None:
        session = self.sessions.session_by_device_credential(secret)
        if session is None:
            return None
        return ResolvedIdentity(session.user, "device", session.id, session.expires_at)

    def surrogate(self, client_addr: str) -> ResolvedIdentity | None:
        session = self.sessions.session_by_surrogate(client_addr)
        if session is None:
            return None
        return ResolvedIdentity(session.user, "surrogate", session.id, session.expires_at)

    async def _still_allowed(self, user: UserIdentity) -> bool:
        """From memory when known; otherwise the database, off the event loop."""
        if self.user_allowed_cached is not None:
            known = self.user_allowed_cached(user)
            if known is not None:
                return known
        assert self.user_allowed is not None
        return await asyncio.to_thread(self.user_allowed, user)

    async def bearer(self, token: str) -> ResolvedIdentity:
        try:
            issuer = pyjwt.decode(token, options={"verify_signature": False}).get("iss")
        except pyjwt.PyJWTError:
            raise CredentialRejected("malformed", "the bearer token is not a JWT") from None
        if not isinstance(issuer, str):
            raise CredentialRejected(
                "wrong_issuer", "no tenant accepts service tokens from this issuer"
            )
        entry = await self._service_issuer(issuer)
        try:
            verified = await entry.verifier.verify(token)
        except TokenRejected as exc:
            raise CredentialRejected(str(exc.reason_code), exc.message) from None
        try:
            user = user_from_claims({**verified.claims, "sub": verified.subject}, entry.mapping)
        except NotAllowed as exc:
            raise CredentialRejected("tenant_not_allowed", str(exc)) from None
        if self.user_allowed is not None and not await self._still_allowed(user):
            raise CredentialRejected(
                "deprovisioned",
                "your company's directory has deactivated or removed this identity, or taken "
                "it out of the groups allowed to use LLMs.",
                user,
                auth_method="jwt",
            )
        revoked_at = self.sessions.not_before(user.tenant, user.subject)
        issued_at = verified.claims.get("iat")
        if revoked_at is not None and (
            not isinstance(issued_at, int | float) or issued_at <= revoked_at
        ):
            raise CredentialRejected(
                "revoked",
                "a security reviewer revoked this identity's access after this token was "
                "issued: get a new token from your identity provider",
                user,
                auth_method="jwt",
            )
        expires = verified.expires_at
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=datetime.UTC)
        return ResolvedIdentity(user, "jwt", None, expires.timestamp())

    async def resolve(self, credential: ProxyCredential) -> ResolvedIdentity:
        if credential.kind == "device":
            found = self.device(credential.secret)
            if found is None:
                raise await self.device_refused(
                    credential.secret,
                    "this device credential is unknown, expired or revoked: "
                    "run `warden login` again",
                )
            return found
        return await self.bearer(credential.secret)
