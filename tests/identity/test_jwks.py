"""JwksCache and parse_jwks: document validation, cooldown, shared fetches, last good set.

Also home of the test JWKS server (`JwksServer`) and key helpers that test_jwt.py uses.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from warden.identity import jwks as jwks_mod
from warden.identity.jwks import (
    MAX_JWKS_BYTES,
    JwksCache,
    JwksDocumentError,
    JwksError,
    JwksFetchError,
    JwksPrivateKeyError,
    check_jwks_uri,
    parse_jwks,
)

# --- keys and a JWKS server, shared with test_jwt.py ---------------------------------------


@dataclass
class Key:
    """A private key made for this test run, with its public JWK."""

    kid: str
    private: Any
    alg: str

    def jwk(self, **extra: Any) -> dict[str, Any]:
        public = self.private.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            data = RSAAlgorithm.to_jwk(public, as_dict=True)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            data = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            data = OKPAlgorithm.to_jwk(public, as_dict=True)
        return {**data, "kid": self.kid, "use": "sig", **extra}


def rsa_key(kid: str, alg: str = "RS256", bits: int = 2048) -> Key:
    return Key(kid, rsa.generate_private_key(public_exponent=65537, key_size=bits), alg)


def ec_key(kid: str) -> Key:
    return Key(kid, ec.generate_private_key(ec.SECP256R1()), "ES256")


def ed_key(kid: str) -> Key:
    return Key(kid, ed25519.Ed25519PrivateKey.generate(), "EdDSA")


def jwks_body(*jwks: dict[str, Any]) -> bytes:
    return json.dumps({"keys": list(jwks)}).encode()


@dataclass
class JwksServer:
    """A JWKS endpoint on 127.0.0.1 that counts fetches and can rotate its keys."""

    keys: list[dict[str, Any]]
    fetches: int = 0
    status: int = 200
    body: bytes | None = None  # served instead of the keys when set
    delay: float = 0.0
    url: str = ""
    runner: web.AppRunner | None = field(default=None, repr=False)

    def rotate(self, *jwks: dict[str, Any]) -> None:
        self.keys = list(jwks)

    async def _handle(self, request: web.Request) -> web.Response:
        self.fetches += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.status in (301, 302):
            return web.Response(status=self.status, headers={"Location": "http://127.0.0.1:9/x"})
        body = self.body if self.body is not None else json.dumps({"keys": self.keys}).encode()
        return web.Response(status=self.status, body=body, content_type="application/json")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/jwks", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/jwks"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


async def start_jwks_server(*keys: Key) -> JwksServer:
    server = JwksServer([k.jwk() for k in keys])
    await server.start()
    return server


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys() -> dict[str, Key]:
    return {"rsa": rsa_key("rsa-1"), "ec": ec_key("ec-1"), "ed": ed_key("ed-1")}


@pytest.fixture
async def server(keys: dict[str, Key]) -> AsyncIterator[JwksServer]:
    srv = await start_jwks_server(keys["rsa"], keys["ec"])
    yield srv
    await srv.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


class StaticFetch:
    """A fetch callable serving a body (or raising), counting calls."""

    def __init__(self, body: bytes, delay: float = 0.0) -> None:
        self.body = body
        self.calls = 0
        self.delay = delay
        self.error: Exception | None = None

    async def __call__(self, uri: str) -> bytes:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return self.body


# --- parse_jwks ----------------------------------------------------------------------------


def test_parse_valid_set(keys: dict[str, Key]) -> None:
    parsed = parse_jwks(
        jwks_body(keys["rsa"].jwk(), keys["ec"].jwk(), keys["ed"].jwk()), source="test"
    )
    assert sorted(parsed) == ["ec-1", "ed-1", "rsa-1"]
    assert parsed["rsa-1"].allows("RS256") and parsed["rsa-1"].allows("PS256")
    assert parsed["ec-1"].allows("ES256") and not parsed["ec-1"].allows("ES384")
    assert parsed["ed-1"].allows("EdDSA")


@pytest.mark.parametrize(
    ("kid", "alg", "allowed"),
    [
        ("rsa", "HS256", False),  # key confusion: an RSA key never verifies HMAC
        ("rsa", "ES256", False),
        ("rsa", "none", False),
        ("ec", "RS256", False),
        ("ec", "HS256", False),
        ("ed", "ES256", False),
    ],
)
def test_key_type_decides_algorithms(
    keys: dict[str, Key], kid: str, alg: str, allowed: bool
) -> None:
    parsed = parse_jwks(jwks_body(keys[kid].jwk()), source="test")
    assert parsed[keys[kid].kid].allows(alg) is allowed


def test_jwk_alg_pins_the_key(keys: dict[str, Key]) -> None:
    parsed = parse_jwks(jwks_body(keys["rsa"].jwk(alg="RS256")), source="test")
    assert parsed["rsa-1"].allows("RS256")
    assert not parsed["rsa-1"].allows("PS256")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"not json", "not JSON"),
        (b"[]", "'keys' list"),
        (b'{"keys": {}}', "'keys' list"),
        (b'{"issuer": "x"}', "'keys' list"),
        (b'{"keys": []}', "no usable signing key"),
        (b'{"keys": [1, "x", null]}', "no usable signing key"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),  # nesting beyond the recursion limit
    ],
)
def test_parse_refuses_bad_documents(body: bytes, fragment: str) -> None:
    with pytest.raises(JwksDocumentError) as info:
        parse_jwks(body, source="https://idp.example/jwks")
    assert fragment in info.value.message
    assert "To fix this:" in info.value.diagnostics()


def test_parse_caps_size_and_key_count(keys: dict[str, Key]) -> None:
    with pytest.raises(JwksDocumentError, match="larger than"):
        parse_jwks(b" " * (MAX_JWKS_BYTES + 1), source="t")
    many = [keys["ec"].jwk(kid=f"k{i}") for i in range(jwks_mod.MAX_JWKS_KEYS + 1)]
    with pytest.raises(JwksDocumentError, match="keys"):
        parse_jwks(jwks_body(*many), source="t")


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi", "k"])
def test_private_key_material_refuses_the_whole_set(keys: dict[str, Key], member: str) -> None:
    leaked = keys["rsa"].jwk(kid="leaked", **{member: "AQAB"})
    with pytest.raises(JwksPrivateKeyError) as info:
        parse_jwks(jwks_body(keys["ec"].jwk(), leaked), source="https://idp.example/jwks")
    assert "rotate" in info.value.diagnostics()
    assert "AQAB" not in info.value.diagnostics()


def test_real_private_jwk_refused(keys: dict[str, Key]) -> None:
    private = RSAAlgorithm.to_jwk(keys["rsa"].private, as_dict=True)
    with pytest.raises(JwksPrivateKeyError):
        parse_jwks(jwks_body({**private, "kid": "x"}), source="t")


def test_unusable_keys_are_skipped(keys: dict[str, Key], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="warden.identity.jwks")
    weak = rsa_key("weak", bits=1024)
    body = jwks_body(
        keys["rsa"].jwk(kid="enc", use="enc"),  # encryption key
        {k: v for k, v in keys["rsa"].jwk().items() if k != "kid"},  # no kid
        {"kty": "oct-ish", "kid": "odd"},  # unknown type
        {"kty": "EC", "kid": "k256", "crv": "secp256k1", "x": "AA", "y": "AA"},
        weak.jwk(),  # < 2048 bits
        keys["rsa"].jwk(kid="wrong-alg", alg="ES256"),  # alg does not fit the key
        keys["rsa"].jwk(kid="ops", key_ops=["encrypt"]),
        {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
        keys["ec"].jwk(),  # the only usable one
        ec_key("ec-1").jwk(),  # another key under the same kid: the first wins
    )
    parsed = parse_jwks(body, source="t")
    assert list(parsed) == ["ec-1"]
    assert "use is 'enc'" in caplog.text
    assert "1024 bits" in caplog.text
    assert "repeats kid" in caplog.text


@pytest.mark.parametrize(
    ("uri", "ok"),
    [
        ("https://idp.example/jwks", True),
        ("http://127.0.0.1:8080/jwks", True),
        ("http://localhost/jwks", True),
        ("http://[::1]/jwks", True),
        ("http://idp.example/jwks", False),  # plain http over the network
        ("http://10.0.0.1/jwks", False),
        ("file:///etc/jwks.json", False),
        ("idp.example/jwks", False),
        ("https:///jwks", False),
    ],
)
def test_jwks_uri_must_be_https(uri: str, ok: bool) -> None:
    if ok:
        assert check_jwks_uri(uri) == uri
    else:
        with pytest.raises(JwksError, match="https"):
            check_jwks_uri(uri)


# --- the cache -----------------------------------------------------------------------------


async def test_get_does_no_io(keys: dict[str, Key]) -> None:
    fetch = StaticFetch(jwks_body(keys["rsa"].jwk()))
    cache = JwksCache("https://idp.example/jwks", http=fetch)
    assert cache.get("rsa-1") is None
    assert fetch.calls == 0
    assert not cache.loaded and cache.stale
    await cache.refresh()
    assert cache.get("rsa-1") is not None
    assert cache.kids == {"rsa-1"}
    assert fetch.calls == 1


async def test_unknown_kid_one_refetch_per_cooldown(keys: dict[str, Key]) -> None:
    clock = FakeClock()
    fetch = StaticFetch(jwks_body(keys["rsa"].jwk()))
    cache = JwksCache("https://idp.example/jwks", http=fetch, refetch_cooldown=60, clock=clock)
    await cache.refresh()
    clock.advance(61)
    assert await cache.get_or_refetch("nope-1") is None
    assert fetch.calls == 2
    clock.advance(30)
    assert await cache.get_or_refetch("nope-2") is None
    assert await cache.get_or_refetch("nope-3") is None
    assert fetch.calls == 2  # inside the cooldown: no fetch at all
    clock.advance(31)
    assert await cache.get_or_refetch("nope-4") is None
    assert fetch.calls == 3
    assert await cache.get_or_refetch("rsa-1") is not None
    assert fetch.calls == 3  # a known kid never fetches


async def test_first_use_loads_the_set(keys: dict[str, Key]) -> None:
    fetch = StaticFetch(jwks_body(keys["rsa"].jwk()))
    cache = JwksCache("https://idp.example/jwks", http=fetch, clock=FakeClock())
    assert await cache.get_or_refetch("rsa-1") is not None
    assert fetch.calls == 1


async def test_concurrent_callers_share_one_fetch(keys: dict[str, Key]) -> None:
    fetch = StaticFetch(jwks_body(keys["rsa"].jwk(), keys["ec"].jwk()), delay=0.05)
    cache = JwksCache("https://idp.example/jwks", http=fetch, clock=FakeClock())
    results = await asyncio.gather(
        *(cache.get_or_refetch(kid) for kid in ["rsa-1", "ec-1", "x", "y"] * 10)
    )
    assert fetch.calls == 1
    assert [r.kid if r else None for r in results[:4]] == ["rsa-1", "ec-1", None, None]


async def test_cancelled_caller_does_not_cancel_shared_fetch(keys: dict[str, Key]) -> None:
    fetch = StaticFetch(jwks_body(keys["rsa"].jwk()), delay=0.05)
    cache = JwksCache("https://idp.example/jwks", http=fetch, clock=FakeClock())
    impatient = asyncio.create_task(cache.get_or_refetch("rsa-1"))
    patient = asyncio.create_task(cache.get_or_refetch("rsa-1"))
    await asyncio.sleep(0.01)
    impatient.cancel()
    assert (await patient) is not None
    assert fetch.calls == 1


async def test_failed_refetch_keeps_last_good_set(keys: dict[str, Key]) -> None:
    clock = FakeClock()
    fetch = StaticFetch(jwks_body(keys["rsa"].jwk()))
    cache = JwksCache("https://idp.example/jwks", http=fetch, clock=clock, max_age=100)
    await cache.refresh()
    for broken in [b"garbage", b'{"keys": []}', jwks_body(keys["rsa"].jwk(d="AQAB"))]:
        fetch.body = broken
        with pytest.raises(JwksDocumentError):
            await cache.refresh()
        assert cache.get("rsa-1") is not None
        assert cache.last_error is not None
    fetch.error = ConnectionResetError("boom")
    with pytest.raises(JwksFetchError, match="could not be reached"):
        await cache.refresh()
    clock.advance(61)
    assert await cache.get_or_refetch("new") is None  # failure logged, not raised
    assert cache.get("rsa-1") is not None
    assert cache.loaded
    clock.advance(100)
    assert cache.stale  # still usable, but an operator should know


async def test_never_loaded_reports_last_error(keys: dict[str, Key]) -> None:
    fetch = StaticFetch(b"")
    fetch.error = OSError("connection refused")
    cache = JwksCache("https://idp.example/jwks", http=fetch, clock=FakeClock())
    assert await cache.get_or_refetch("rsa-1") is None
    assert not cache.loaded
    assert cache.last_error is not None
    assert "reachable" in cache.last_error.diagnostics()


async def test_fetch_timeout(keys: dict[str, Key], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jwks_mod, "FETCH_TIMEOUT_S", 0.05)
    fetch = StaticFetch(jwks_body(keys["rsa"].jwk()), delay=5)
    cache = JwksCache("https://idp.example/jwks", http=fetch)
    with pytest.raises(JwksFetchError, match="did not answer"):
        await cache.refresh()


async def test_run_refresher_refreshes_and_survives_errors(keys: dict[str, Key]) -> None:
    fetch = StaticFetch(jwks_body(keys["rsa"].jwk()))
    fetch.error = OSError("down")
    cache = JwksCache("https://idp.example/jwks", http=fetch, refetch_cooldown=0.01)
    task = asyncio.create_task(cache.run_refresher(interval=0.01))
    try:
        await asyncio.sleep(0.1)
        assert fetch.calls >= 2 and not cache.loaded
        fetch.error = None
        await asyncio.sleep(0.1)
        assert cache.get("rsa-1") is not None
        calls = fetch.calls
        await asyncio.sleep(0.05)
        assert fetch.calls > calls
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


# --- over HTTP with an aiohttp session ---------------------------------------------------


async def test_session_fetch(server: JwksServer, session: aiohttp.ClientSession) -> None:
    cache = JwksCache(server.url, http=session)
    await cache.refresh()
    assert cache.kids == {"rsa-1", "ec-1"}
    assert server.fetches == 1


@pytest.mark.parametrize(("status", "fragment"), [(500, "HTTP 500"), (302, "redirect")])
async def test_session_fetch_errors(
    server: JwksServer, session: aiohttp.ClientSession, status: int, fragment: str
) -> None:
    cache = JwksCache(server.url, http=session)
    await cache.refresh()
    server.status = status
    with pytest.raises(JwksFetchError, match=fragment):
        await cache.refresh()
    assert cache.kids == {"rsa-1", "ec-1"}  # last good set kept


async def test_session_fetch_caps_body(server: JwksServer, session: aiohttp.ClientSession) -> None:
    server.body = b" " * (MAX_JWKS_BYTES + 10)
    cache = JwksCache(server.url, http=session)
    with pytest.raises(JwksDocumentError, match="larger than"):
        await cache.refresh()


async def test_session_fetch_unreachable(session: aiohttp.ClientSession) -> None:
    cache = JwksCache("http://127.0.0.1:9/jwks", http=session)
    with pytest.raises(JwksFetchError, match="could not be reached"):
        await cache.refresh()
