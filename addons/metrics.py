"""FlowMetrics: the Prometheus series the stages count into, as the stages see them.

The gateway owns the registry (``warden/gateway/metrics.py``) and passes its ``GatewayMetrics`` in
when it builds the chain; the stages name only the series they use, so they never import
the composition root.
"""

from __future__ import annotations

from typing import Protocol

from prometheus_client import Counter, Histogram


class FlowMetrics(Protocol):
    connects: Counter
    scope_by_name: Counter
    limits: Counter
    flows: Counter
    flow_latency: Histogram
    upstream_latency: Histogram
    upstream_errors: Counter

    def render(self) -> bytes:
        """The series in Prometheus' text format (what ``/metrics`` serves)."""
