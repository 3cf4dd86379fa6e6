"""Telemetry: count every intercepted flow by host and outcome, and time it."""

from __future__ import annotations

from typing import Any

from mitmproxy import http

from warden.addons.flowcontext import FlowContext
from warden.addons.metrics import FlowMetrics


class Telemetry:
    def __init__(self, metrics: FlowMetrics) -> None:
        self.metrics = metrics
        # The labelled series, looked up once: labels() takes a lock and checks its
        # arguments each call. Hosts are catalog hosts, so these stay small.
        self._flows: dict[tuple[str, str], Any] = {}
        self._timers: dict[str, tuple[Any, Any]] = {}

    def _count(self, host: str, outcome: str) -> None:
        series = self._flows.get((host, outcome))
        if series is None:
            series = self._flows[(host, outcome)] = self.metrics.flows.labels(host, outcome)
        series.inc()

    def response(self, flow: http.HTTPFlow) -> None:
        ctx = FlowContext.of(flow)
        if ctx.destination is None or flow.response is None:
            return
        host = ctx.destination.host
        outcome = ctx.outcome or (
            "upstream_status_5xx" if flow.response.status_code >= 500 else "forwarded"
        )
        self._count(host, outcome)
        timers = self._timers.get(host)
        if timers is None:
            timers = self._timers[host] = (
                self.metrics.flow_latency.labels(host),
                self.metrics.upstream_latency.labels(host),
            )
        request, response = flow.request, flow.response
        if response.timestamp_end is not None:
            timers[0].observe(response.timestamp_end - request.timestamp_start)
        if ctx.outcome is None and request.timestamp_end is not None:
            timers[1].observe(max(0.0, response.timestamp_start - request.timestamp_end))

    def error(self, flow: http.HTTPFlow) -> None:
        ctx = FlowContext.of(flow)
        if ctx.destination is None:
            return
        host = ctx.destination.host
        client_abort = flow.error is not None and "client disconnected" in flow.error.msg.lower()
        self._count(host, "client_abort" if client_abort else "upstream_error")
        if not client_abort:
            self.metrics.upstream_errors.labels(host).inc()
