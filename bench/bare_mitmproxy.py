"""Baseline for bench/proxy.py: mitmproxy with only its core proxy addons, no warden addons.

The same mitmproxy addons the gateway loads (core, proxyserver, next_layer, tlsconfig,
disable_h2c) plus the routing the test bed needs to reach the loopback upstream (and the
marker header the gateway's test routing adds to each answer); so the ratio against
``warden run`` is the cost of warden's own addons.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from mitmproxy import http, options
from mitmproxy.addons import core, disable_h2c, next_layer, proxyserver, tlsconfig
from mitmproxy.master import Master


class Route:
    def __init__(self, port: int) -> None:
        self.port = port

    def request(self, flow: http.HTTPFlow) -> None:
        host_header = flow.request.host_header
        flow.request.scheme, flow.request.host, flow.request.port = "http", "127.0.0.1", self.port
        flow.request.host_header = host_header

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        # the marker the gateway's test routing adds, so both do the test bed's work
        if flow.response is not None:
            flow.response.headers["X-Warden-Unsafe-Test-Routing"] = "1"


async def main(listen_port: int, upstream_port: int, confdir: str) -> None:
    master = Master(options.Options(), with_termlog=False)
    master.addons.add(
        core.Core(),
        proxyserver.Proxyserver(),
        next_layer.NextLayer(),
        tlsconfig.TlsConfig(),
        disable_h2c.DisableH2C(),
        Route(upstream_port),
    )
    master.options.update(
        mode=["regular"],
        listen_host="127.0.0.1",
        listen_port=listen_port,
        confdir=confdir,
        connection_strategy="lazy",
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, master.shutdown)
    await master.run()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]))
