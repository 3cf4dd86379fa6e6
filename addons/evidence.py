"""Evidence: the original request and its answer sealed for investigators, where a rule asks.

Two stages share one `EvidenceCapture`. `EvidenceSnapshot` runs before policy and keeps a
reference to the request body as the client sent it (bytes are immutable, so this costs
no copy; the redactor later replaces the flow's body, not these bytes), in the flow's
side table (``flowstate``), never in its metadata. `EvidenceSeal` runs just before the audit
stage on ``response``: when the final decision (after a DLP rescan, if any) carries
``evidence: capture``, the request and the answer as the client gets it (a block page,
or the restored answer) are decoded, capped, encrypted to the tenant's investigators and
stored, all in a worker thread, never on the event loop. The audit stage then writes
``details.evidence_id`` and ``details.evidence_sha256`` into the flow's record, so the
chain covers the ciphertext.

A streamed answer is assembled as it passes: on ``responseheaders`` (after the redactor
added its restoring step) a `BodyRecorder` becomes a reader of the flow's
``AnswerStream`` and keeps the chunks the client is sent, up to
``audit.evidence.max_bytes`` (the rest is counted; the record then says
``evidence_truncated``). It is sealed when the stream ends, and the hash goes into the
``stream_end`` record, which joins the stream's first record and is chained like every
record. A stream cut by the client or the upstream (mitmproxy's ``error`` hook instead of
``response``) is sealed there with what passed until the cut (``answer_note: "cut: …"``),
and the hash goes into the flow's error record: nothing captured is dropped silently.

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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from mitmproxy import http

from warden.addons.bodies import BodyTooLarge, UndecodableBody, decoded
from warden.addons.flowcontext import FlowContext
from warden.addons.flowstate import state, state_of
from warden.addons.response import add_stream_reader
from warden.audit import AuditStoreError, format_ts
from warden.audit.evidence import BodyRecorder, CapturedBody, EvidenceEnvelope, EvidenceError
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


@dataclass(slots=True)
class StreamCapture:
    """A streamed answer being assembled for sealing."""

    recorder: BodyRecorder
    content_type: str | None
    content_encoding: str | None

    def captured(self, cap: int) -> CapturedBody:
        """Content-decoded where it can be whole; a truncated or undecodable coded stream
        is kept as sent (still coded), its coding named."""
        coding = (self.content_encoding or "").strip().lower()
        if coding in ("", "identity", "none"):
            return self.recorder.body(self.content_type)
        if self.recorder.truncated:
            return self.recorder.body(self.content_type, self.content_encoding)
        whole = self.recorder.body().data
        return _captured(SentBody(whole, self.content_type, self.content_encoding), cap)


def _answer(answer: SentBody | StreamCapture | None, cap: int) -> CapturedBody | None:
    if isinstance(answer, StreamCapture):
        return answer.captured(cap)
    return None if answer is None else _captured(answer, cap)


#: The bodies of a WebSocket exchange: its messages, one per line, as they passed.
SOCKET_MESSAGES: Final = "application/x-ndjson; warden=websocket-messages"


class SocketExchange:
    """A captured exchange of a WebSocket: the client messages a capture rule matched (as
    the client sent them, before any rewriting) and the server messages that followed
    until the turn ended (as the client got them, pseudonyms restored), one per line,
    each side bounded by the cap. A binary server message (audio) is named by its size
    only; a client's is kept as sent (it was judged, and refused unread)."""

    __slots__ = ("answer", "request")

    def __init__(self, max_bytes: int) -> None:
        self.request = BodyRecorder(max_bytes, b"\n")
        self.answer = BodyRecorder(max_bytes, b"\n")

    @staticmethod
    def _line(content: bytes, is_text: bool) -> bytes:
        if is_text:
            return content
        return b'{"warden_binary_message_bytes": %d}' % len(content)

    def client(self, content: bytes, is_text: bool = True) -> None:
        self.request.add(self._line(content, is_text))

    def server(self, content: bytes, is_text: bool = True) -> None:
        self.answer.add(self._line(content, is_text))


def cut_note(flow: http.HTTPFlow) -> str:
    """``cut: <why>`` for a flow that ended in mitmproxy's ``error`` hook."""
    why = flow.error.msg if flow.error is not None else "the connection ended"
    return f"cut: {why}"[:200]


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

    def watch_stream(self, flow: http.HTTPFlow) -> None:
        """A streamed answer of a captured flow: assemble it as the client gets it."""
        ctx = FlowContext.of(flow)
        response = flow.response
        if ctx.decision is None or not ctx.decision.evidence or response is None:
            return
        kept = state(flow)
        if not response.stream or kept.evidence_stream is not None:
            return
        recorder = BodyRecorder(self.sealer.max_bytes)
        if add_stream_reader(flow, recorder.add):
            kept.evidence_stream = StreamCapture(
                recorder,
                response.headers.get("content-type"),
                response.headers.get("content-encoding"),
            )

    async def seal(self, flow: http.HTTPFlow, cut: str | None = None) -> None:
        """Seal the flow's capture; ``cut`` says why its answer ended early (the
        ``error`` hook), then the answer holds what the client got until then."""
        kept = state_of(flow)
        request = kept.evidence_request if kept is not None else None
        stream = kept.evidence_stream if kept is not None else None
        if kept is not None:  # let go of the bytes in every case
            kept.evidence_request = kept.evidence_stream = None
        ctx = FlowContext.of(flow)
        if ctx.decision is None or not ctx.decision.evidence or ctx.principal is None:
            return
        if request is None:  # no snapshot (answered before the body was read): as it is now
            request = _body_of(flow.request)
        answer: SentBody | StreamCapture | None = None
        note: str | None = cut
        if stream is not None and (flow.response is None or flow.response.stream):
            answer = stream
        elif flow.response is None:
            note = note or "none"
        elif flow.response.stream:
            note = note or "streamed"  # not through an AnswerStream: nothing to read
        else:
            answer = _body_of(flow.response)
        cap = self.sealer.max_bytes
        state(flow).evidence = await self.seal_parts(
            flow,
            ctx.principal.tenant,
            lambda: _captured(request, cap),
            lambda: _answer(answer, cap),
            note,
        )

    async def seal_exchange(
        self, flow: http.HTTPFlow, tenant: str, exchange: SocketExchange, note: str | None
    ) -> dict[str, str | int | bool]:
        """Seal a WebSocket exchange of ``flow`` (the upgrade names method, host, path)."""
        return await self.seal_parts(
            flow,
            tenant,
            lambda: exchange.request.body(SOCKET_MESSAGES),
            lambda: exchange.answer.body(SOCKET_MESSAGES) if exchange.answer.size else None,
            note if note is not None or exchange.answer.size else "none",
        )

    async def seal_parts(
        self,
        flow: http.HTTPFlow,
        tenant: str,
        request: Callable[[], CapturedBody],
        answer: Callable[[], CapturedBody | None],
        note: str | None,
    ) -> dict[str, str | int | bool]:
        """Seal the bodies ``request()`` and ``answer()`` give (called, with the sealing,
        in a worker thread) to ``tenant``'s investigators; what the record says of it:
        the evidence id and hash, or the error."""
        evidence_id = secrets.token_hex(16)
        captured_at = format_ts(datetime.datetime.now(datetime.UTC))
        method, host = flow.request.method, flow.request.pretty_host
        path = flow.request.path.split("?", 1)[0]  # the query may hold keys: never kept

        def work() -> tuple[str, bool]:
            envelope = EvidenceEnvelope(
                evidence_id, tenant, captured_at, method, host, path, request(), answer(), note
            )
            return self.sealer.capture(envelope).sha256, envelope.truncated

        try:
            digest, truncated = await asyncio.to_thread(work)
        except (EvidenceError, AuditStoreError) as exc:
            logger.error("evidence of a flow of tenant %s was not captured: %s", tenant, exc)
            return {ERROR_KEY: str(exc)[:300]}
        details: dict[str, str | int | bool] = {ID_KEY: evidence_id, HASH_KEY: digest}
        if truncated:
            details[TRUNCATED_KEY] = True
        return details


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

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        # after the response reader made the stream and the redactor added its restorer
        if flow.response is not None and flow.response.stream and not flow.error:
            self.capture.watch_stream(flow)

    async def response(self, flow: http.HTTPFlow) -> None:
        await self.capture.seal(flow)

    async def error(self, flow: http.HTTPFlow) -> None:
        await self.capture.seal(flow, cut_note(flow))
