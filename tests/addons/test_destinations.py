"""The destination guard: no way through the proxy to the host's own loopback, link-local
or a cloud metadata service, in any IPv4 or IPv6 spelling (issue 19, 9)."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
from mitmproxy import connection
from mitmproxy.proxy.server_hooks import ServerConnectionHookData

from warden.addons.destinations import DestinationGuard, embedded_ipv4, refusal

# Every address an attacker may name (or have a DNS name answer with) to reach something
# on or behind the gateway's host. Each must be refused.
REFUSED = {
    # plain IPv4
    "loopback": "127.0.0.1",
    "loopback, other": "127.255.255.254",
    "this host (0.0.0.0)": "0.0.0.0",
    "this network": "0.1.2.3",
    "imds": "169.254.169.254",
    "tencent metadata (link-local)": "169.254.0.23",
    "alibaba metadata": "100.100.100.200",
    "azure wireserver": "168.63.129.16",
    "multicast": "224.0.0.1",
    "broadcast": "255.255.255.255",
    # plain IPv6
    "v6 loopback": "::1",
    "v6 unspecified": "::",
    "v6 link-local": "fe80::1",
    "v6 multicast": "ff02::1",
    "aws imds over ipv6": "fd00:ec2::254",
    "aws ipv6 dns": "fd00:ec2::253",
    "gcp metadata over ipv6": "fd20:ce::254",
    # IPv4 inside IPv6: every transition form, pointing at loopback or metadata
    "mapped loopback": "::ffff:127.0.0.1",
    "mapped imds": "::ffff:169.254.169.254",
    "mapped alibaba": "::ffff:100.100.100.200",
    "compatible loopback": "::127.0.0.1",
    "compatible imds": "::a9fe:a9fe",
    "compatible 0.0.0.2": "::2",
    "siit translated": "::ffff:0:127.0.0.1",
    "nat64 imds": "64:ff9b::a9fe:a9fe",
    "nat64 loopback": "64:ff9b::7f00:1",
    "nat64 alibaba": "64:ff9b::6464:64c8",
    "nat64 local-use /96": "64:ff9b:1::a9fe:a9fe",
    "nat64 local-use /48": "64:ff9b:1:a9fe:a9:fe00::",
    "nat64 local-use /64": "64:ff9b:1:0:a9:fea9:fe00:0",
    "6to4 imds": "2002:a9fe:a9fe::",
    "6to4 loopback": "2002:7f00:1::1",
    "6to4 alibaba": "2002:6464:64c8::1",
    "teredo client loopback": "2001:0:4136:e378:8000:63bf:80ff:fffe",
    "teredo client imds": "2001:0:4136:e378:8000:63bf:5601:5601",
    "teredo server imds": "2001:0:a9fe:a9fe::1",
    "isatap imds": "2001:db8::5efe:a9fe:a9fe",
    "isatap (u bit) loopback": "2001:db8::200:5efe:7f00:1",
}

# Public addresses, plain and embedded: the guard must not refuse real destinations.
ALLOWED = {
    "public v4": "104.18.7.192",
    "private v4 (corporate endpoint)": "10.1.2.3",
    "cgnat v4 beside alibaba": "100.100.100.201",
    "public v6": "2606:4700::6812:7c0",
    "ula v6 (corporate endpoint)": "fd12:3456::1",
    "mapped public": "::ffff:104.18.7.192",
    "nat64 public": "64:ff9b::6812:7c0",
    "6to4 public": "2002:6812:7c0::1",
    "teredo public": "2001:0:4136:e378:8000:63bf:97ed:f83f",
}


@pytest.mark.parametrize("address", REFUSED.values(), ids=REFUSED.keys())
def test_refused(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ALLOWED.values(), ids=ALLOWED.keys())
def test_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


def test_the_reason_names_the_embedded_address() -> None:
    why = refusal(ipaddress.ip_address("64:ff9b::a9fe:a9fe"))
    assert why == "link-local, embedded in 64:ff9b::a9fe:a9fe"


def test_teredo_client_is_de_obfuscated() -> None:
    # Teredo stores the client's IPv4 inverted; 80ff:fffe is 127.0.0.1.
    ip = ipaddress.IPv6Address("2001:0:4136:e378:8000:63bf:80ff:fffe")
    assert ipaddress.IPv4Address("127.0.0.1") in embedded_ipv4(ip)


def _connect(guard: DestinationGuard, host: str, port: int = 443) -> ServerConnectionHookData:
    data = ServerConnectionHookData(
        server=connection.Server(address=(host, port)),
        client=connection.Client(peername=("10.0.0.9", 5000), sockname=("10.0.0.1", 8080)),
    )
    asyncio.run(guard.server_connect(data))
    return data


@pytest.mark.parametrize("address", REFUSED.values(), ids=REFUSED.keys())
def test_the_guard_refuses_the_connection(address: str) -> None:
    """Through the addon, with the system resolver reading the literal as mitmproxy would."""
    data = _connect(DestinationGuard(allow_loopback=False), address)
    assert data.server.error and "not reachable through the proxy" in data.server.error


@pytest.mark.parametrize("address", ALLOWED.values(), ids=ALLOWED.keys())
def test_the_guard_pins_an_allowed_address(address: str) -> None:
    data = _connect(DestinationGuard(allow_loopback=False), address)
    assert data.server.error is None
    assert data.server.address is not None
    assert ipaddress.ip_address(data.server.address[0]) == ipaddress.ip_address(address)
