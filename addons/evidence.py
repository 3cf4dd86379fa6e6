"""Evidence: the original request and its answer sealed for investigators, where a rule asks.

Two stages share one `EvidenceCapture`. `EvidenceSnapshot` runs before policy and keeps a
reference to the request body as the client sent it (bytes are immutable, so this costs
no copy; the redactor later replaces the flow's body, not these bytes), in the flow's
side table (``flowstate``), never in its metadata. `EvidenceSeal` runs just before the audit
stage on ``response``: when the final decision (after a DLP rescan, if any) carries
``evidence: capture``, the request and the answer as the client gets it (a block page,
or the restored answer; a streamed answer is not buffered, so only its request is
sealed, noted as ``answer_note: streamed``) are decoded, capped, encrypted to the
tenant's investigators and stored, all in a worker thread, never on the event loop. The
audit stage then writes ``details.evidence_id`` and ``details.evidence_sha256`` into the
flow's record, so the chain covers the ciphertext.

When sealing fails (no investigator keys, store error) the record says so
(``details.evidence_error``) and the flow goes on: its request has left already, and
withholding the answer would not bring it back. Start-up refuses a policy that asks for
evidence for a tenant without keys (warden/gateway/wiring/evidence.py).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import secrets
from dataclasses import dataclass
from typing import Final

from mitmproxy import http

from warden.addons.bodies import BodyTooLarge, UndecodableBody, decoded
from warden.addons.flowcontext import FlowContext
from warden.addons.flowstate import state, state_of
from warden.audit import AuditStoreError, format_ts
from warden.audit.evidence import CapturedBody, EvidenceEnvelope, EvidenceError
from warden.audit.evidence_store import HASH_KEY, ID_KEY, TRUNCATED_KEY, EvidenceSealer

logger = logging.getLogger("warden.evidence")

ERROR_KEY: Final = "evidence_error"


@dataclass(frozen=True, slots=True)
class SentBody:
    """A message's body as sent, with what it takes to decode it later."""

    raw: bytes
    content_type: str | None
    content_encoding: str | None


def _body_of(message: http.Message) -> SentBody:
    return SentBody(
        message.raw_content or b"",
        message.headers.get("content-type"),
        message.headers.get("content-encoding"),
    )


def _captured(body: SentBody, cap: int) -> CapturedBody:
    """Decoded and capped (in the worker thread); a body that decodes to more than the
    cap, or not at all, is kept as sent (still coded), capped, with its coding named."""
    try:
        data = decoded(body.raw, body.content_encoding, cap)
    except BodyTooLarge:
        if (body.content_encoding or "").strip().lower() in ("", "identity", "none"):
            return CapturedBody.capture(body.raw, cap, body.content_type)
        return CapturedBody.capture(body.raw, cap, body.content_type, body.content_encoding)
    except UndecodableBody:
        return CapturedBody.capture(body.raw, cap, body.content_type, body.content_encoding)
    return CapturedBody.capture(data, cap, body.content_type)


class EvidenceCapture:
    """The sealing of one flow, for the two stages (what they keep is in ``flowstate``)."""

    def __init__(self, sealer: EvidenceSealer) -> None:
        self.sealer = sealer

    def details_of(self, flow: http.HTTPFlow) -> dict[str, str | int | bool]:
        """What the flow's record says about its evidence (nothing when none was asked)."""
        kept = state_of(flow)
        return (kept.evidence if kept is not None else None) or {}

    def snapshot(self, flow: http.HTTPFlow) -> None:
        state(flow).evidence_request = _body_of(flow.request)

    async def seal(self, flow: http.HTTPFlow) -> None:
        kept = state_of(flow)
        request = kept.evidence_request if kept is not None else None
        if kept is not None:
            kept.evidence_request = None  # let go of the bytes in every case
        ctx = FlowContext.of(flow)
        if ctx.decision is None or not ctx.decision.evidence or ctx.principal is None:
            return
        if request is None:  # no snapshot (answered before the body was read): as it is now
            request = _body_of(flow.request)
        answer: SentBody | None = None
        note: str | None = None
        if flow.response is None:
            note = "none"
        elif flow.response.stream:
            note = "streamed"
        else:
            answer = _body_of(flow.response)
        tenant = ctx.principal.tenant
        evidence_id = secrets.token_hex(16)
        captured_at = format_ts(datetime.datetime.now(datetime.UTC))
        method, host = flow.request.method, flow.request.pretty_host
        path = flow.request.path.split("?", 1)[0]  # the query may hold keys: never kept
        cap = self.sealer.max_bytes

        def work() -> tuple[str, bool]:
            envelope = EvidenceEnvelope(
                evidence_id,
                tenant,
                captured_at,
                method,
                host,
                path,
                _captured(request, cap),
                _captured(answer, cap) if answer is not None else None,
                note,
            )
            return self.sealer.capture(envelope).sha256, envelope.truncated

        try:
            digest, truncated = await asyncio.to_thread(work)
        except (EvidenceError, AuditStoreError) as exc:
            logger.error("evidence of a flow of tenant %s was not captured: %s", tenant, exc)
            state(flow).evidence = {ERROR_KEY: str(exc)[:300]}
            return
        details: dict[str, str | int | bool] = {ID_KEY: evidence_id, HASH_KEY: digest}
        if truncated:
            details[TRUNCATED_KEY] = True
        state(flow).evidence = details


class EvidenceSnapshot:
    """Before policy: keep the request body as sent."""

    def __init__(self, capture: EvidenceCapture) -> None:
        self.capture = capture

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        if FlowContext.of(flow).destination is None:
            return
        self.capture.snapshot(flow)


class EvidenceSeal:
    """Just before the audit stage: seal what the deciding rule asked to capture."""

    def __init__(self, capture: EvidenceCapture) -> None:
        self.capture = capture

    async def response(self, flow: http.HTTPFlow) -> None:
        await self.capture.seal(flow)
