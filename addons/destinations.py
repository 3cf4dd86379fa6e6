"""Destinations: the proxy never connects to the gateway host's own loopback or link-local.

A forward proxy that connects wherever a client asks can be turned against its own host
(the control plane on 127.0.0.1, a local IdP, a cloud metadata service on 169.254.169.254).
Before every upstream connection this addon resolves the name itself, refuses loopback,
link-local, unspecified, multicast and cloud metadata addresses, also when an IPv6
address carries one of them as an IPv4 inside (mapped, compatible, SIIT, NAT64, 6to4,
Teredo, ISATAP: the address is judged as every IPv4 it may lead to), and pins the
connection to the address it checked, so a DNS answer that changes between check and
connect (rebinding) cannot slip through. The test bed's routing targets are allowed by
name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Iterable

from mitmproxy.proxy.server_hooks import ServerConnectionHookData

logger = logging.getLogger("warden.destinations")

type IP = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud instance metadata and host-agent endpoints outside link-local: each hands out the
# instance's credentials to whoever asks from the host.
METADATA: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
    ipaddress.ip_network("100.100.100.200/32"),  # Alibaba Cloud metadata
    ipaddress.ip_network("168.63.129.16/32"),  # Azure WireServer / host agent
    ipaddress.ip_network("fd00:ec2::/32"),  # AWS Nitro: IMDS fd00:ec2::254, DNS, NTP
    ipaddress.ip_network("fd20:ce::254/128"),  # Google Cloud metadata on IPv6-only VMs
)
# "This network" (0/8): Linux connects 0.0.0.0 to the host itself.
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
# IPv6 prefixes that carry an IPv4 address the packet ends up at.
_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated IPv4-compatible (RFC 4291 2.5.5.1)
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT IPv4-translated (RFC 2765)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known NAT64 prefix (RFC 6052)
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # local-use NAT64 (RFC 8215)
_ISATAP_IID = (0x0000_5EFE, 0x0200_5EFE)  # ISATAP interface identifier (RFC 5214)


def _v4(value: int) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(value & 0xFFFF_FFFF)


def _rfc6052_candidates(value: int) -> list[ipaddress.IPv4Address]:
    """Every IPv4 an RFC 6052 address may embed: the prefix length (32..96) is the NAT64
    operator's choice and cannot be read from the address, so all of them count."""
    octets = value.to_bytes(16, "big")
    found = [_v4(int.from_bytes(octets[12:16], "big"))]  # /96
    for prefix_octets in (4, 5, 6, 7, 8):  # /32 .. /64; octet 8 (bits 64-71) is skipped
        payload = [b for i, b in enumerate(octets[prefix_octets:], prefix_octets) if i != 8]
        found.append(ipaddress.IPv4Address(bytes(payload[:4])))
    return found


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to through a transition mechanism: the
    address is judged as each of them, since the kernel, a NAT64 gateway or a tunnel
    delivers it there."""
    value = int(ip)
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d
        found.append(ip.ipv4_mapped)
    if ip in _COMPATIBLE and value > 1:  # ::a.b.c.d (:: and ::1 are themselves)
        found.append(_v4(value))
    if ip in _TRANSLATED or ip in _NAT64:
        found.append(_v4(value))
    if ip in _NAT64_LOCAL:
        found.extend(_rfc6052_candidates(value))
    if ip.sixtofour is not None:  # 2002:aabb:ccdd::/48
        found.append(ip.sixtofour)
    if ip.teredo is not None:  # 2001::/32: (server, client) with the client de-obfuscated
        found.extend(ip.teredo)
    if (value >> 32) & 0xFFFF_FFFF in _ISATAP_IID:  # any prefix::5efe:a.b.c.d
        found.append(_v4(value))
    return found


def refusal(ip: IP) -> str | None:
    """Why the proxy must not connect to ``ip``, or None. An IPv6 address that embeds an
    IPv4 one is refused when either is."""
    if isinstance(ip, ipaddress.IPv6Address):
        for inner in embedded_ipv4(ip):
            why = refusal(inner)
            if why is not None:
                return f"{why}, embedded in {ip}"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_unspecified or (isinstance(ip, ipaddress.IPv4Address) and ip in _THIS_NETWORK):
        return "unspecified"
    if ip.is_multicast or ip == ipaddress.IPv4Address("255.255.255.255"):
        return "multicast or broadcast"
    if any(ip in net for net in METADATA):
        return "cloud metadata service"
    return None


def forbidden(ip: IP) -> bool:
    return refusal(ip) is not None


class DestinationGuard:
    def __init__(self, allow_loopback: bool, allowed: Iterable[tuple[str, int]] = ()) -> None:
        self.allow_loopback = allow_loopback
        self.allowed = set(allowed)

    async def server_connect(self, data: ServerConnectionHookData) -> None:
        if self.allow_loopback or data.server.address is None:
            return
        host, port = data.server.address[0], data.server.address[1]
        if (host, port) in self.allowed:
            return
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (socket.gaierror, UnicodeError):
            return  # mitmproxy's own connect reports the name that does not resolve
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        refused = [(ip, why) for ip in addresses if (why := refusal(ip)) is not None]
        if refused or not addresses:
            shown = f"{refused[0][0]}: {refused[0][1]}" if refused else "no address"
            logger.warning("refused a connection to %s:%d (%s)", host, port, shown)
            data.server.error = (
                f"Egress Warden does not connect to {host} ({shown}): loopback and link-local "
                "addresses are not reachable through the proxy, nor cloud metadata services"
            )
            return
        data.server.address = (str(addresses[0]), port)
