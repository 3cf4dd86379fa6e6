"""UNSAFE test-bed routing: send intercepted catalog requests to a loopback mock upstream.

Only built when the config has ``unsafe_testing`` and the environment carries the consent
variable (see ``warden.config``). The request keeps its ``Host`` header, so the mock sees
``api.openai.com`` as the real service would; every routed response carries
``X-Warden-Unsafe-Test-Routing: 1`` and the start-up log says so in capitals.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from mitmproxy import http

from warden.context import FlowContext

logger = logging.getLogger("warden.unsafe_testing")

MARKER_HEADER = "X-Warden-Unsafe-Test-Routing"


class UnsafeTestRouting:
    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        assert parts.hostname is not None and parts.port is not None  # validated by config
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port

    def running(self) -> None:
        logger.warning(
            "UNSAFE TEST ROUTING IS ON: every intercepted LLM request goes to %s://%s:%d, "
            "not to the real service. This is for the test bed only.",
            self.scheme,
            self.host,
            self.port,
        )

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        if FlowContext.of(flow).destination is None:
            return
        host_header = flow.request.host_header
        flow.request.scheme = self.scheme
        flow.request.host = self.host
        flow.request.port = self.port
        flow.request.host_header = host_header

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None and FlowContext.of(flow).destination is not None:
            flow.response.headers[MARKER_HEADER] = "1"
