"""Prometheus series of the gateway, on a registry of its own (served at ``/metrics``).

A registry per gateway rather than prometheus-client's global one keeps tests that start
several gateways in one process from counting each other's flows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from warden.audit.fleet_status import CAUSES, read_status

logger = logging.getLogger(__name__)

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

        self.registry.register(StateDatabaseTimeouts())

    def watch_fleet_shipping(self, status_file: Path) -> None:
        """Serve the fleet audit shipper's status (audit/fleet_status.py) on /metrics."""
        self.registry.register(FleetShippingCollector(status_file))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class StateDatabaseTimeouts(Collector):
    """PostgreSQL calls of this process cut by their bound (warden/pgbounds.py)."""

    def collect(self) -> Iterator[CounterMetricFamily]:
        from warden.pgbounds import WATCHDOG

        family = CounterMetricFamily(
            "warden_state_db_timeouts",
            "Calls to the state database (PostgreSQL) this process gave up on because the "
            "server did not answer within their bound (stopped, frozen or cut off); the "
            "caller failed closed or served from memory. Alert when it moves.",
        )
        family.add_metric([], WATCHDOG.timeouts())
        yield family


class FleetShippingCollector(Collector):
    """The fleet audit shipper's position, read from its status file at each scrape (the
    shipper is a thread of the audit writer process). A lag is no outage: the records
    are committed locally and ship when PostgreSQL takes them, so /healthz ignores it;
    alert on these instead."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._unreadable: str | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = time.time()
        try:
            status = read_status(self.path)
        except (OSError, ValueError) as exc:
            if str(exc) != self._unreadable:
                logger.warning("cannot read the audit shipping status: %s", exc)
            self._unreadable = str(exc)
            status = None
        unshipped = GaugeMetricFamily(
            "warden_audit_fleet_unshipped_records",
            "Audit records committed locally that the fleet's central copy (PostgreSQL) "
            "does not hold yet, as the shipper last saw them.",
        )
        lag = GaugeMetricFamily(
            "warden_audit_fleet_lag_seconds",
            "Age of the oldest audit record the central copy lacks; 0 when it lacks none.",
        )
        shipping = GaugeMetricFamily(
            "warden_audit_fleet_shipping",
            "1 while the fleet audit shipper runs and its last attempt succeeded.",
        )
        problem = GaugeMetricFamily(
            "warden_audit_fleet_problem",
            "1 for why shipping does not move: unreachable (PostgreSQL), conflict (the "
            "central copy disagrees: a person must look), internal (see the log), stopped "
            "(no shipper reported for 30 s: the gateway or its audit writer is stopped, or "
            "the shipper hangs on PostgreSQL). `warden doctor` says the cause and the fix.",
            labels=["cause"],
        )
        problem_since = GaugeMetricFamily(
            "warden_audit_fleet_problem_since_seconds",
            "When the current shipping problem began (seconds since the epoch); 0: none.",
        )
        cause = status.cause_now(now) if status is not None else "stopped"
        if status is not None:
            unshipped.add_metric([], float(status.unshipped))
            lag.add_metric([], status.lag_s(now))
            problem_since.add_metric([], status.problem_since or 0.0)
        shipping.add_metric([], 1.0 if cause is None else 0.0)
        for name in CAUSES:
            problem.add_metric([name], 1.0 if cause == name else 0.0)
        yield from (unshipped, lag, shipping, problem, problem_since)
