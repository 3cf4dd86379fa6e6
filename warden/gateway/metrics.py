"""Prometheus series of the gateway, on a registry of its own (served at ``/metrics``).

A registry per gateway rather than prometheus-client's global one keeps tests that start
several gateways in one process from counting each other's flows.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class GatewayMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.connects = Counter(
            "warden_connects",
            "CONNECT requests by what their target names: a catalog host (intercept), an "
            "unsanctioned one (blocked), an IP literal (by_address) or another name "
            "(passthrough); the last two are decided on the TLS SNI and Host that follow.",
            ["decision"],
            registry=self.registry,
        )
        self.scope_by_name = Counter(
            "warden_scope_by_name",
            "Requests judged on their TLS SNI or Host rather than their target: sent to a "
            "catalog host named so while the target was an IP literal (intercept), or "
            "refused because the names disagree around a catalog host (misdirected), or "
            "a tunnel closed because its TLS SNI names an unsanctioned host (blocked).",
            ["decision"],
            registry=self.registry,
        )
        self.limits = Counter(
            "warden_limits",
            "Requests, answers and connections cut by a limit of proxy.limits, by limit.",
            ["limit"],
            registry=self.registry,
        )
        self.flows = Counter(
            "warden_flows",
            "Intercepted flows by catalog host and outcome.",
            ["host", "outcome"],
            registry=self.registry,
        )
        self.flow_latency = Histogram(
            "warden_flow_duration_seconds",
            "Time from the request's first byte to the response's last byte.",
            ["host"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.upstream_latency = Histogram(
            "warden_upstream_ttfb_seconds",
            "Time from sending the request upstream to the response headers.",
            ["host"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.upstream_errors = Counter(
            "warden_upstream_errors",
            "Flows that failed on the way to or from the upstream service.",
            ["host"],
            registry=self.registry,
        )
        self.audit_writer_up = Gauge(
            "warden_audit_writer_up",
            "1 while the audit writer process runs; 0 means flows are refused (fail closed).",
            registry=self.registry,
        )
        self.audit_writer_restarts = Counter(
            "warden_audit_writer_restarts",
            "Times the audit writer process ended unexpectedly and was started again.",
            registry=self.registry,
        )
        self.proxy_worker_restarts = Counter(
            "warden_proxy_worker_restarts",
            "Times a proxy worker (proxy.workers) ended unexpectedly and was started again.",
            ["proxy_worker"],
            registry=self.registry,
        )
        self.revocation_push_late = Counter(
            "warden_revocation_push_late",
            "Revocations a proxy worker did not acknowledge within the push bound (1 s);"
            " it applied them at its next look at the state database instead.",
            ["proxy_worker"],
            registry=self.registry,
        )
        self.proxy_workers_up = Gauge(
            "warden_proxy_workers_up",
            "Proxy workers whose port listens now (proxy.workers; the supervisor's count).",
            registry=self.registry,
        )
        self.policy_fleet_in_step = Gauge(
            "warden_policy_fleet_in_step",
            "1 while this process enforces the fleet's policy version in force (PostgreSQL);"
            " 0 after it refused one (the log and the policy.reload audit record say why).",
            registry=self.registry,
        )
        self.policy_fleet_refused = Counter(
            "warden_policy_fleet_refused",
            "Policy versions published by the fleet that this process refused to enforce.",
            registry=self.registry,
        )
        self.unsafe_test_routing = Gauge(
            "warden_unsafe_test_routing",
            "1 when catalog traffic is routed to a loopback test server (never in production).",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
