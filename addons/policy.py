"""Policy: may this person send this to that model? Apply the decision; count the quota.

The decision is the policy package's pure ``decide`` over the flow's facts; this addon
only answers for it: a block in the provider's error shape (or an HTML page for a web
app's navigation), a coaching notice until acknowledged, a 429 over quota. A decision
that waits on DLP findings is left to the redact addon, which decides again after the
scan. Usage is counted against the quotas when the answer is complete.
"""

from __future__ import annotations

import time
from typing import Literal, Protocol

from mitmproxy import http

from warden.addons.answers import answer
from warden.addons.flowcontext import CatalogDestination, FlowContext, ResolvedPrincipal, Usage
from warden.addons.identify import is_navigation
from warden.addons.scope import parsed_request
from warden.policy import (
    PAGE_HEADERS,
    ApiError,
    CoachAcknowledgements,
    PolicyDecision,
    PolicyHolder,
    PrincipalFacts,
    Quotas,
    RequestFacts,
    block_page,
    block_response,
    coach_response,
    coaching_page,
    decide,
    quota_page,
    quota_response,
    usage_or_estimate,
)


class PolicyRuntime(Protocol):
    """The policy in force, quotas and coaching, as the stages use them; the gateway passes
    its runtime (``warden/gateway/wiring/policy.py``) in when it builds the chain."""

    holder: PolicyHolder
    quotas: Quotas
    acks: CoachAcknowledgements
    portal_url: str

    def acknowledge_url(
        self, principal: PrincipalFacts, decision: PolicyDecision, next_url: str
    ) -> str:
        """The portal link that acknowledges ``decision``'s notice for ``principal``."""


def principal_facts(p: ResolvedPrincipal | None) -> PrincipalFacts:
    if p is None:
        return PrincipalFacts(None, None)
    return PrincipalFacts(p.tenant, p.subject, p.department, p.groups)


def request_facts(
    d: CatalogDestination, body_bytes: int, entity_types: frozenset[str] | None = None
) -> RequestFacts:
    kind: Literal["api", "webapp"] = "webapp" if d.kind == "webapp" else "api"
    return RequestFacts(
        d.provider,
        d.service_id,
        d.host,
        kind,
        d.api,
        d.model,
        d.parsed,
        body_bytes,
        d.segments,
        entity_types,
    )


def _answer(flow: http.HTTPFlow, error: ApiError) -> None:
    answer(flow, error.status, error.body, error.headers)


def _page(flow: http.HTTPFlow, status: int, text: str) -> None:
    answer(flow, status, text.encode(), PAGE_HEADERS)


class PolicyEnforcer:
    def __init__(self, runtime: PolicyRuntime, company: str, contact: str) -> None:
        self.runtime = runtime
        self.company = company
        self.contact = contact

    def apply(self, flow: http.HTTPFlow, ctx: FlowContext, decision: PolicyDecision) -> bool:
        """Answer the flow if the decision stops it; True when the flow may go on."""
        dest = ctx.destination
        assert dest is not None
        principal = principal_facts(ctx.principal)
        ctx = ctx.replace(decision=decision)
        page = dest.kind == "webapp" and is_navigation(flow.request)
        if decision.action == "block":
            if page:
                _page(flow, 403, block_page(decision, self.company, self.contact))
            else:
                _answer(flow, block_response(dest.provider, decision, self.company, self.contact))
            ctx.replace(outcome="blocked").save(flow)
            return False
        if decision.action == "coach" and not self.runtime.acks.is_acknowledged(
            principal, decision, time.time()
        ):
            url = self.runtime.acknowledge_url(principal, decision, flow.request.pretty_url)
            if page:
                token = url.split("token=", 1)[1]
                _page(
                    flow,
                    200,
                    coaching_page(
                        decision,
                        self.company,
                        self.contact,
                        f"{self.runtime.portal_url}/portal/coach",
                        {"token": token},
                    ),
                )
            else:
                _answer(
                    flow, coach_response(dest.provider, decision, self.company, self.contact, url)
                )
            ctx.replace(outcome="coached").save(flow)
            return False
        ctx.save(flow)
        return True

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        ctx = FlowContext.of(flow)
        if ctx.destination is None or ctx.outcome is not None:
            return
        size = len(flow.request.raw_content or b"")
        decision = decide(
            self.runtime.holder.get(),
            principal_facts(ctx.principal),
            request_facts(ctx.destination, size),
        )
        if not self.apply(flow, ctx, decision):
            return
        verdict = self.runtime.quotas.admit(principal_facts(ctx.principal), time.time())
        if not verdict.ok:
            ctx = FlowContext.of(flow)
            if (
                ctx.destination is not None
                and ctx.destination.kind == "webapp"
                and is_navigation(flow.request)
            ):
                _page(flow, 429, quota_page(verdict, self.company, self.contact))
            else:
                _answer(
                    flow,
                    quota_response(
                        ctx.destination.provider if ctx.destination else "openai",
                        verdict,
                        self.company,
                        self.contact,
                    ),
                )
            ctx.replace(outcome="over_quota").save(flow)


class QuotaCounter:
    """Counts each answered flow's tokens against the quotas. It runs after the response
    reader has read the usage; where the provider reported none, the prompt's tokens are
    estimated (chars / 4) and the usage is marked estimated in the record too."""

    def __init__(self, runtime: PolicyRuntime) -> None:
        self.runtime = runtime

    def response(self, flow: http.HTTPFlow) -> None:
        ctx = FlowContext.of(flow)
        if ctx.destination is None or ctx.outcome is not None or ctx.principal is None:
            return
        reported = ctx.usage
        if reported is None or reported.input_tokens is None or reported.output_tokens is None:
            parsed = parsed_request(flow)
            texts = [s.text for s in parsed.segments] if parsed else []
            given = Usage(reported.input_tokens, reported.output_tokens) if reported else None
            u = usage_or_estimate(given, texts, [])
            reported = Usage(u.input_tokens, u.output_tokens, u.estimated)
            ctx.replace(usage=reported).save(flow)
        self.runtime.quotas.record_usage(
            principal_facts(ctx.principal),
            reported.input_tokens or 0,
            reported.output_tokens or 0,
            reported.estimated,
            time.time(),
        )
