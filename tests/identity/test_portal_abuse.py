"""Anonymous portal abuse (issue 19, finding 7): a login flood from one source cannot
push out another person's login in progress, and anonymous sign-in starts are rationed
per source and overall, and a rationed source waits for its refusal (a bounded tarpit).

Before: 10,050 anonymous ``GET /portal/login`` evicted the oldest pending logins of
everyone (one global, oldest-first bound of 10,000).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import httpx
import pytest

from tests.peers import free_port
from warden.identity.portal import (
    GLOBAL_BURST,
    GLOBAL_PER_S,
    MAX_PENDING,
    PER_SOURCE,
    SOURCE_BURST,
    SOURCE_EVERY_S,
    LoginRations,
    _Pending,
    source_of,
)
from warden.identity.tarpit import Tarpit

from .devidp import DevIdp, portal_client
from .portal_bed import PORTAL_SECRET, portal_bed

# -- the bound itself ----------------------------------------------------------------------

# (flooding sources, entries each) against a map of 100 with 4 per source; the victim
# holds one pending login from its own source, put first (the oldest of all).
FLOODS = {
    "one source, 10x the map": (1, 1000),
    "one source, just over the map": (1, 101),
    "30 sources filling it past the limit": (30, 10),
    "99 sources, 2 each": (99, 2),
    "50 sources at the per-source cap": (50, 4),
    "99 new sources, one each, then more": (99, 1),
    "99 sources, 1 then 3 each": (99, 3),
}


@pytest.mark.parametrize("sources,each", FLOODS.values(), ids=FLOODS.keys())
def test_a_flood_does_not_evict_another_sources_pending_login(sources: int, each: int) -> None:
    pending: _Pending[str] = _Pending(lambda: 0.0, limit=100, per_source=4)
    pending.put("victim", "v", 600, "10.0.0.1")
    for n in range(each):
        for s in range(sources):
            pending.put(f"flood-{s}-{n}", "x", 600, f"192.0.2.{s}")
    assert pending.get("victim") == "v"
    assert len(pending) <= 100
    assert all(pending.pending_of(f"192.0.2.{s}") <= 4 for s in range(sources))


def test_a_source_over_its_cap_drops_its_own_oldest() -> None:
    pending: _Pending[str] = _Pending(lambda: 0.0, limit=100, per_source=3)
    for n in range(5):
        pending.put(f"k{n}", str(n), 600, "10.0.0.1")
    assert [pending.get(f"k{n}") for n in range(5)] == [None, None, "2", "3", "4"]


def test_rations_refuse_a_flooding_source_alone_and_refill() -> None:
    clock = Clock()
    rations = LoginRations(clock)
    taken = [rations.take("192.0.2.66") for _ in range(SOURCE_BURST + 10)]
    assert taken[:SOURCE_BURST] == [None] * SOURCE_BURST
    assert set(taken[SOURCE_BURST:]) == {"too many sign-in attempts from this address"}
    assert rations.take("192.0.2.7") is None  # another address is not affected
    clock.now += SOURCE_EVERY_S
    assert rations.take("192.0.2.66") is None  # one more after the refill time
    assert rations.take("192.0.2.66") is not None


def test_rations_bound_a_flood_from_many_sources() -> None:
    clock = Clock()
    rations = LoginRations(clock)
    granted = sum(rations.take(f"10.0.{n // 250}.{n % 250}") is None for n in range(5000))
    assert granted == GLOBAL_BURST  # at once: the shared burst, then nothing
    clock.now += 1.0
    granted = sum(rations.take(f"10.1.{n // 250}.{n % 250}") is None for n in range(5000))
    assert granted == int(GLOBAL_PER_S)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_expired_entries_leave_and_a_pop_is_once() -> None:
    now = [0.0]
    pending: _Pending[str] = _Pending(lambda: now[0], limit=10, per_source=2)
    pending.put("a", "1", 10, "s")
    assert pending.pop("a") == "1" and pending.pop("a") is None
    pending.put("b", "2", 10, "s")
    now[0] = 11.0
    assert pending.get("b") is None and pending.pop("b") is None
    pending.put("c", "3", 10, "s")
    pending.put("d", "4", 10, "s")
    assert pending.pending_of("s") == 2 and len(pending) == 2


@pytest.mark.parametrize(
    "addr,source",
    [
        ("192.0.2.7", "192.0.2.7"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        (None, "-"),
        ("not-an-address", "not-an-address"),
    ],
)
def test_a_source_is_an_ipv4_address_or_an_ipv6_64(addr: str | None, source: str) -> None:
    assert source_of(addr) == source


# -- through the portal, with the real dev IdP -----------------------------------------------


@pytest.fixture(scope="module")
def port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory, port: int) -> Iterator[DevIdp]:
    redirect = f"http://127.0.0.1:{port}/portal/callback"
    server = DevIdp(
        tmp_path_factory.mktemp("idp"),
        clients=[portal_client("warden-portal", PORTAL_SECRET, [redirect])],
    )
    server.start()
    yield server
    server.stop()


def _victim_client() -> httpx.Client:
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    return httpx.Client(transport=transport, timeout=30)


async def test_a_login_flood_from_one_address_leaves_anothers_login_working(
    tmp_path: Path, idp: DevIdp, port: int
) -> None:
    public_url = f"http://127.0.0.1:{port}"
    async with portal_bed(tmp_path, public_url, idp, port=port) as bed:
        victim = _victim_client()
        try:
            start = await asyncio.to_thread(
                victim.get, bed.url("/portal/login"), params={"next": "/portal/"}
            )
            assert start.status_code == 302, start.text
            # More anonymous logins from another address than the whole map holds: beyond
            # its ration they are refused (429), and what it holds stays within its bound.
            statuses: dict[int, int] = {}
            async with bed.client("127.0.0.3") as attacker:
                queue = iter(range(MAX_PENDING + 50))

                async def flood() -> None:
                    for _ in queue:
                        async with attacker.get(
                            bed.url("/portal/login"), allow_redirects=False
                        ) as r:
                            statuses[r.status] = statuses.get(r.status, 0) + 1

                await asyncio.gather(*(flood() for _ in range(16)))
            assert set(statuses) == {302, 429} and statuses[302] < 100, statuses
            assert bed.portal._logins.pending_of("127.0.0.3") <= PER_SOURCE
            # The victim signs in at the IdP and comes back: the login still completes.
            callback = await asyncio.to_thread(
                idp.password_login,
                victim,
                start.headers["location"],
                "alice",
                "dev-alice-password",
            )
            assert parse_qs(urlsplit(callback).query)["state"]
            done = await asyncio.to_thread(victim.get, callback)
            assert done.status_code == 302 and done.headers["location"] == "/portal/", done.text
            assert "warden_session=" in done.headers.get("set-cookie", "")
        finally:
            victim.close()


# -- the tarpit: rationed sources wait for their refusals ------------------------------------


class GatedTarpit(Tarpit):
    """Holds until the test opens the gate, instead of for ``hold_s``: no timing here."""

    def __init__(self, per_source: int, total: int) -> None:
        super().__init__(hold_s=0.0, per_source=per_source, total=total)
        self.gate = asyncio.Event()

    async def _wait(self) -> None:
        await self.gate.wait()


async def _until(check: Callable[[], bool], what: str) -> None:
    for _ in range(3000):  # bounded: 30 s of 10 ms looks
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


async def test_the_tarpit_holds_within_its_bounds_per_source_and_in_all() -> None:
    tarpit = GatedTarpit(per_source=2, total=3)
    a = [asyncio.create_task(tarpit.hold("192.0.2.1")) for _ in range(2)]
    b = asyncio.create_task(tarpit.hold("192.0.2.2"))
    await _until(lambda: tarpit.held() == 3, "three held")
    assert await tarpit.hold("192.0.2.1") is False  # its own bound
    assert await tarpit.hold("192.0.2.3") is False  # the bound in all
    assert tarpit.held("192.0.2.1") == 2 and tarpit.held("192.0.2.2") == 1
    tarpit.gate.set()
    assert await asyncio.gather(*a, b) == [True, True, True]
    assert tarpit.held() == 0 and tarpit.held("192.0.2.1") == 0
    assert await tarpit.hold("192.0.2.3") is True  # room again


async def test_a_rationed_source_waits_for_its_429_and_a_flood_of_them_is_cut(
    tmp_path: Path,
) -> None:
    # No IdP in this bed: a login that is not rationed answers 503 "not set up", at once.
    async with portal_bed(tmp_path) as bed:
        tarpit = bed.portal.tarpit = GatedTarpit(per_source=2, total=100)
        # keep-alive clients (the bed's close each connection): whether the portal closes
        # one is what is under test
        attacker = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(local_addr=("127.0.0.3", 0))
        )
        other = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=("127.0.0.4", 0)))
        async with attacker, other:

            async def login(client: aiohttp.ClientSession) -> tuple[int, str]:
                async with client.get(bed.url("/portal/login")) as r:
                    await r.read()
                    return r.status, r.headers.get("Connection", "")

            for _ in range(SOURCE_BURST):
                assert (await login(attacker))[0] == 503
            held = [asyncio.create_task(login(attacker)) for _ in range(2)]
            await _until(lambda: tarpit.held("127.0.0.3") == 2, "two refusals held")
            # Over what is held for it: answered at once, and its connection closed.
            assert await login(attacker) == (429, "close")
            # Another address is neither refused nor held while those wait.
            assert (await login(other))[0] == 503
            assert not any(t.done() for t in held)
            tarpit.gate.set()
            answers = await asyncio.gather(*held)
        assert [status for status, _ in answers] == [429, 429]
        assert all(conn.lower() != "close" for _, conn in answers)
        assert tarpit.held() == 0
