"""UNSAFE test-bed routing: send intercepted catalog requests to a loopback mock upstream.

Only built when the config has ``unsafe_testing`` and the environment carries the consent
variable (see ``warden.config``). The request keeps its ``Host`` header, so the mock sees
``api.openai.com`` as the real service would; every routed response carries
``X-Warden-Unsafe-Test-Routing: 1`` and the start-up log says so in capitals.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import urlsplit

from mitmproxy import http

from warden.addons.flowcontext import FlowContext

logger = logging.getLogger("warden.unsafe_testing")

MARKER_HEADER = "X-Warden-Unsafe-Test-Routing"


class UnsafeTestRouting:
    def __init__(self, target: str, routes: Mapping[str, str] | None = None) -> None:
        self.default = _address(target)
        self.routes = {host: _address(url) for host, url in (routes or {}).items()}

    def running(self) -> None:
        logger.warning(
            "UNSAFE TEST ROUTING IS ON: every intercepted LLM request goes to %s://%s:%d%s, "
            "not to the real service. This is for the test bed only.",
            *self.default,
            f" (and {len(self.routes)} host(s) elsewhere on loopback)" if self.routes else "",
        )

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        dest = FlowContext.of(flow).destination
        if dest is None:
            return
        host_header = flow.request.host_header
        scheme, host, port = self.routes.get(dest.host, self.default)
        flow.request.scheme = scheme
        flow.request.host = host
        flow.request.port = port
        flow.request.host_header = host_header

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None and FlowContext.of(flow).destination is not None:
            flow.response.headers[MARKER_HEADER] = "1"


def _address(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None  # validated by config
    return parts.scheme, parts.hostname, parts.port
