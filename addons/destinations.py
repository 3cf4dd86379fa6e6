"""Destinations: the proxy never connects to the gateway host's own loopback or link-local.

A forward proxy that connects wherever a client asks can be turned against its own host
(the control plane on 127.0.0.1, a local IdP, a cloud metadata service on 169.254.169.254).
Before every upstream connection this addon resolves the name itself, refuses loopback,
link-local, unspecified and multicast addresses, and pins the connection to the address
it checked, so a DNS answer that changes between check and connect (rebinding) cannot
slip through. The test bed's routing targets are allowed by name.
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


def forbidden(ip: IP) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast


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
        refused = [ip for ip in addresses if forbidden(ip)]
        if refused or not addresses:
            logger.warning(
                "refused a connection to %s:%d (%s)", host, port, refused[0] if refused else "-"
            )
            data.server.error = (
                f"Egress Warden does not connect to {host} ({refused[0] if refused else '?'}): "
                "loopback and link-local addresses are not reachable through the proxy"
            )
            return
        data.server.address = (str(addresses[0]), port)
