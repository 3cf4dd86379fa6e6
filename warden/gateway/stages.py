"""The stages of the addon chain, built from the config in the order of the way of one
request (ARCHITECTURE.md): the composition root's side of ``warden.addons``."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from warden.addons.audit import Audit
from warden.addons.destinations import DestinationGuard
from warden.addons.evidence import EvidenceCapture, EvidenceSeal, EvidenceSnapshot
from warden.addons.identify import Identify
from warden.addons.policy import PolicyEnforcer, QuotaCounter
from warden.addons.response import ResponseReader
from warden.addons.scope import RefusedHost, Scope
from warden.addons.telemetry import Telemetry
from warden.addons.unsafe_routing import UnsafeTestRouting
from warden.addons.uploads import UploadInspector
from warden.addons.websocket import WebSocketInspector
from warden.config import Config
from warden.gateway.metrics import GatewayMetrics
from warden.providers.catalog import Catalog
from warden.providers.conversations import ResponseThreads

if TYPE_CHECKING:  # the redactor imports Presidio: only when DLP is configured
    from warden.addons.redact import Redactor


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
            audit, policy, redactor, config.proxy.websocket_max_message_bytes, identify, evidence
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
