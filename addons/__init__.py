"""Egress Warden's mitmproxy addons, thin: each reads the flow, calls its domain package,
and stores the result in the flow's context. ``chain`` lists them in the order of the way
of one request (ARCHITECTURE.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from warden.config import Config
from warden.metrics import GatewayMetrics
from warden.providers.catalog import Catalog
from warden.providers.conversations import ResponseThreads

from .audit import Audit
from .destinations import DestinationGuard
from .identify import Identify
from .policy import PolicyEnforcer, QuotaCounter

if TYPE_CHECKING:  # the redactor imports Presidio: only when DLP is configured
    from .redact import Redactor
from .evidence import EvidenceCapture, EvidenceSeal, EvidenceSnapshot
from .response import ResponseReader
from .scope import RefusedHost, Scope
from .telemetry import Telemetry
from .test_routing import UnsafeTestRouting
from .uploads import UploadInspector
from .websocket import WebSocketInspector


def chain(
    config: Config,
    catalog: Catalog,
    metrics: GatewayMetrics,
    identify: Identify,
    audit: Audit,
    policy: PolicyEnforcer | None = None,
    redactor: Redactor | None = None,
    evidence: EvidenceCapture | None = None,
    uploads: UploadInspector | None = None,
) -> list[object]:
    refused = [RefusedHost(u.host, u.reason) for u in config.catalog.unsanctioned]
    routed: list[tuple[str, int]] = []
    if config.unsafe_testing is not None:
        targets = [
            config.unsafe_testing.route_catalog_hosts_to,
            *config.unsafe_testing.routes.values(),
        ]
        routed = [(u.hostname or "", u.port or 0) for u in map(urlsplit, targets)]
    guard = DestinationGuard(config.proxy.allow_loopback_destinations, routed)
    limits = config.proxy.limits
    threads = ResponseThreads()  # OpenAI Responses chains: answers in, later turns mapped
    scope = Scope(catalog, refused, metrics, limits.decoded_body_bytes, threads)
    addons: list[object] = [guard, scope, identify]
    # Before policy: it names the socket's api and model, which the policy decides on.
    addons.append(
        WebSocketInspector(
            audit, policy, redactor, config.proxy.websocket_max_message_bytes, identify
        )
    )
    if evidence is not None:  # before policy and the redactor: the body as the client sent it
        addons.append(EvidenceSnapshot(evidence))
    if policy is not None:
        addons.append(policy)
    # After policy (it scans with the decision's DLP profile), before the audit stage
    # commits the request's record (which lists the files).
    if uploads is not None:
        addons.append(uploads)
    if config.unsafe_testing is not None:
        testing = config.unsafe_testing
        addons.append(UnsafeTestRouting(testing.route_catalog_hosts_to, testing.routes))
    # The redactor's request hook runs after policy (nothing earlier needs the rewritten
    # body); its responseheaders hook must come after the response reader's, to wrap it.
    counter = [QuotaCounter(policy.runtime)] if policy is not None else []
    addons += [
        ResponseReader(config.streams.max_event_bytes, limits.decoded_body_bytes, threads),
        *([redactor] if redactor else []),
        *counter,
        Telemetry(metrics),
        # after the redactor restored the answer, before the audit stage records the hash
        *([EvidenceSeal(evidence)] if evidence is not None else []),
        audit,
    ]
    return addons
