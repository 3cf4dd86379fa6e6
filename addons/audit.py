"""Audit: a flow's record committed before its prompt leaves, and its answer's before release.

With ``fail_closed`` (the default) a flow that is about to go upstream is recorded first,
in the ``request`` hook, as the chain's last stage: who, where, the decision and the
findings (``details.phase = "request"``; never the prompt text). If that record cannot be
committed the request is answered here (503 in the provider's error shape) and nothing
leaves. The answer's record follows and names the first one (``details.flow_record``),
as a streamed answer's end record always named its start record: plain responses are
recorded in the ``response`` hook, which mitmproxy awaits before it sends anything; a
streamed answer when its headers arrive, before the first byte goes out
(``details.phase = "stream_start"``), and again
(``details.phase = "stream_end"``) with usage and timing when the stream ends. The
answer's record carries the (redacted) prompt where the tenant's policy keeps it.

Flows answered before they leave (refused host, sign-in challenge, policy or DLP block)
get one record, as do failed flows. A tenant that chose ``fail_open`` keeps one record
per flow, written after the answer, and the flow goes on when it cannot be written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final, Protocol

from mitmproxy import http

from warden.addons.answers import answer_error
from warden.addons.flowcontext import FlowContext
from warden.addons.flowstate import state, state_of
from warden.addons.identify import REFUSED_NOTE, client_address
from warden.addons.prompts import redacted_prompt
from warden.addons.scope import parsed_request
from warden.addons.uploads import uploaded_files
from warden.audit import AuditUnavailable
from warden.audit.fields import MAX_DETAIL_VALUE_LEN, fit_text
from warden.audit.flowrecord import (
    decision_part,
    destination_part,
    findings_part,
    flow_outcome,
    flow_record_data,
    principal_part,
    status_and_details,
    timing_part,
    usage_part,
)
from warden.audit.flowrecord import request_part as request_data
from warden.audit.record import MAX_REQUEST_ID, SYSTEM_TENANT
from warden.providers.clients import client_family
from warden.providers.sidecalls import side_call_of
from warden.providers.webapps import CHATGPT_API, file_references

logger = logging.getLogger("warden.audit")


class AuditTrail(Protocol):
    """Where records go: the gateway's audit trail (``warden/gateway/wiring/``), passed in."""

    async def record_data(self, data: dict[str, Any]) -> None:
        """Commit the record; raises ``AuditUnavailable`` when it cannot and the tenant
        fails closed."""

    def fails_closed(self, tenant: str) -> bool:
        """True when a flow of ``tenant`` must not go on without its record."""


def flow_record(
    flow: http.HTTPFlow,
    outcome: str | None = None,
    details: dict[str, str | int | bool] | None = None,
    ctx: FlowContext | None = None,
    prompt: str | None = None,
    *,
    with_prompt: bool = True,
) -> dict[str, Any]:
    """The audit record of a flow as plain data (built by ``audit.flowrecord``).

    ``ctx`` stands in for the flow's own context where one flow carries several exchanges
    (a WebSocket's messages and turns: addons/websocket.py); ``prompt`` is then that
    exchange's redacted prompt, instead of the flow's.
    """
    exchange = ctx is not None  # one exchange of a flow that carries several
    if ctx is None:
        ctx = FlowContext.of(flow)
    p, d = ctx.principal, ctx.destination
    req, resp = flow.request, flow.response
    findings = findings_part(ctx.redaction.entities if ctx.redaction else ())
    files = uploaded_files(flow) if not exchange else None
    status, fitted = status_and_details(resp.status_code if resp is not None else None, details)
    if resp is not None and d is not None and ctx.outcome is None:
        # The provider's own request id lets the SIEM join our record with the provider's logs.
        rid = fit_text(_upstream_request_id(resp.headers), max_len=MAX_REQUEST_ID)
        if rid:
            fitted["upstream_request_id"] = rid
    for note in ctx.notes:
        if note.startswith(REFUSED_NOTE):  # a known person's credential, refused
            fitted["refused"] = fit_text(note[len(REFUSED_NOTE) :], max_len=64) or "-"
    if d is not None and (side_call := side_call_of(d.api)) is not None:
        fitted["side_call"] = side_call  # token_count, telemetry, model_list, bootstrap, companion
    if d is not None and d.api == CHATGPT_API and (parsed := parsed_request(flow)) is not None:
        refs = file_references(parsed.segments)  # uploads a ChatGPT message points at
        if refs:
            fitted["file_refs"] = fit_text(" ".join(refs), max_len=MAX_DETAIL_VALUE_LEN) or "-"
    kept = None if not with_prompt else prompt if exchange else redacted_prompt(flow)
    return flow_record_data(
        tenant=p.tenant if p else None,
        outcome=flow_outcome(outcome or ctx.outcome, findings=bool(findings), files=bool(files)),
        status=status,
        principal=principal_part(p, client_address(flow)),
        destination=destination_part(d, req.host),
        decision=decision_part(ctx.decision),
        findings=findings,
        usage=usage_part(ctx.usage),
        timing=timing_part(
            req.timestamp_start,
            req.timestamp_end,
            resp.timestamp_start if resp is not None else None,
            resp.timestamp_end if resp is not None else None,
            upstream=resp is not None and ctx.outcome is None and req.timestamp_end is not None,
        ),
        details=fitted,
        request=request_part(flow, d.conversation if d else None),
        files=files,
        prompt=kept,
    )


def request_part(flow: http.HTTPFlow, conversation: str | None) -> dict[str, Any]:
    """The record's ``request`` of a flow (``audit.flowrecord.request_part``)."""
    websocket = flow.websocket is not None or (
        flow.response is not None and flow.response.status_code == 101
    )
    req = flow.request
    client = client_family(req.headers.get("user-agent"))
    return request_data(
        req.method, req.path, websocket=websocket, client=client, conversation=conversation
    )


#: ``details`` of the record committed before a request leaves.
REQUEST_PHASE: Final = {"phase": "request"}


def _upstream_request_id(headers: http.Headers) -> str | None:
    """x-request-id (OpenAI) or request-id (Anthropic), found in one pass over the headers."""
    found: str | None = None
    for name, value in headers.fields:
        lowered = name.lower()
        if lowered == b"x-request-id":
            return value.decode("utf-8", "surrogateescape")
        if lowered == b"request-id" and found is None:
            found = value.decode("utf-8", "surrogateescape")
    return found


class Audit:
    def __init__(
        self,
        trail: AuditTrail,
        evidence_of: Callable[[http.HTTPFlow], dict[str, str | int | bool]] | None = None,
    ) -> None:
        self.trail = trail
        # What a flow's record says of its sealed evidence (addons/evidence.py).
        self.evidence_of = evidence_of
        # What the stage keeps of a flow between its hooks (the first record's id, whether
        # a stream's start record is committed, a WebSocket's session record) is in the
        # flow's side table (flowstate).

    def session_record(self, flow: http.HTTPFlow) -> str | None:
        """The record id of ``flow``'s WebSocket upgrade, once written."""
        kept = state_of(flow)
        return kept.session_record if kept is not None else None

    async def record(
        self,
        flow: http.HTTPFlow,
        ctx: FlowContext,
        outcome: str | None,
        details: dict[str, str | int | bool],
        fail_closed: bool,
        prompt: str | None = None,
    ) -> str | None:
        """Commit one record of an exchange inside ``flow`` (a WebSocket message or turn),
        described by ``ctx``; its id, or ``None`` when it could not be written (the caller
        decides what failing closed means there: ``fail_closed`` is for the caller's log)."""
        try:
            data = flow_record(flow, outcome, details, ctx, prompt)
        except Exception:
            logger.exception("the audit record of a WebSocket message could not be built")
            return None
        try:
            await self.trail.record_data(data)
        except AuditUnavailable:
            if fail_closed:
                logger.error("a WebSocket message was refused: its record cannot be written")
            return None
        return str(data["record_id"])

    async def http_connect(self, flow: http.HTTPFlow) -> None:
        if FlowContext.of(flow).outcome == "refused_host":
            await self._write(flow, fail_closed=False)

    async def request(self, flow: http.HTTPFlow) -> None:
        """The last stage before the request leaves: commit its record, or refuse it."""
        if flow.response or flow.error or not flow.live:
            return  # answered here (challenge, block ...): recorded once, in `response`
        ctx = FlowContext.of(flow)
        if ctx.destination is None:
            return
        if not self.trail.fails_closed(ctx.principal.tenant if ctx.principal else SYSTEM_TENANT):
            return
        record_id = await self._commit(flow, None, dict(REQUEST_PHASE), with_prompt=False)
        if record_id is None:
            answer_error(
                flow,
                503,
                "Egress Warden cannot record this request in the audit trail right now, so "
                "it was not sent. Try again shortly; if it persists, tell your IT service desk.",
                "warden_audit_unavailable",
                "audit_error",
                {"Retry-After": "30"},
            )
            return
        state(flow).first_record = record_id

    def _joined(self, flow: http.HTTPFlow, phase: str | None = None) -> dict[str, str | int | bool]:
        kept = state_of(flow)
        first = kept.first_record if kept is not None else None
        details: dict[str, str | int | bool] = {} if phase is None else {"phase": phase}
        if first is not None:
            details["flow_record"] = first
        return details

    async def responseheaders(self, flow: http.HTTPFlow) -> None:
        if (
            flow.response is None
            or not flow.response.stream
            or FlowContext.of(flow).destination is None
        ):
            return
        details = self._joined(flow, "stream_start")
        record_id = await self._write(flow, details=details, fail_closed=True)
        if record_id is not None:
            kept = state(flow)
            if kept.first_record is None:
                kept.first_record = record_id
            kept.streaming = True

    async def response(self, flow: http.HTTPFlow) -> None:
        ctx = FlowContext.of(flow)
        if ctx.destination is None and ctx.outcome is None:
            return  # not an LLM flow: nothing to record
        kept = state_of(flow)
        if kept is not None and kept.streaming:
            kept.streaming = False
            details = self._joined(flow, "stream_end")
            kept.first_record = None
            await self._write(flow, details=details, fail_closed=False)
            return
        if flow.response is not None and flow.response.stream:
            return  # the stream's first record could not be written; the flow was refused
        details = self._joined(flow)
        if kept is not None:
            kept.first_record = None
        if flow.response is not None and flow.response.status_code == 101:
            # a WebSocket's upgrade: the session's record, which its messages' records name
            details.update({"transport": "websocket", "phase": "opened"})
            record_id = await self._write(flow, details=details, fail_closed=True)
            if record_id is not None:
                state(flow).session_record = record_id
            return
        await self._write(flow, details=details or None, fail_closed=True)

    async def error(self, flow: http.HTTPFlow) -> None:
        ctx = FlowContext.of(flow)
        if ctx.destination is None:
            return
        aborted = flow.error is not None and "client disconnected" in flow.error.msg.lower()
        details = self._joined(flow)
        kept = state_of(flow)
        if kept is not None:
            kept.streaming, kept.first_record = False, None
        details["error"] = (flow.error.msg if flow.error else "")[:200]
        outcome = "client_abort" if aborted else "upstream_error"
        await self._write(flow, outcome, details, fail_closed=False)

    async def _write(
        self,
        flow: http.HTTPFlow,
        outcome: str | None = None,
        details: dict[str, str | int | bool] | None = None,
        *,
        fail_closed: bool,
    ) -> str | None:
        """Build and commit the flow's record; its id, or ``None`` when it could not be
        written (then, with ``fail_closed``, the client gets a 503 instead of the answer)."""
        record_id = await self._commit(flow, outcome, details)
        ctx = FlowContext.of(flow)
        # A flow refused because its request could not be recorded keeps that answer.
        if (
            record_id is None
            and fail_closed
            and flow.response is not None
            and ctx.outcome != "audit_error"
        ):
            message = (
                "Egress Warden cannot record this request in the audit trail right now, "
                "so its answer is withheld. Try again shortly; if it persists, tell your "
                "IT service desk."
            )
            answer_error(
                flow,
                503,
                message,
                "warden_audit_unavailable",
                "audit_error",
                {"Retry-After": "30"},
            )
        return record_id

    async def _commit(
        self,
        flow: http.HTTPFlow,
        outcome: str | None,
        details: dict[str, str | int | bool] | None,
        *,
        with_prompt: bool = True,
    ) -> str | None:
        if self.evidence_of is not None and (sealed := self.evidence_of(flow)):
            details = {**(details or {}), **sealed}
        try:
            record = flow_record(flow, outcome, details, with_prompt=with_prompt)
        except Exception:  # a bug of ours: the answer still must not go out unrecorded
            logger.exception(
                "the audit record of a flow to %s could not be built", flow.request.pretty_host
            )
            return None
        try:
            await self.trail.record_data(record)
        except AuditUnavailable:
            return None  # AuditTrail logged why
        return str(record["record_id"])
