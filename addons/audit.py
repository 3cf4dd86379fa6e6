"""Audit: one record per flow, committed before the response is released to the client.

Plain responses are recorded in the ``response`` hook, which mitmproxy awaits before it
sends anything. A streamed answer is recorded when its headers arrive, before the first
byte goes out, and a second record (``details.phase = "stream_end"``) adds usage and
timing when the stream ends. Refusals at CONNECT and failed flows are recorded too. When
the record cannot be written the flow fails closed (503 in the provider's error shape)
unless the config says fail_open.
"""

from __future__ import annotations

import datetime
import logging
import weakref

from mitmproxy import http

from warden.addons.identify import client_address
from warden.addons.prompts import redacted_prompt
from warden.audit import AuditRecord, AuditUnavailable, DlpFinding, Timing, format_ts
from warden.audit import Decision as RecordDecision
from warden.audit import Destination as RecordDestination
from warden.audit import Principal as RecordPrincipal
from warden.audit import Usage as RecordUsage
from warden.audit.record import MAX_PROMPT_CHARS, SYSTEM_TENANT
from warden.audit_wiring import AuditTrail
from warden.context import FlowContext
from warden.providers.errors import error_body

logger = logging.getLogger("warden.audit")

_OUTCOMES = {
    "refused_host",
    "unauthenticated",
    "blocked",
    "coached",
    "over_quota",
    "redacted",
    "dlp_error",
    "policy_error",
    "gateway_error",
}


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else max(0, round(seconds * 1000))


def flow_record(
    flow: http.HTTPFlow,
    outcome: str | None = None,
    details: dict[str, str | int | bool] | None = None,
) -> AuditRecord:
    """The audit record of a flow, from its context and its timestamps."""
    ctx = FlowContext.of(flow)
    p, d = ctx.principal, ctx.destination
    principal = RecordPrincipal(
        issuer=p.issuer if p else None,
        subject=p.subject if p else None,
        email=p.email if p else None,
        department=p.department if p else None,
        groups=p.groups if p else (),
        auth_method=p.auth_method if p else None,
        session_id=p.session_id[:16]
        if p and p.session_id
        else None,  # a prefix names it; the hash is not shown
        client_addr=client_address(flow) or None,
    )
    req, resp = flow.request, flow.response
    destination = (
        RecordDestination(
            d.provider,
            d.service_id,
            d.host,
            "webapp" if d.kind == "webapp" else "api",
            d.api,
            d.model,
        )
        if d
        else RecordDestination("-", "-", req.host[:253] or "-", "api")
    )
    decision = (
        RecordDecision(
            ctx.decision.action,
            ctx.decision.rule_id,
            ctx.decision.policy_version,
            ctx.decision.reason,
        )
        if ctx.decision
        else None
    )
    findings = tuple(
        DlpFinding(e.entity_type, e.count, e.segment)
        for e in (ctx.redaction.entities if ctx.redaction else ())
    )
    usage = (
        RecordUsage(ctx.usage.input_tokens, ctx.usage.output_tokens, ctx.usage.estimated)
        if ctx.usage
        else None
    )
    upstream = resp is not None and ctx.outcome is None and req.timestamp_end is not None
    timing = Timing(
        started_at=format_ts(datetime.datetime.fromtimestamp(req.timestamp_start, datetime.UTC)),
        upstream_latency_ms=_ms(resp.timestamp_start - req.timestamp_end)
        if upstream and resp and req.timestamp_end
        else None,
        ttfb_ms=_ms(resp.timestamp_start - req.timestamp_start) if resp else None,
        total_ms=_ms(resp.timestamp_end - req.timestamp_start)
        if resp and resp.timestamp_end
        else None,
    )
    chosen = outcome or ctx.outcome or ("redacted" if findings else "allowed")
    if chosen not in _OUTCOMES | {"allowed", "upstream_error", "client_abort", "audit_error"}:
        chosen = "allowed"
    details = dict(details or {})
    if resp is not None and d is not None and ctx.outcome is None:
        # The provider's own request id lets the SIEM join our record with the provider's logs.
        rid = resp.headers.get("x-request-id") or resp.headers.get("request-id")
        if rid:
            details["upstream_request_id"] = str(rid)[:128]
    prompt = redacted_prompt(flow)
    return AuditRecord.new(
        kind="flow",
        tenant=p.tenant if p else SYSTEM_TENANT,
        outcome=chosen,
        status=resp.status_code if resp else None,
        principal=principal,
        destination=destination,
        decision=decision,
        findings=findings,
        usage=usage,
        timing=timing,
        details=details,
        prompt=prompt[:MAX_PROMPT_CHARS] if prompt else None,
    )


class Audit:
    def __init__(self, trail: AuditTrail) -> None:
        self.trail = trail
        self._stream_start: weakref.WeakKeyDictionary[http.HTTPFlow, str] = (
            weakref.WeakKeyDictionary()
        )

    async def http_connect(self, flow: http.HTTPFlow) -> None:
        if FlowContext.of(flow).outcome == "refused_host":
            await self._write(flow, flow_record(flow), fail_closed=False)

    async def responseheaders(self, flow: http.HTTPFlow) -> None:
        if (
            flow.response is None
            or not flow.response.stream
            or FlowContext.of(flow).destination is None
        ):
            return
        record = flow_record(flow)
        if await self._write(flow, record, fail_closed=True):
            self._stream_start[flow] = record.record_id

    async def response(self, flow: http.HTTPFlow) -> None:
        ctx = FlowContext.of(flow)
        if ctx.destination is None and ctx.outcome is None:
            return  # not an LLM flow: nothing to record
        first = self._stream_start.pop(flow, None)
        if first is not None:
            await self._write(
                flow,
                flow_record(flow, details={"phase": "stream_end", "flow_record": first}),
                fail_closed=False,
            )
            return
        if flow.response is not None and flow.response.stream:
            return  # the stream's first record could not be written; the flow was refused
        await self._write(flow, flow_record(flow), fail_closed=True)

    async def error(self, flow: http.HTTPFlow) -> None:
        ctx = FlowContext.of(flow)
        if ctx.destination is None:
            return
        aborted = flow.error is not None and "client disconnected" in flow.error.msg.lower()
        first = self._stream_start.pop(flow, None)
        details: dict[str, str | int | bool] = {
            "error": (flow.error.msg if flow.error else "")[:200]
        }
        if first is not None:
            details["flow_record"] = first
        await self._write(
            flow,
            flow_record(flow, "client_abort" if aborted else "upstream_error", details=details),
            fail_closed=False,
        )

    async def _write(self, flow: http.HTTPFlow, record: AuditRecord, *, fail_closed: bool) -> bool:
        try:
            await self.trail.record(record)
            return True
        except AuditUnavailable:
            if fail_closed and flow.response is not None:
                ctx = FlowContext.of(flow)
                provider = ctx.destination.provider if ctx.destination else "openai"
                message = (
                    "Egress Warden cannot record this request in the audit trail right now, "
                    "so it was not sent. Try again shortly; if it persists, tell your IT "
                    "service desk."
                )
                flow.response = http.Response.make(
                    503,
                    error_body(provider, 503, message, "warden_audit_unavailable"),
                    {"Content-Type": "application/json", "Retry-After": "30"},
                )
                ctx.replace(outcome="audit_error").save(flow)
            return False
