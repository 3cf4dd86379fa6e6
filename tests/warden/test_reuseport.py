"""The proxy port shared by a host's workers: SO_REUSEPORT, and a port held by another
program refused before any worker starts."""

from __future__ import annotations

import asyncio
import socket

from warden.gateway.reuseport import port_in_use, share_listening_port


def test_a_port_another_program_holds_is_named() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert "in use by another program" in port_in_use("127.0.0.1", port)
    assert port_in_use("127.0.0.1", port) == ""


async def test_two_mitmproxy_listeners_share_one_port() -> None:
    """mitmproxy's own listener (what each worker runs), twice on the same port."""
    from mitmproxy.proxy import mode_specs
    from mitmproxy.proxy.mode_servers import RegularInstance

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    share_listening_port()
    mode = mode_specs.ProxyMode.parse("regular")
    first = await RegularInstance.listen(_Instance(mode), "127.0.0.1", port)  # type: ignore[arg-type]
    second = await RegularInstance.listen(_Instance(mode), "127.0.0.1", port)  # type: ignore[arg-type]
    try:
        for server in (*first, *second):
            assert isinstance(server, asyncio.Server)
            sock = server.sockets[0]
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
            assert sock.getsockname()[1] == port
        # ... and a program that does not ask to share is still refused.
        assert port_in_use("127.0.0.1", port)
    finally:
        for server in (*first, *second):
            server.close()


class _Instance:
    """Just what ``listen`` reads of a server instance."""

    def __init__(self, mode: object) -> None:
        self.mode = mode

    async def handle_stream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.close()
