"""Redact: scan the prompt's text segments with DLP and rewrite them before they leave.

The scan runs in the DLP worker pool, never on the event loop. What it finds may decide
the policy a second time (a rule on entity types); ``block`` entities stop the request
with a message that names the types, never the values; replacements are written back
through the provider adapter, so other fields stay as they were. Pseudonyms are restored
in the answer, streamed or not, before the user sees it. When the scan fails the flow
fails closed unless the profile says ``on_error: allow``.

Prompt text exists here only in memory (``scope.parsed_request``); the flow's metadata
gets entity types and counts, and the audit record gets the redacted text only when the
decision's logging level asks for it.
"""

from __future__ import annotations

import dataclasses
import logging

from mitmproxy import http

from warden.addons.answers import answer_error
from warden.addons.flowcontext import Decision, EntityCount, FlowContext, Redaction
from warden.addons.flowstate import state, state_of
from warden.addons.policy import PolicyEnforcer, principal_facts, request_facts
from warden.addons.prompts import keep_redacted_prompt
from warden.addons.response import add_stream_stage
from warden.addons.scope import parsed_request
from warden.dlp import (
    DlpBusy,
    DlpError,
    DlpRunner,
    DlpTimeout,
    restore_answer_body,
    restore_json_response,
    restore_streamed_answer,
    restores_stream,
)
from warden.policy import decide
from warden.providers.errors import refusal_status
from warden.providers.parse import rewrite_request

logger = logging.getLogger("warden.redact")

#: The web apps' answers: streams even when they come whole (with a Content-Length).
WEB_ANSWER_APIS = frozenset(
    {"chatgpt.conversation", "claude.completion", "gemini_web.stream_generate"}
)


def profile_for(d: Decision | None, default_profile: str | None) -> str | None:
    """The DLP profile a decision asks to scan with (the default one when it allows)."""
    if d is not None and d.dlp_profile and (d.action == "redact" or d.dlp_pending):
        return d.dlp_profile
    if d is None or d.action == "allow":
        return default_profile
    return None


class Redactor:
    def __init__(
        self,
        runner: DlpRunner,
        enforcer: PolicyEnforcer | None,
        default_profile: str | None,
        company: str,
        contact: str,
    ) -> None:
        self.runner = runner
        self.enforcer = enforcer
        self.default_profile = default_profile
        self.company = company
        self.contact = contact

    def _profile_for(self, ctx: FlowContext) -> str | None:
        return profile_for(ctx.decision, self.default_profile)

    def _evidence_for_profile_block(
        self, flow: http.HTTPFlow, ctx: FlowContext, found: frozenset[str]
    ) -> None:
        """The DLP profile blocks before the policy decides again on the findings; when the
        rule those findings select asks for sealed evidence (addons/evidence.py), the flow
        keeps its decision but is marked for capture, as that rule would have marked it."""
        decision, dest = ctx.decision, ctx.destination
        if decision is None or not decision.dlp_pending or self.enforcer is None or dest is None:
            return
        second = decide(
            self.enforcer.runtime.holder.get(),
            principal_facts(ctx.principal),
            request_facts(dest, len(flow.request.raw_content or b""), found),
        )
        if second.evidence:
            ctx.replace(decision=dataclasses.replace(decision, evidence=True)).save(flow)

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        ctx = FlowContext.of(flow)
        parsed = parsed_request(flow)
        if (
            ctx.destination is None
            or ctx.outcome is not None
            or parsed is None
            or not parsed.segments
        ):
            return
        profile = self._profile_for(ctx)
        if profile is None:
            return
        try:
            result = await self.runner.scan(parsed.segments, profile, _whose(flow, ctx))
        except (DlpBusy, DlpTimeout, DlpError) as exc:
            logger.error("DLP scan failed (%s): %s", type(exc).__name__, exc)
            if self.runner.profile(profile).on_error == "allow":
                ctx.replace(notes=(*ctx.notes, "dlp_error_allowed")).save(flow)
                return
            answer_error(
                flow,
                503,
                "Egress Warden could not check this request for sensitive data, so it was not "
                f"sent. Try again shortly; if it persists, contact {self.contact}.",
                "warden_dlp_unavailable",
                "dlp_error",
            )
            return
        ctx = ctx.replace(
            redaction=Redaction(
                tuple(EntityCount(f.entity_type, f.count, f.segment) for f in result.findings)
            )
        )
        ctx.save(flow)
        if result.blocked:
            self._evidence_for_profile_block(
                flow, ctx, frozenset(f.entity_type for f in result.findings)
            )
            types = ", ".join(sorted(result.blocked_types))
            answer_error(
                flow,
                refusal_status(ctx.destination.provider if ctx.destination else "openai"),
                f"Egress Warden stopped this request: it contains {types}, which must not be "
                f"sent to AI services at {self.company}. Remove it and try again; questions: "
                f"{self.contact}.",
                "warden_dlp_blocked",
                "blocked",
            )
            return
        decision = ctx.decision
        dest = ctx.destination
        assert dest is not None  # checked on entry
        if decision is not None and decision.dlp_pending and self.enforcer is not None:
            found = frozenset(f.entity_type for f in result.findings)
            size = len(flow.request.raw_content or b"")
            second = decide(
                self.enforcer.runtime.holder.get(),
                principal_facts(ctx.principal),
                request_facts(dest, size, found),
            )
            if not self.enforcer.apply(flow, ctx, second):
                return
            ctx = FlowContext.of(flow)
            if second.action != "redact":
                return  # allowed as it is: the scan informed the decision only
        if result.changed:
            if not parsed.rewritable:
                answer_error(
                    flow,
                    refusal_status(dest.provider),
                    "This request is signed by the client (AWS SigV4), so Egress Warden cannot "
                    "remove the sensitive data it contains; remove it yourself and try again.",
                    "warden_dlp_signed_request",
                    "blocked",
                )
                return
            body = flow.request.get_content(strict=False) or b""
            flow.request.content = rewrite_request(parsed, body, result.replacements)
        if result.vault is not None:
            state(flow).vault = result.vault
            # The answer is rewritten to restore pseudonyms: ask for it uncompressed.
            flow.request.headers["accept-encoding"] = "identity"
        if ctx.decision is not None and ctx.decision.logging != "metadata":
            texts = [result.replacements.get(s.path, s.text) for s in parsed.segments]
            keep_redacted_prompt(flow, "\n\n".join(texts))

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        vault = kept.vault if (kept := state_of(flow)) else None
        if vault is None or flow.response is None or not flow.response.stream:
            return
        dest = FlowContext.of(flow).destination
        if dest is None or dest.api is None or not restores_stream(dest.api):
            return  # a stream shape the restorer does not know: placeholders stay visible
        api = dest.api
        add_stream_stage(flow, lambda limit: restore_streamed_answer(api, vault, limit))

    def response(self, flow: http.HTTPFlow) -> None:
        vault = kept.vault if (kept := state_of(flow)) else None
        if vault is None or flow.response is None or flow.response.stream:
            return
        dest = FlowContext.of(flow).destination
        body = flow.response.get_content(strict=False) or b""
        api = dest.api if dest else None
        if api in WEB_ANSWER_APIS:  # a web app's event or frame stream that came whole
            # the body is already bounded (proxy.limits.decoded_body_bytes): one event or
            # frame may be as large as all of it
            flow.response.content = restore_answer_body(api, body, vault, len(body) + 1)
            return
        flow.response.content = restore_json_response(api, body, vault)


def _whose(flow: http.HTTPFlow, ctx: FlowContext) -> str:
    """Whose DLP load this is (the pool bounds and queues each apart): the person, else
    the client address (identity off)."""
    p = ctx.principal
    if p is not None:
        return f"{p.tenant}\x00{p.issuer}\x00{p.subject}"
    peer = flow.client_conn.peername
    return f"addr:{peer[0]}" if peer else "-"
