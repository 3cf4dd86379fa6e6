"""The proxy port shared by the host's gateway workers (SO_REUSEPORT).

mitmproxy has no option for it: its listener is ``asyncio.start_server(handler, host,
port)``. A worker replaces that one call with the same call plus ``reuse_port=True``,
so the kernel spreads new connections over the workers' sockets (by a hash of the
client's address and port) and a dead worker's share goes to the others at once.

Linux lets only processes of the same user join a port this way; the supervisor first
binds the port without the option, so a port another program holds is an error at
start, not a silent share.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from typing import Any

_done = False


def share_listening_port() -> None:
    """From now on this process's TCP proxy listeners set SO_REUSEPORT."""
    global _done
    if _done:
        return
    from mitmproxy.proxy import mode_servers

    original = mode_servers.AsyncioServerInstance.listen

    async def listen(self: Any, host: str, port: int) -> list[Any]:
        if self.mode.transport_protocol != "tcp" or port == 0:
            return await original(self, host, port)
        return [await asyncio.start_server(self.handle_stream, host, port, reuse_port=True)]

    mode_servers.AsyncioServerInstance.listen = listen  # type: ignore[method-assign]
    _done = True


def port_in_use(host: str, port: int) -> str:
    """ "" when ``host:port`` is free for the workers to share, else why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"failed to listen on {host}:{port}: it is in use by another program"
            return f"failed to listen on {host}:{port}: {exc.strerror}"
    return ""
