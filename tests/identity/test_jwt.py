"""ServiceTokenVerifier against a real local JWKS server: the issue's negative table and more.

Keys are made per test run; the IdP's JWKS and an attacker's JWKS are both served by aiohttp
on 127.0.0.1, and every negative case asserts its exact reason code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from warden.identity.jwks import JwksCache
from warden.identity.jwt import (
    MAX_TOKEN_BYTES,
    ServiceTokenVerifier,
    TokenRejected,
    VerifiedToken,
    VerifierConfigError,
    validate_algorithms,
)

from .test_jwks import FakeClock, JwksServer, Key, ec_key, rsa_key, start_jwks_server

ISSUER = "https://idp.example.test/realms/tenant-a"
AUDIENCE = "https://warden.example.test"
CLIENT_ID = "portal-client"


@pytest.fixture(scope="module")
def idp_keys() -> dict[str, Key]:
    return {"rsa": rsa_key("idp-rsa-1"), "ec": ec_key("idp-ec-1")}


@pytest.fixture(scope="module")
def attacker_key() -> Key:
    return rsa_key("attacker-1")


@pytest.fixture
async def idp(idp_keys: dict[str, Key]) -> AsyncIterator[JwksServer]:
    server = await start_jwks_server(idp_keys["rsa"], idp_keys["ec"])
    yield server
    await server.stop()


@pytest.fixture
async def attacker(attacker_key: Key) -> AsyncIterator[JwksServer]:
    server = await start_jwks_server(attacker_key)
    yield server
    await server.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_verifier(
    idp: JwksServer, session: aiohttp.ClientSession, clock: FakeClock
) -> Callable[..., ServiceTokenVerifier]:
    def make(**kwargs: Any) -> ServiceTokenVerifier:
        cache = JwksCache(idp.url, http=session, clock=clock)
        options: dict[str, Any] = {
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "algorithms": ["RS256", "PS256", "ES256"],
            "jwks": cache,
            **kwargs,
        }
        return ServiceTokenVerifier(**options)

    return make


@pytest.fixture
async def verifier(make_verifier: Callable[..., ServiceTokenVerifier]) -> ServiceTokenVerifier:
    v = make_verifier()
    await v.jwks.refresh()
    return v


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "service-account-42",
        "aud": AUDIENCE,
        "exp": now + 300,
        "iat": now,
        "client_id": "batch-job",
        "scope": "llm.use",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not DROP}


DROP = object()


def sign(
    key: Key,
    payload: dict[str, Any] | None = None,
    *,
    alg: str | None = None,
    extra_header: dict[str, Any] | None = None,
    **header: Any,
) -> str:
    """Signed with pyjwt's JWS layer, so claims of any shape (pyjwt's encode checks some)."""
    headers: dict[str, Any] = {"kid": key.kid, "typ": "at+jwt", **header, **(extra_header or {})}
    body = json.dumps(payload if payload is not None else claims()).encode()
    return jwt.api_jws.encode(body, key.private, algorithm=alg or key.alg, headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    """A compact JWS built by hand, for headers pyjwt refuses to produce."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64(signature)}"


async def rejected(verifier: ServiceTokenVerifier, token: str) -> TokenRejected:
    with pytest.raises(TokenRejected) as info:
        await verifier.verify(token)
    return info.value


# --- accepted tokens -----------------------------------------------------------------------


@pytest.mark.parametrize(("which", "alg"), [("rsa", "RS256"), ("rsa", "PS256"), ("ec", "ES256")])
async def test_accepts_pinned_algorithms(
    verifier: ServiceTokenVerifier, idp_keys: dict[str, Key], which: str, alg: str
) -> None:
    payload = claims()
    result = await verifier.verify(sign(idp_keys[which], payload, alg=alg))
    assert isinstance(result, VerifiedToken)
    assert (result.issuer, result.subject, result.audience, result.token_kind) == (
        ISSUER,
        "service-account-42",
        AUDIENCE,
        "access",
    )
    assert result.expires_at.timestamp() == payload["exp"]
    assert dict(result.claims) == {
        "iat": payload["iat"],
        "client_id": "batch-job",
        "scope": "llm.use",
    }
    with pytest.raises(TypeError):
        result.claims["sub"] = "someone-else"  # type: ignore[index]


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT"])
async def test_access_token_types(
    verifier: ServiceTokenVerifier, idp_keys: dict[str, Key], typ: str
) -> None:
    assert (await verifier.verify(sign(idp_keys["rsa"], typ=typ))).token_kind == "access"


async def test_aud_list_containing_audience(
    verifier: ServiceTokenVerifier, idp_keys: dict[str, Key]
) -> None:
    token = sign(idp_keys["rsa"], claims(aud=["other-api", AUDIENCE]))
    assert (await verifier.verify(token)).audience == AUDIENCE


async def test_x5t_thumbprint_is_not_a_key_reference(
    verifier: ServiceTokenVerifier, idp_keys: dict[str, Key]
) -> None:
    await verifier.verify(sign(idp_keys["rsa"], x5t="dGh1bWJwcmludA"))


async def test_first_token_loads_the_jwks(
    make_verifier: Callable[..., ServiceTokenVerifier], idp: JwksServer, idp_keys: dict[str, Key]
) -> None:
    v = make_verifier()
    await v.verify(sign(idp_keys["rsa"]))
    await v.verify(sign(idp_keys["ec"]))
    assert idp.fetches == 1


# --- algorithm attacks ---------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", ""])
async def test_alg_none(verifier: ServiceTokenVerifier, idp_keys: dict[str, Key], alg: str) -> None:
    token = raw({"alg": alg, "typ": "at+jwt", "kid": idp_keys["rsa"].kid}, claims())
    assert (await rejected(verifier, token)).reason_code == "alg_not_allowed"


async def test_alg_header_missing(verifier: ServiceTokenVerifier, idp_keys: dict[str, Key]) -> None:
    token = raw({"typ": "at+jwt", "kid": idp_keys["rsa"].kid}, claims(), b"sig")
    assert (await rejected(verifier, token)).reason_code == "alg_not_allowed"


def _public_pem(key: Key) -> bytes:
    return bytes(
        key.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
async def test_hmac_signed_with_rsa_public_key(
    verifier: ServiceTokenVerifier, idp_keys: dict[str, Key], alg: str
) -> None:
    """The classic key confusion: the RSA public key's PEM used as the HMAC secret."""
    header = {"alg": alg, "typ": "at+jwt", "kid": idp_keys["rsa"].kid}
    unsigned = raw(header, claims()).rstrip(".")
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    signature = hmac.new(_public_pem(idp_keys["rsa"]), unsigned.encode(), digest).digest()
    token = f"{unsigned}.{b64(signature)}"
    assert (await rejected(verifier, token)).reason_code == "alg_not_allowed"


def test_pyjwt_never_verifies_hmac_with_an_rsa_key(idp_keys: dict[str, Key]) -> None:
    """Second line of defence below our pin: pyjwt refuses a PEM/RSA key as HMAC secret."""
    pem = _public_pem(idp_keys["rsa"])
    unsigned = raw({"alg": "HS256", "typ": "at+jwt"}, claims()).rstrip(".")
    token = f"{unsigned}.{b64(hmac.new(pem, unsigned.encode(), hashlib.sha256).digest())}"
    with pytest.raises(jwt.InvalidKeyError):
        jwt.decode(token, pem, algorithms=["HS256"], audience=AUDIENCE)
    with pytest.raises((jwt.InvalidKeyError, TypeError)):
        jwt.decode(
            token, idp_keys["rsa"].private.public_key(), algorithms=["HS256"], audience=AUDIENCE
        )


async def test_asymmetric_alg_not_pinned(
    make_verifier: Callable[..., ServiceTokenVerifier], idp_keys: dict[str, Key]
) -> None:
    v = make_verifier(algorithms=["RS256"])
    for token in (sign(idp_keys["ec"]), sign(idp_keys["rsa"], alg="PS256")):
        assert (await rejected(v, token)).reason_code == "alg_not_allowed"


async def test_rsa_key_with_es256_header(
    verifier: ServiceTokenVerifier, idp_keys: dict[str, Key]
) -> None:
    """ES256 is pinned, but the kid names an RSA key: the key type decides, not the header."""
    token = sign(idp_keys["ec"], alg="ES256", kid=idp_keys["rsa"].kid)
    rejection = await rejected(verifier, token)
    assert rejection.reason_code == "key_alg_mismatch"
    token = sign(idp_keys["rsa"], alg="RS256", kid=idp_keys["ec"].kid)
    assert (await rejected(verifier, token)).reason_code == "key_alg_mismatch"


async def test_jwk_alg_member_pins_the_key(
    make_verifier: Callable[..., ServiceTokenVerifier], idp: JwksServer, idp_keys: dict[str, Key]
) -> None:
    idp.rotate(idp_keys["rsa"].jwk(alg="RS256"))
    v = make_verifier()
    await v.verify(sign(idp_keys["rsa"]))
    token = sign(idp_keys["rsa"], alg="PS256")
    assert (await rejected(v, token)).reason_code == "key_alg_mismatch"


# --- key references in the header ----------------------------------------------------------


@pytest.mark.parametrize("member", ["jku", "x5u"])
@pytest.mark.parametrize("kid", ["attacker", "legit"])
async def test_jku_x5u_to_attacker_jwks(
    verifier: ServiceTokenVerifier,
    attacker: JwksServer,
    attacker_key: Key,
    idp: JwksServer,
    idp_keys: dict[str, Key],
    member: str,
    kid: str,
) -> None:
    kid_value = attacker_key.kid if kid == "attacker" else idp_keys["rsa"].kid
    token = sign(attacker_key, kid=kid_value, extra_header={member: attacker.url})
    assert (await rejected(verifier, token)).reason_code == "header_key_reference"
    assert attacker.fetches == 0
    assert idp.fetches == 1  # the warm-up only


async def test_attacker_key_without_reference(
    verifier: ServiceTokenVerifier,
    clock: FakeClock,
    attacker: JwksServer,
    attacker_key: Key,
    idp_keys: dict[str, Key],
) -> None:
    """Had we ignored jku instead: the attacker's kid is unknown, a legit kid fails the sig."""
    clock.advance(61)
    assert (await rejected(verifier, sign(attacker_key))).reason_code == "unknown_key"
    token = sign(attacker_key, kid=idp_keys["rsa"].kid)
    assert (await rejected(verifier, token)).reason_code == "bad_signature"
    assert attacker.fetches == 0


async def test_embedded_jwk(verifier: ServiceTokenVerifier, attacker_key: Key) -> None:
    token = sign(attacker_key, jwk=attacker_key.jwk())
    assert (await rejected(verifier, token)).reason_code == "header_key_reference"


async def test_embedded_x5c(verifier: ServiceTokenVerifier, idp_keys: dict[str, Key]) -> None:
    token = sign(idp_keys["rsa"], x5c=["MIIB..."])
    assert (await rejected(verifier, token)).reason_code == "header_key_reference"


# --- issuer, audience, time ------------------------------------------------------------------


@pytest.mark.parametrize(
    "iss",
    [
        "https://evil.example.test/realms/tenant-a",
        ISSUER + "/",
        ISSUER.upper(),
        "http://idp.example.test/realms/tenant-a",
        ["https://idp.example.test/realms/tenant-a"],
        DROP,
    ],
)
async def test_wrong_issuer(
    verifier: ServiceTokenVerifier, idp_keys: dict[str, Key], iss: Any
) -> None:
    rejection = await rejected(verifier, sign(idp_keys["rsa"], claims(iss=iss)))
    assert rejection.reason_code == "wrong_issuer"
    assert "trailing slash" in rejection.diagnostics()


@pytest.mark.parametrize(
    "aud", ["https://other.example.test", ["a", "b"], AUDIENCE + "/", CLIENT_ID]
)
async def test_wrong_audience(
    verifier: ServiceTokenVerifier, idp_keys: dict[str, Key], aud: Any
) -> None:
    assert (
        await rejected(verifier, sign(idp_keys["rsa"], claims(aud=aud)))
    ).reason_code == "wrong_audience"


async def test_expired(verifier: ServiceTokenVerifier, idp_keys: dict[str, Key]) -> None:
    now = int(time.time())
    old = claims(exp=now - 120, iat=now - 600)
    assert (await rejected(verifier, sign(idp_keys["rsa"], old))).reason_code == "expired"
    within_leeway = claims(exp=now - 30, iat=now - 600)
    await verifier.verify(sign(idp_keys["rsa"], within_leeway))


async def test_not_yet_valid(verifier: ServiceTokenVerifier, idp_keys: dict[str, Key]) -> None:
    now = int(time.time())
    future = claims(nbf=now + 120)
    assert (await rejected(verifier, sign(idp_keys["rsa"], future))).reason_code == "not_yet_valid"
    await verifier.verify(sign(idp_keys["rsa"], claims(nbf=now + 30)))


async def test_iat_far_in_the_future(
    verifier: ServiceTokenVerifier, idp_keys: dict[str, Key]
) -> None:
    now = int(time.time())
    token = sign(idp_keys["rsa"], claims(iat=now + 3600, exp=now + 7200))
    assert (await rejected(verifier, token)).reason_code == "not_yet_valid"


async def test_smaller_leeway(
    make_verifier: Callable[..., ServiceTokenVerifier], idp_keys: dict[str, Key]
) -> None:
    v = make_verifier(leeway_s=0)
    token = sign(idp_keys["rsa"], claims(exp=int(time.time()) - 5))
    assert (await rejected(v, token)).reason_code == "expired"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": DROP}, "missing_claim"),
        ({"sub": DROP}, "missing_claim"),
        ({"aud": DROP}, "missing_claim"),
        ({"sub": ""}, "invalid_claim"),
        ({"sub": "   "}, "invalid_claim"),
        ({"sub": "x" * 256}, "invalid_claim"),
        ({"sub": 42}, "invalid_claim"),
        # a year ahead: the table is built at collection, which may be minutes before the run
        ({"exp": str(int(time.time()) + 365 * 86400)}, "invalid_claim"),
        ({"exp": True}, "expired"),  # int(True) == 1 to pyjwt: long expired
        ({"exp": 10**20}, "invalid_claim"),
        ({"iat": "yesterday"}, "invalid_claim"),
        ({"nbf": "soon"}, "malformed"),
        ({"aud": [AUDIENCE, 7]}, "invalid_claim"),
        ({"jti": 5}, "invalid_claim"),
    ],
)
async def test_claim_shapes(
    verifier: ServiceTokenVerifier, idp_keys: dict[str, Key], overrides: dict[str, Any], reason: str
) -> None:
    token = sign(idp_keys["rsa"], claims(**overrides))
    assert (await rejected(verifier, token)).reason_code == reason


async def test_sub_of_255_characters_accepted(
    verifier: ServiceTokenVerifier, idp_keys: dict[str, Key]
) -> None:
    assert (
        await verifier.verify(sign(idp_keys["rsa"], claims(sub="x" * 255)))
    ).subject == "x" * 255


# --- token types ---------------------------------------------------------------------------


def id_token_claims(**overrides: Any) -> dict[str, Any]:
    id_claims = {"aud": CLIENT_ID, "azp": CLIENT_ID, "nonce": "n-0S6", "at_hash": "77QmUPtjPfzW"}
    return claims(**{**id_claims, **overrides})


@pytest.mark.parametrize("typ", ["JWT", "jwt", None])
async def test_id_token_as_credential(
    verifier: ServiceTokenVerifier, idp_keys: dict[str, Key], typ: str | None
) -> None:
    token = sign(idp_keys["rsa"], id_token_claims(), typ=typ)
    assert (await rejected(verifier, token)).reason_code == "id_token_not_accepted"


async def test_id_token_claims_in_access_token_type(
    verifier: ServiceTokenVerifier, idp_keys: dict[str, Key]
) -> None:
    token = sign(idp_keys["rsa"], id_token_claims(aud=AUDIENCE))
    assert (await rejected(verifier, token)).reason_code == "id_token_not_accepted"


async def test_id_tokens_when_configured(
    make_verifier: Callable[..., ServiceTokenVerifier], idp_keys: dict[str, Key]
) -> None:
    v = make_verifier(accept_id_tokens=True, id_token_client_ids=[CLIENT_ID])
    result = await v.verify(sign(idp_keys["rsa"], id_token_claims(), typ="JWT"))
    assert (result.token_kind, result.audience) == ("id", CLIENT_ID)
    other_client = sign(idp_keys["rsa"], id_token_claims(aud="other-client"), typ="JWT")
    assert (await rejected(v, other_client)).reason_code == "wrong_audience"
    # An ID token for the proxy's audience is still an ID token: its aud must be a client id.
    for_proxy = sign(idp_keys["rsa"], id_token_claims(aud=AUDIENCE), typ=None)
    assert (await rejected(v, for_proxy)).reason_code == "wrong_audience"
    assert (await v.verify(sign(idp_keys["rsa"]))).token_kind == "access"


@pytest.mark.parametrize("typ", ["dpop+jwt", "logout+jwt", "secevent+jwt", 7, ["at+jwt"]])
async def test_wrong_type(
    verifier: ServiceTokenVerifier, idp_keys: dict[str, Key], typ: Any
) -> None:
    token = raw({"alg": "RS256", "kid": idp_keys["rsa"].kid, "typ": typ}, claims(), b"x")
    assert (await rejected(verifier, token)).reason_code == "wrong_type"


async def test_custom_accepted_typ(
    make_verifier: Callable[..., ServiceTokenVerifier], idp_keys: dict[str, Key]
) -> None:
    """IdPs that mark access tokens `typ: JWT` (Entra ID, Okta) are configured explicitly."""
    v = make_verifier(accepted_typ=("JWT",))
    assert (await v.verify(sign(idp_keys["rsa"], typ="JWT"))).token_kind == "access"
    # ...and then the ID-token claims still give an ID token away.
    token = sign(idp_keys["rsa"], id_token_claims(aud=AUDIENCE), typ="JWT")
    assert (await rejected(v, token)).reason_code == "id_token_not_accepted"


# --- keys: unknown kid, rotation, tenants ----------------------------------------------------


async def test_unknown_kid_one_refetch_then_cooldown(
    verifier: ServiceTokenVerifier, idp: JwksServer, clock: FakeClock
) -> None:
    stranger = rsa_key("not-in-jwks")
    assert idp.fetches == 1  # the warm-up
    clock.advance(61)
    assert (await rejected(verifier, sign(stranger))).reason_code == "unknown_key"
    assert idp.fetches == 2  # exactly one refetch
    clock.advance(10)
    other = sign(stranger, kid="also-unknown")
    assert (await rejected(verifier, other)).reason_code == "unknown_key"
    assert idp.fetches == 2  # inside the cooldown: no fetch


async def test_unknown_kid_burst_shares_one_fetch(
    verifier: ServiceTokenVerifier, idp: JwksServer, clock: FakeClock
) -> None:
    import asyncio

    idp.delay = 0.05
    clock.advance(61)
    stranger = rsa_key("burst")
    tokens = [sign(stranger, kid=f"kid-{i}") for i in range(20)]
    results = await asyncio.gather(*(verifier.verify(t) for t in tokens), return_exceptions=True)
    assert all(isinstance(r, TokenRejected) and r.reason_code == "unknown_key" for r in results)
    assert idp.fetches == 2


async def test_missing_kid(verifier: ServiceTokenVerifier, idp_keys: dict[str, Key]) -> None:
    token = jwt.encode(
        claims(), idp_keys["rsa"].private, algorithm="RS256", headers={"typ": "at+jwt"}
    )
    assert (await rejected(verifier, token)).reason_code == "unknown_key"
    token = raw({"alg": "RS256", "typ": "at+jwt", "kid": 17}, claims(), b"x")
    assert (await rejected(verifier, token)).reason_code == "malformed"  # pyjwt: kid not a string


async def test_key_rotation(
    verifier: ServiceTokenVerifier, idp: JwksServer, idp_keys: dict[str, Key], clock: FakeClock
) -> None:
    new = rsa_key("idp-rsa-2")
    idp.rotate(new.jwk(), idp_keys["rsa"].jwk())
    clock.advance(61)
    assert (await verifier.verify(sign(new))).subject == "service-account-42"
    assert idp.fetches == 2
    await verifier.verify(sign(new))
    await verifier.verify(sign(idp_keys["rsa"]))
    assert idp.fetches == 2
    # The old key retired: once the set is refreshed it no longer verifies.
    idp.rotate(new.jwk())
    await verifier.jwks.refresh()
    assert (await rejected(verifier, sign(idp_keys["rsa"]))).reason_code == "unknown_key"


async def test_idp_down_keeps_last_good_keys(
    verifier: ServiceTokenVerifier, idp: JwksServer, idp_keys: dict[str, Key], clock: FakeClock
) -> None:
    idp.status = 503
    clock.advance(61)
    assert (await rejected(verifier, sign(rsa_key("new")))).reason_code == "unknown_key"
    await verifier.verify(sign(idp_keys["rsa"]))


async def test_keys_unavailable(session: aiohttp.ClientSession, idp_keys: dict[str, Key]) -> None:
    cache = JwksCache("http://127.0.0.1:9/jwks", http=session, clock=FakeClock())
    v = ServiceTokenVerifier(ISSUER, AUDIENCE, ["RS256"], cache)
    rejection = await rejected(v, sign(idp_keys["rsa"]))
    assert rejection.reason_code == "keys_unavailable"
    assert "could not be reached" in rejection.message


async def test_tenant_a_token_against_tenant_b(session: aiohttp.ClientSession) -> None:
    key_a, key_b = rsa_key("tenant-a-1"), rsa_key("tenant-b-1")
    server_a, server_b = await start_jwks_server(key_a), await start_jwks_server(key_b)
    try:
        issuer_b = "https://idp.example.test/realms/tenant-b"
        v_b = ServiceTokenVerifier(
            issuer_b, AUDIENCE, ["RS256"], JwksCache(server_b.url, http=session, clock=FakeClock())
        )
        token_a = sign(key_a)
        assert (await rejected(v_b, token_a)).reason_code == "wrong_issuer"
        assert server_b.fetches == 0  # a foreign token costs tenant B's IdP nothing
        # Tenant A's key claiming tenant B's issuer: A's kid is not in B's JWKS...
        forged = sign(key_a, claims(iss=issuer_b))
        assert (await rejected(v_b, forged)).reason_code == "unknown_key"
        # ...and under B's kid, A's signature does not verify with B's key.
        forged = sign(key_a, claims(iss=issuer_b), kid=key_b.kid)
        assert (await rejected(v_b, forged)).reason_code == "bad_signature"
        assert (await v_b.verify(sign(key_b, claims(iss=issuer_b)))).issuer == issuer_b
        assert server_a.fetches == 0
    finally:
        await server_a.stop()
        await server_b.stop()


# --- garbage and size ------------------------------------------------------------------------


async def test_oversize(verifier: ServiceTokenVerifier, idp_keys: dict[str, Key]) -> None:
    assert (await rejected(verifier, "a" * (MAX_TOKEN_BYTES + 1))).reason_code == "oversize"
    big = sign(idp_keys["rsa"], claims(groups=["g" * 100] * 200))
    assert len(big) > MAX_TOKEN_BYTES
    assert (await rejected(verifier, big)).reason_code == "oversize"


async def test_tampered_payload(verifier: ServiceTokenVerifier, idp_keys: dict[str, Key]) -> None:
    header, _, signature = sign(idp_keys["rsa"]).split(".")
    payload = b64(json.dumps(claims(sub="admin")).encode())
    token = f"{header}.{payload}.{signature}"
    assert (await rejected(verifier, token)).reason_code == "bad_signature"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b",
        "a.b.c.d.e",  # JWE
        "Bearer x.y.z",
        "eyJ.eyJ.",
        "é.é.é",
        "a.b.c\n",
        b64(b"not json") + "." + b64(b"{}") + ".sig",
        b64(b"[1,2]") + "." + b64(b"{}") + ".sig",
        b64(b'{"alg":"RS256","typ":"at+jwt"}') + "." + b64(b"not json") + ".sig",
        b64(b'{"alg":"RS256","typ":"at+jwt"}') + "." + b64(b"[1]") + ".sig",
        b64(b'{"alg":"RS256","typ":"at+jwt"}') + ".%%%." + "sig",
    ],
)
async def test_garbage(verifier: ServiceTokenVerifier, token: str) -> None:
    assert (await rejected(verifier, token)).reason_code == "malformed"


async def test_unsupported_crit(verifier: ServiceTokenVerifier, idp_keys: dict[str, Key]) -> None:
    token = sign(idp_keys["rsa"], extra_header={"crit": ["exp-ext"], "exp-ext": 1})
    assert (await rejected(verifier, token)).reason_code == "malformed"


async def test_token_never_in_errors_or_logs(
    verifier: ServiceTokenVerifier,
    idp_keys: dict[str, Key],
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    clock.advance(61)
    for token in (
        sign(idp_keys["rsa"], claims(aud="x")),
        sign(rsa_key("unknown")),
        sign(idp_keys["rsa"], claims(exp=1)),
    ):
        rejection = await rejected(verifier, token)
        signature = token.split(".")[2]
        for text in (str(rejection), rejection.diagnostics(), caplog.text):
            assert token not in text and signature not in text
        assert "To fix this:" in rejection.diagnostics()


# --- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithms", "fragment"),
    [
        (["none"], "'none'"),
        (["RS256", "NONE"], "'none'"),
        (["HS256"], "HMAC"),
        (["RS256", "hs512"], "HMAC"),
        (["RS265"], "unknown"),
        (["rs256"], "case-sensitive"),
        ([], "no algorithm"),
        ("RS256", "not a single string"),
    ],
)
def test_validate_algorithms_refuses(algorithms: Any, fragment: str) -> None:
    with pytest.raises(VerifierConfigError) as info:
        validate_algorithms(algorithms)
    assert fragment in info.value.diagnostics()


def test_validate_algorithms_keeps_order_drops_duplicates() -> None:
    assert validate_algorithms(["ES256", "RS256", "ES256", "EdDSA"]) == ["ES256", "RS256", "EdDSA"]


def test_verifier_config_reports_every_problem(session: aiohttp.ClientSession) -> None:
    cache = JwksCache("https://idp.example.test/jwks", http=session)
    with pytest.raises(VerifierConfigError) as info:
        ServiceTokenVerifier(
            "",
            AUDIENCE,
            ["HS256", "none"],
            cache,
            leeway_s=300,
            accept_id_tokens=True,
        )
    assert len(info.value.problems) == 5
    text = info.value.diagnostics()
    for fragment in ("issuer is empty", "leeway_s is 300", "id_token_client_ids", "HMAC", "'none'"):
        assert fragment in text
