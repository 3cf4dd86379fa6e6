"""Telemetry: count every intercepted flow by host and outcome, and time it."""

from __future__ import annotations

from mitmproxy import http

from warden.context import FlowContext
from warden.metrics import GatewayMetrics


class Telemetry:
    def __init__(self, metrics: GatewayMetrics) -> None:
        self.metrics = metrics

    def response(self, flow: http.HTTPFlow) -> None:
        ctx = FlowContext.of(flow)
        if ctx.destination is None or flow.response is None:
            return
        host = ctx.destination.host
        outcome = ctx.outcome or (
            "upstream_status_5xx" if flow.response.status_code >= 500 else "forwarded"
        )
        self.metrics.flows.labels(host, outcome).inc()
        request, response = flow.request, flow.response
        if response.timestamp_end is not None:
            self.metrics.flow_latency.labels(host).observe(
                response.timestamp_end - request.timestamp_start
            )
        if ctx.outcome is None and request.timestamp_end is not None:
            self.metrics.upstream_latency.labels(host).observe(
                max(0.0, response.timestamp_start - request.timestamp_end)
            )

    def error(self, flow: http.HTTPFlow) -> None:
        ctx = FlowContext.of(flow)
        if ctx.destination is None:
            return
        host = ctx.destination.host
        client_abort = flow.error is not None and "client disconnected" in flow.error.msg.lower()
        self.metrics.flows.labels(host, "client_abort" if client_abort else "upstream_error").inc()
        if not client_abort:
            self.metrics.upstream_errors.labels(host).inc()
