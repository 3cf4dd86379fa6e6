"""The IdP's signing keys: a validated, cached JWKS with rate-limited refetch for new `kid`s.

`JwksCache` owns one issuer's key set. The proxy's hot path only ever calls `get(kid)`,
a dictionary lookup with no I/O. A token whose `kid` is not cached may cause one refetch
(`get_or_refetch`), and at most one per cooldown window however many such tokens arrive,
so a stream of forged `kid`s cannot turn the proxy into a load generator against the IdP.

The JWKS URI is a constructor argument that comes from configuration or OIDC discovery;
nothing in a token (`jku`, `x5u`, `jwk`, `x5c`) ever reaches this module.

When a refetch fails, the last good key set stays in place: an IdP outage must not lock
out every service that already holds a valid token (ARCHITECTURE.md, "IdP down").

Over 400 lines: validating a key set and refetching it safely are one trust decision.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.exceptions import InvalidKeyError

from warden.errors import OperatorError
from warden.providers.hostnames import is_loopback

log = logging.getLogger(__name__)

PublicKey = RSAPublicKey | EllipticCurvePublicKey | Ed25519PublicKey | Ed448PublicKey

FetchJwks = Callable[[str], Awaitable[bytes]]
"""Fetches the JWKS document at a URI and returns its body (for tests and custom clients)."""

# --- security constants ------------------------------------------------------------------

# A real JWKS is a few KiB (a handful of 2048-4096-bit RSA keys). The cap bounds memory and
# parsing time if the endpoint, or something in front of it, answers with something else.
MAX_JWKS_BYTES = 256 * 1024
# IdPs publish 1-5 keys (current, next, previous). More is a misconfiguration or an attack
# on the per-key parsing cost.
MAX_JWKS_KEYS = 64
# `kid` values are short identifiers (thumbprints, UUIDs, dates); a long one is not a key id.
MAX_KID_LENGTH = 256
# RSA below 2048 bits is factorable in practice (NIST SP 800-131A disallows it since 2013);
# such a key is skipped, never trusted.
MIN_RSA_BITS = 2048
# A hung JWKS endpoint must not hold a verification forever.
FETCH_TIMEOUT_S = 10.0
# Curves whose keys may sign JWTs, and the one `alg` each allows (RFC 7518 §3.4, RFC 8037).
_EC_ALG_BY_CURVE = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
_OKP_CURVES = frozenset({"Ed25519", "Ed448"})
# An RSA key can verify RS* and PS*, never HS*: the algorithm must match the key type, which
# is what defeats the RS256→HS256 key-confusion attack (RFC 8725 §2.1, §3.1).
_RSA_ALGS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
# JWK members that only private or symmetric keys have (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
# A JWKS that publishes them has leaked the IdP's signing secret; nothing from it is used.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class JwksError(OperatorError):
    """The key set could not be fetched or used; `diagnostics()` tells the operator why."""


class JwksFetchError(JwksError):
    """The JWKS endpoint could not be reached or answered with something other than 200."""


class JwksDocumentError(JwksError):
    """The JWKS endpoint answered, but not with a usable key set."""


class JwksPrivateKeyError(JwksDocumentError):
    """The JWKS contains private or symmetric key material: the IdP leaked its secret."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One public key of the IdP that may verify token signatures."""

    kid: str
    kty: str
    public_key: PublicKey
    # The `alg` the JWK names, if any; a key that names one verifies that algorithm only.
    alg: str | None = None
    crv: str | None = None

    def allows(self, alg: str) -> bool:
        """Whether a token signed with `alg` may be verified with this key at all."""
        if self.alg is not None and alg != self.alg:
            return False
        if self.kty == "RSA":
            return alg in _RSA_ALGS
        if self.kty == "EC":
            return self.crv is not None and _EC_ALG_BY_CURVE.get(self.crv) == alg
        if self.kty == "OKP":
            return alg == "EdDSA"
        return False


def check_jwks_uri(uri: str) -> str:
    """Refuse a JWKS URI whose keys a network attacker could replace; return it unchanged.

    Plain `http` is allowed only on loopback (a local test IdP): over the network it would
    let anyone on the path substitute their own keys and mint tokens.
    """
    parts = urlsplit(uri)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return uri
    if parts.scheme == "http" and host and is_loopback(host):
        return uri
    raise JwksError(
        f"JWKS URI {uri!r} is not an https:// URL (plain http is allowed for loopback only)",
        fix="configure the issuer's jwks_uri as an https:// URL, or let OIDC discovery find it",
    )


def parse_jwks(body: bytes, *, source: str) -> dict[str, SigningKey]:
    """Validate a JWKS document and return its usable signing keys by `kid`.

    Keys that are for encryption (`use` other than `sig`), of an unsupported type or curve,
    too weak, or without a `kid` are skipped (and logged). Private key material anywhere
    refuses the whole document, as does a document without a single usable key.
    """
    if len(body) > MAX_JWKS_BYTES:
        raise JwksDocumentError(
            f"JWKS from {source} is larger than {MAX_JWKS_BYTES} bytes",
            fix="check that jwks_uri points at the IdP's key set and not at another document",
        )
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as e:
        raise JwksDocumentError(
            f"JWKS from {source} is not JSON ({type(e).__name__})",
            fix="check that jwks_uri points at the IdP's key set (a JSON object with 'keys')",
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise JwksDocumentError(
            f"JWKS from {source} is not an object with a 'keys' list",
            fix="check that jwks_uri points at the IdP's key set (RFC 7517 §5), "
            "not at the discovery document",
        )
    raw_keys: list[Any] = doc["keys"]
    if len(raw_keys) > MAX_JWKS_KEYS:
        raise JwksDocumentError(
            f"JWKS from {source} has {len(raw_keys)} keys (at most {MAX_JWKS_KEYS} are accepted)",
            fix="check the IdP's key rotation settings; an IdP publishes a handful of keys",
        )
    for index, jwk in enumerate(raw_keys):
        if isinstance(jwk, dict) and _PRIVATE_MEMBERS & jwk.keys():
            members = ", ".join(sorted(_PRIVATE_MEMBERS & jwk.keys()))
            raise JwksPrivateKeyError(
                f"JWKS from {source} publishes private or symmetric key material "
                f"(key #{index}, members: {members}); the whole key set is refused",
                fix="the IdP's signing secret is exposed to anyone who fetches this URL: "
                "rotate the IdP's signing keys now and publish public keys only",
            )
    keys: dict[str, SigningKey] = {}
    for index, jwk in enumerate(raw_keys):
        key, skipped = _signing_key(jwk)
        if key is None:
            log.info("JWKS from %s: key #%d skipped: %s", source, index, skipped)
        elif key.kid in keys:
            log.warning(
                "JWKS from %s: key #%d repeats kid %r; the first wins", source, index, key.kid
            )
        else:
            keys[key.kid] = key
    if not keys:
        raise JwksDocumentError(
            f"JWKS from {source} has no usable signing key (RSA ≥ {MIN_RSA_BITS} bits, "
            "EC P-256/384/521 or Ed25519/Ed448, with a kid, use 'sig')",
            fix="check the IdP's signing key configuration; see the log for why each key "
            "was skipped",
        )
    return keys


def _signing_key(jwk: Any) -> tuple[SigningKey | None, str]:
    """One JWK as a `SigningKey`, or None and the reason it cannot sign tokens for us."""
    if not isinstance(jwk, dict):
        return None, "not a JSON object"
    kty, kid = jwk.get("kty"), jwk.get("kid")
    if not isinstance(kty, str) or not kty:
        return None, "no 'kty'"
    # Without a kid a token cannot select the key; trying every key instead would let the
    # cheapest key type decide.
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
        return None, "no usable 'kid'"
    use = jwk.get("use")
    if use is not None and use != "sig":
        return None, f"use is {use!r}, not 'sig'"
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return None, "key_ops does not include 'verify'"
    alg = jwk.get("alg")
    if alg is not None and not isinstance(alg, str):
        return None, "'alg' is not a string"
    crv = jwk.get("crv")
    try:
        public_key: PublicKey
        if kty == "RSA":
            rsa_key = RSAAlgorithm.from_jwk(jwk)
            if not isinstance(rsa_key, RSAPublicKey):
                return None, "not an RSA public key"
            if rsa_key.key_size < MIN_RSA_BITS:
                return None, f"RSA key of {rsa_key.key_size} bits (< {MIN_RSA_BITS})"
            public_key = rsa_key
        elif kty == "EC":
            if crv not in _EC_ALG_BY_CURVE:
                return None, f"unsupported curve {crv!r}"
            ec_key = ECAlgorithm.from_jwk(jwk)
            if not isinstance(ec_key, EllipticCurvePublicKey):
                return None, "not an EC public key"
            public_key = ec_key
        elif kty == "OKP":
            if crv not in _OKP_CURVES:
                return None, f"unsupported curve {crv!r}"
            okp_key = OKPAlgorithm.from_jwk(jwk)
            if not isinstance(okp_key, Ed25519PublicKey | Ed448PublicKey):
                return None, "not an Ed25519/Ed448 public key"
            public_key = okp_key
        else:
            return None, f"unsupported kty {kty!r}"
    except (InvalidKeyError, ValueError, TypeError) as e:
        return None, f"cannot be loaded ({type(e).__name__})"
    key = SigningKey(kid=kid, kty=kty, public_key=public_key, alg=alg, crv=crv)
    if alg is not None and not key.allows(alg):
        return None, f"alg {alg!r} does not fit a {kty} key"
    return key, ""


class JwksCache:
    """One issuer's signing keys, fetched from a configured JWKS URI and kept by `kid`."""

    def __init__(
        self,
        jwks_uri: str,
        *,
        http: aiohttp.ClientSession | FetchJwks,
        refetch_cooldown: float = 60.0,
        max_age: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.jwks_uri = check_jwks_uri(jwks_uri)
        self._fetch: FetchJwks = (
            _session_fetcher(http) if isinstance(http, aiohttp.ClientSession) else http
        )
        # At most one fetch for unknown kids per this many seconds (shared by all callers).
        self.refetch_cooldown = refetch_cooldown
        # Older than this, the set counts as stale: still used, but logged as a warning.
        self.max_age = max_age
        self._clock = clock
        self._keys: Mapping[str, SigningKey] = MappingProxyType({})
        self._fetched_at: float | None = None
        self._last_attempt: float | None = None
        self._inflight: asyncio.Task[None] | None = None
        self.fetch_count = 0
        self.last_error: JwksError | None = None

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    @property
    def loaded(self) -> bool:
        """Whether a key set has been fetched successfully at least once."""
        return self._fetched_at is not None

    @property
    def stale(self) -> bool:
        """No successful fetch for longer than `max_age` (or never)."""
        return self._fetched_at is None or self._clock() - self._fetched_at > self.max_age

    def get(self, kid: str) -> SigningKey | None:
        """The cached key for `kid`; never does I/O (the proxy's hot path calls this)."""
        return self._keys.get(kid)

    async def refresh(self) -> None:
        """Fetch the key set now; raise `JwksError` if that fails (the old set is kept)."""
        await self._shared_fetch()

    async def get_or_refetch(self, kid: str) -> SigningKey | None:
        """The key for `kid`; if unknown, at most one refetch per cooldown window, else None.

        Callers that arrive while a fetch is running wait for that same fetch.
        """
        key = self.get(kid)
        if key is not None:
            return key
        if self._inflight is None and not self._cooldown_over():
            return None
        try:
            await self._shared_fetch()
        except JwksError as e:
            log.warning("JWKS refetch for an unknown kid failed: %s", e.message)
        return self.get(kid)

    async def run_refresher(self, interval: float = 300.0) -> None:
        """Refresh every `interval` seconds until cancelled; failures are logged and retried.

        After a failure the next attempt comes after the cooldown (if shorter), so a brief
        IdP outage does not leave the set stale for a whole interval.
        """
        while True:
            try:
                await self.refresh()
                delay = interval
            except JwksError as e:
                level = logging.WARNING if not self.stale else logging.ERROR
                log.log(level, "JWKS refresh failed (keeping the last good set): %s", e.message)
                delay = min(interval, max(self.refetch_cooldown, 1.0))
            await asyncio.sleep(delay)

    def _cooldown_over(self) -> bool:
        return (
            self._last_attempt is None
            or self._clock() - self._last_attempt >= self.refetch_cooldown
        )

    async def _shared_fetch(self) -> None:
        if self._inflight is None:
            task = asyncio.get_running_loop().create_task(self._fetch_and_store())
            self._inflight = task
            task.add_done_callback(self._fetch_done)
        # shield: one caller giving up (timeout, cancelled request) must not cancel the
        # fetch that every other waiting caller shares.
        await asyncio.shield(self._inflight)

    def _fetch_done(self, task: asyncio.Task[None]) -> None:
        self._inflight = None
        if not task.cancelled():
            task.exception()  # retrieved here so an unawaited failure is not reported twice

    async def _fetch_and_store(self) -> None:
        self._last_attempt = self._clock()
        self.fetch_count += 1
        try:
            body = await asyncio.wait_for(self._fetch(self.jwks_uri), FETCH_TIMEOUT_S)
        except JwksError as e:
            self.last_error = e
            raise
        except TimeoutError:
            self.last_error = JwksFetchError(
                f"JWKS endpoint {self.jwks_uri} did not answer within {FETCH_TIMEOUT_S:g} s",
                fix="check that the IdP is up and reachable from the proxy host",
            )
            raise self.last_error from None
        except Exception as e:  # any failure of the fetcher is a fetch failure, kept apart
            self.last_error = JwksFetchError(
                f"JWKS endpoint {self.jwks_uri} could not be reached ({type(e).__name__}: {e})",
                fix="check that the IdP is up and reachable from the proxy host "
                "(DNS, firewall, outbound proxy settings)",
            )
            raise self.last_error from None
        try:
            keys = parse_jwks(body, source=self.jwks_uri)
        except JwksError as e:
            self.last_error = e
            raise
        self._keys = MappingProxyType(keys)
        self._fetched_at = self._clock()
        self.last_error = None
        log.info("JWKS from %s: %d signing key(s): %s", self.jwks_uri, len(keys), sorted(keys))


def _session_fetcher(session: aiohttp.ClientSession) -> FetchJwks:
    async def fetch(uri: str) -> bytes:
        # No redirects: the key set's location is the configured one, nothing else decides.
        async with session.get(
            uri,
            allow_redirects=False,
            headers={"Accept": "application/jwk-set+json, application/json"},
        ) as resp:
            if resp.status != 200:
                where = resp.headers.get("Location")
                extra = f" (redirect to {where!r}; configure that URL instead)" if where else ""
                raise JwksFetchError(
                    f"JWKS endpoint {uri} answered HTTP {resp.status}{extra}",
                    fix="check the issuer's jwks_uri (or its discovery document) and that "
                    "the IdP serves its key set there",
                )
            too_large = JwksDocumentError(
                f"JWKS from {uri} is larger than {MAX_JWKS_BYTES} bytes",
                fix="check that jwks_uri points at the IdP's key set and not at another document",
            )
            if (resp.content_length or 0) > MAX_JWKS_BYTES:
                raise too_large
            body = bytearray()
            async for chunk in resp.content.iter_chunked(64 * 1024):
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise too_large
            return bytes(body)

    return fetch
