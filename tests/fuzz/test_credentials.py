"""Fuzzing the credential parsers: ``Proxy-Authorization``, service JWTs (header, payload,
signature) against a real JWKS server, JWKS documents, and the claims of a verified token.

Properties: ``parse_proxy_authorization`` returns a credential or raises
``CredentialRejected``; ``ServiceTokenVerifier.verify`` raises ``TokenRejected`` only, and
what it accepts was signed by the IdP's key with a pinned algorithm, for the configured
issuer and audience; ``parse_jwks`` raises ``JwksDocumentError`` only; ``bearer`` (the
resolver's entry for service tokens) raises ``CredentialRejected`` only.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from jwt.algorithms import get_default_algorithms
from mitmproxy.http import Headers

from tests.identity.test_jwks import FakeClock, Key, ec_key, jwks_body, rsa_key, start_jwks_server
from warden.addons.identify import strip_identity_headers
from warden.identity.claims import ClaimMapping, NotAllowed, user_from_claims
from warden.identity.jwks import JwksCache, JwksDocumentError, parse_jwks
from warden.identity.jwt import ServiceTokenVerifier, TokenRejected, VerifiedToken
from warden.identity.portal import PORTAL_COOKIES
from warden.identity.resolver import CredentialRejected, ProxyCredential, parse_proxy_authorization

from .strategies import json_values, mutated, scaled, texts

ISSUER = "https://idp.example.test/realms/fuzz"
AUDIENCE = "https://warden.example.test"


# --- Proxy-Authorization ----------------------------------------------------------------


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8", "surrogatepass")).decode()


proxy_authorization = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda scheme, sep, rest: f"{scheme}{sep}{rest}",
        st.sampled_from(["Basic", "basic", "BASIC", "Bearer", "bearer", "Digest", ""]),
        st.sampled_from([" ", "  ", "\t", ""]),
        st.one_of(
            texts,
            texts.map(_b64),
            st.builds(lambda u, p: _b64(f"{u}:{p}"), st.sampled_from(["device", "x", ""]), texts),
            st.binary(max_size=30).map(lambda b: base64.b64encode(b).decode()),
        ),
    ),
)


@given(proxy_authorization)
@example("Basic é")  # non-ASCII where base64 belongs: ValueError, not binascii.Error
@example("Basic ZGV2aWNlOsM=")  # base64 of b"device:\xc3": not UTF-8
def test_proxy_authorization(value: str) -> None:
    try:
        credential = parse_proxy_authorization(value)
    except CredentialRejected as exc:
        assert exc.reason == "malformed"
        return
    assert isinstance(credential, ProxyCredential)
    assert credential.kind in ("device", "bearer") and credential.secret


# --- service JWTs -----------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json(doc: object) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


class Idp:
    """A real JWKS server on loopback with one RSA and one EC key, and a verifier for it,
    on an event loop of its own (hypothesis drives the examples synchronously)."""

    def __init__(self) -> None:
        self.keys = {"rsa": rsa_key("k-rsa"), "ec": ec_key("k-ec")}
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self._start())

    async def _start(self) -> None:
        self.server = await start_jwks_server(*self.keys.values())
        self.session = aiohttp.ClientSession()
        cache = JwksCache(self.server.url, http=self.session, clock=FakeClock())
        self.verifier = ServiceTokenVerifier(ISSUER, AUDIENCE, ["RS256", "PS256", "ES256"], cache)
        await cache.refresh()

    def verify(self, token: str) -> VerifiedToken:
        return self.loop.run_until_complete(self.verifier.verify(token))

    def close(self) -> None:
        async def stop() -> None:
            await self.session.close()
            await self.server.stop()

        self.loop.run_until_complete(stop())
        self.loop.close()


@pytest.fixture(scope="module")
def idp() -> Iterator[Idp]:
    peer = Idp()
    yield peer
    peer.close()


def claims() -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUER, "sub": "svc-1", "aud": AUDIENCE, "exp": now + 300, "iat": now}


_HEADER_EXTRAS = st.dictionaries(
    st.sampled_from(["crit", "b64", "cty", "x5t", "zip", "enc", "kid", "typ", "alg", "jku", "jwk"]),
    json_values,
    max_size=2,
)


@st.composite
def tokens(draw: st.DrawFn, keys: dict[str, Key]) -> tuple[str, str | None]:
    """A compact JWS and the name of the IdP key that really signed it (None: no key)."""
    which = draw(st.sampled_from(["rsa", "ec"]))
    fitting = {"rsa": ["RS256", "PS256"], "ec": ["ES256"]}[which]
    others = ["RS256", "PS256", "ES256", "RS512", "none", "HS256", "EdDSA"]
    alg = draw(st.one_of(st.sampled_from(fitting), st.sampled_from(others)))
    header: dict[str, Any] = {
        "alg": alg,
        "kid": draw(st.sampled_from([keys[which].kid, "k-rsa", "k-ec", "other", ""])),
        "typ": draw(st.sampled_from(["at+jwt", "application/at+jwt", "JWT", None, 5])),
    }
    header = {k: v for k, v in header.items() if v is not None}
    payload: Any = claims()
    if draw(st.booleans()):  # nearly right: the right key and typ, one odd claim
        header |= {"alg": draw(st.sampled_from(fitting)), "kid": keys[which].kid, "typ": "at+jwt"}
        alg = header["alg"]
        name = draw(st.sampled_from(["iss", "sub", "aud", "exp", "nbf", "iat", "nonce", "x"]))
        payload[name] = draw(st.one_of(json_values, st.sampled_from([AUDIENCE, [AUDIENCE]])))
    else:
        header.update(draw(_HEADER_EXTRAS))
        payload = draw(st.one_of(mutated(payload), json_values))
    raw_header: object = draw(st.one_of(st.just(header), mutated(header)))
    segments = [b64url(_json(raw_header)), b64url(_json(payload))]
    if draw(st.integers(0, 9)) == 7:  # (not 0: hypothesis draws the bounds often)
        segments[draw(st.integers(0, 1))] = draw(st.text("AB_-.=+/ab01", max_size=20))
    signing_input = ".".join(segments).encode()
    algorithm = get_default_algorithms().get(alg)
    signer: str | None = None
    if (
        algorithm is not None
        and alg != "none"
        and not alg.startswith("HS")
        and draw(st.integers(0, 3))
    ):
        try:
            signature = algorithm.sign(signing_input, keys[which].private)
            signer = which
        except Exception:  # the key does not fit the algorithm: a random signature
            signature = draw(st.binary(max_size=64))
    else:
        signature = draw(st.binary(max_size=64))
    return f"{signing_input.decode()}.{b64url(signature)}", signer


def test_service_token(idp: Idp) -> None:
    @scaled(0.5)
    @given(tokens(idp.keys))
    def check(token_and_signer: tuple[str, str | None]) -> None:
        token, signer = token_and_signer
        try:
            verified = idp.verify(token)
        except TokenRejected:
            return
        assert signer is not None, "a token not signed by the IdP's key was accepted"
        assert (verified.issuer, verified.audience) == (ISSUER, AUDIENCE)
        assert isinstance(verified.subject, str) and 0 < len(verified.subject) <= 255
        _mapping_of(dict(verified.claims) | {"sub": verified.subject})

    check()


@given(st.one_of(st.text(max_size=100), st.binary(max_size=60).map(b64url)))
def test_any_text_as_a_token(token: str) -> None:
    """Without a real IdP, nothing but the shape is read: same property, any text."""
    loop = asyncio.new_event_loop()
    try:
        cache = JwksCache("https://idp.example.test/jwks", http=_never_fetch)
        verifier = ServiceTokenVerifier(ISSUER, AUDIENCE, ["RS256"], cache)
        loop.run_until_complete(verifier.verify(token))
    except TokenRejected:
        pass
    finally:
        loop.close()


async def _never_fetch(uri: str) -> bytes:  # a JWKS that never arrives (no IdP exists)
    raise aiohttp.ClientError("no IdP in this test")


def _mapping_of(claims_doc: dict[str, Any]) -> None:
    for mapping in (
        ClaimMapping(ISSUER, "acme", None, "department", "groups", ("acme",)),
        ClaimMapping(ISSUER, None, "tenant", "dept", "roles", ("acme", "globex")),
    ):
        try:
            user = user_from_claims(claims_doc, mapping)
        except NotAllowed:
            continue
        assert user.tenant in mapping.trusting_tenants


@given(
    st.dictionaries(
        st.sampled_from(["sub", "tenant", "department", "dept", "groups", "roles", "email"]),
        json_values,
    )
)
def test_claims_mapping(claims_doc: dict[str, Any]) -> None:
    claims_doc.setdefault("sub", "svc-1")
    _mapping_of(claims_doc)


# --- JWKS documents ---------------------------------------------------------------------

_KEYS = [rsa_key("j-rsa").jwk(), ec_key("j-ec").jwk()]


@given(
    st.one_of(
        st.just({"keys": _KEYS}).flatmap(mutated).map(_json),
        json_values.map(_json),
        st.binary(max_size=60),
    )
)
@example(jwks_body({**_KEYS[0], "e": "AA"}))
@example(jwks_body({**_KEYS[1], "crv": "P-384"}))
def test_jwks_document(body: bytes) -> None:
    try:
        keys = parse_jwks(body, source="https://idp.example.test/jwks")
    except JwksDocumentError:
        return
    assert keys and all(k.kid for k in keys.values())


# --- what identify strips before a request goes upstream --------------------------------

_HEADER_NAMES = st.one_of(
    st.sampled_from(
        [
            "Proxy-Authorization",
            "proxy_authorization",
            "PROXY-AUTHORIZATION",
            "X-Forwarded-User",
            "x_forwarded_email",
            "X-Auth-Request-Groups",
            "Remote-User",
            "X-Warden-Principal",
            "Cookie",
            "cookie",
            "Accept",
            "Content-Type",
            "X-Other",
        ]
    ),
    st.text(
        alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=":"),
        min_size=1,
        max_size=12,
    ),
)
_COOKIE_VALUES = st.lists(
    st.one_of(
        st.sampled_from([*PORTAL_COOKIES, "other", " warden_session", "a"]).map(lambda n: f"{n}=v"),
        st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12),
    ),
    max_size=4,
).map("; ".join)


@given(
    st.lists(
        st.tuples(
            _HEADER_NAMES,
            st.one_of(_COOKIE_VALUES, st.binary(max_size=12).map(lambda b: b.decode("latin-1"))),
        ),
        max_size=8,
    )
)
def test_identity_headers_never_go_upstream(fields: list[tuple[str, str]]) -> None:
    headers = Headers([(n.encode("latin-1"), v.encode("latin-1")) for n, v in fields])
    strip_identity_headers(headers)
    for name, value in headers.items(multi=True):
        norm = name.lower().replace("_", "-")
        assert norm != "proxy-authorization" and not norm.startswith(
            ("x-forwarded-user", "x-warden-", "x-auth-request-")
        )
        if norm == "cookie":
            names = {part.strip().split("=", 1)[0] for part in value.split(";")}
            assert not names & set(PORTAL_COOKIES), value
