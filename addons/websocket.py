"""WebSocket sessions on catalog hosts: admitted at the upgrade, judged message by message.

Without this stage a WebSocket was a bypass: mitmproxy relays the messages of an upgraded
flow without any HTTP hook, so a prompt sent over Codex CLI's socket reached the provider
unread. Here:

- The upgrade is an ordinary request: identity is bound there (407 as for any request)
  and policy decides on it. An upgrade whose socket no adapter understands
  (``providers.sockets``) is refused with a 403, unless the tenant's policy allows
  traffic the gateway cannot read (``allow_unparsed``), as for an unreadable HTTP body.
  Any other ``Upgrade`` on a catalog host, and a 101 answer to a request this stage did
  not admit, would become a raw TCP tunnel in mitmproxy: both are refused.
- Each client message is read by its protocol's adapter, then judged like an HTTP body:
  the model and the policy decision, quotas for a turn, DLP (redact, block, pseudonymize)
  in the DLP worker pool, then the message is rewritten and forwarded. A message that is
  refused is dropped and the client gets the protocol's own ``error`` event with the same
  words an HTTP client would read. A message the adapter cannot read is refused.
- Each server event has the session's pseudonyms restored (``dlp.socket_restore``: text
  deltas of one output as one stream, so a placeholder split across two deltas is
  restored; other events as whole JSON documents) and its usage read at the end of a
  turn. When an output's text ends in a held tail, the tail goes out as one more delta
  in place of the ``*.done`` event, which is injected after it (mitmproxy sends an
  injected message after the other messages of the same read: it may come a few events
  late).
- The audit trail gets the upgrade's record (the session, status 101), one record per
  judged client message (``details.transport = "websocket"``, ``details.turn``), a
  ``turn_end`` record with the turn's usage, joined by ``details.turn_record``, and a
  ``websocket_end`` record with the session's counts. A turn whose record cannot be
  written is refused (the audit trail's fail-closed rule).
- Sealed evidence (``evidence: capture`` on the rule that decides a client message), per
  exchange: the captured client messages as the client sent them, and the server
  messages that follow, as the client got them, until a turn ends (``SocketExchange``,
  each side capped by ``audit.evidence.max_bytes``). Sealed when the turn ends (the hash
  in its ``turn_end`` record, or in a ``phase: evidence`` record when the server ended a
  turn the client did not open), when a captured message is refused (in its refusal
  record, the error event as the answer), or when the socket closes first (in the
  ``websocket_end`` record, noted ``cut``). Per exchange rather than per session: a
  rule matches a message, not a socket; a session can stay open for hours, and sealing
  at its end would hold the evidence (unsealed, in memory) as long and lose it with the
  process; and per message would split a question from its answer, which an
  investigator needs together. On a multiplexed socket (Responses ``stream_id`` lanes)
  each lane has its exchange, server events go to their lane's, and a turn's end seals
  only its own; at most ``MAX_CAPTURED_LANES`` are open at once (a message captured
  beyond them is recorded ``evidence_skipped``), so a session holds at most twice the
  cap that many times.

mitmproxy 12.2 gives an addon no way to send a close frame, so where a message must stop
the whole session (an internal error while judging it) the session is muted instead:
that message and every later one in either direction are dropped, after an ``error``
event that says why. mitmproxy reassembles a fragmented message before the hook sees it;
the size cap (``proxy.websocket_max_message_bytes``) refuses larger ones unread.

Over 400 lines: one stage for a socket's life (upgrade, client and server messages, turns)
sharing its session state.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from mitmproxy import ctx as mitmproxy_ctx
from mitmproxy import http
from mitmproxy.websocket import WebSocketMessage

from warden.addons.answers import answer_error
from warden.addons.audit import Audit
from warden.addons.evidence import EvidenceCapture, SocketExchange
from warden.addons.flowcontext import EntityCount, FlowContext, Redaction, Usage
from warden.addons.flowstate import state, state_of
from warden.addons.identify import Identify
from warden.addons.policy import PolicyEnforcer, principal_facts, request_facts
from warden.identity.resolver import CredentialRejected
from warden.policy import PolicyDecision, block_response, coach_response, decide, quota_response
from warden.providers.rewrite import rewrite_request
from warden.providers.shapes import SegmentPath, TextSegment
from warden.providers.sockets import (
    ClientMessage,
    SocketProtocol,
    error_event,
    read_client,
    read_server,
    server_lane,
    socket_protocol,
)

if TYPE_CHECKING:  # the redactor imports Presidio: only when DLP is configured
    from warden.addons.redact import Redactor
    from warden.dlp.socket_restore import SocketRestorer

logger = logging.getLogger("warden.websocket")

_GENERIC_CONTACT = "your IT service desk"
#: Lanes of one socket whose turn ends are waited for (a peer opening endless lanes gets
#: its later turns recorded without their usage).
MAX_OPEN_TURNS = 64
#: Lanes of one socket whose exchanges are captured at the same time (memory: each holds
#: up to twice ``audit.evidence.max_bytes``).
MAX_CAPTURED_LANES = 4
#: The path of the scanned text that holds the session's issued placeholders (no message
#: has a key with angle brackets at the top, and it is never written back).
_ISSUED: SegmentPath = ("<issued placeholders>",)
_ISSUED_LABEL = "<issued placeholders>"


@dataclass(slots=True)
class Session:
    """One admitted WebSocket: its protocol (``None``: opaque, allowed by policy), the
    model in force, pseudonyms issued so far, the open turn and counts for the audit."""

    protocol: SocketProtocol | None
    model: str | None
    restorer: SocketRestorer | None = None
    turns: int = 0
    client_messages: int = 0
    server_messages: int = 0
    audio_frames: int = 0
    audio_bytes: int = 0
    refused: int = 0
    muted: str | None = None
    #: The client message being judged, as the client sent it (before any rewriting),
    #: and the lane it runs on.
    judged: bytes | None = None
    judged_lane: str | None = None
    #: The exchanges being captured for sealed evidence, by lane.
    exchanges: dict[str | None, SocketExchange] = field(default_factory=dict)
    #: Turns whose answer is under way, by lane (``stream_id``; ``None`` the only one).
    open_turns: dict[str | None, tuple[str, FlowContext, float]] = field(default_factory=dict)


def _is_upgrade(request: http.Request) -> str | None:
    """The ``Upgrade`` a request asks for (lower-cased), or ``None``."""
    value = request.headers.get("upgrade")
    return None if value is None else value.strip().lower()[:64]


def inject(flow: http.HTTPFlow, content: bytes) -> None:
    """Send ``content`` to the client as a text message, after the one being handled."""
    mitmproxy_ctx.master.commands.call("inject.websocket", flow, True, content, True)


def refuse_message(
    flow: http.HTTPFlow, text: str, code: str, status: int = 403, lane: str | None = None
) -> bytes:
    """Drop the message being handled; the client gets an ``error`` event saying why, on
    the message's lane (returned: what the client got)."""
    assert flow.websocket is not None
    flow.websocket.messages[-1].drop()
    event = error_event(text, code, status, lane)
    inject(flow, event)
    return event


def mute(flow: http.HTTPFlow, text: str) -> None:
    """Stop the session: this message and every later one are dropped (see module doc)."""
    kept = state_of(flow)
    if kept is not None and kept.socket is not None:
        kept.socket.muted = text
    refuse_message(flow, text, "warden_session_stopped", 502)


class WebSocketInspector:
    def __init__(
        self,
        audit: Audit,
        enforcer: PolicyEnforcer | None,
        redactor: Redactor | None,
        max_message_bytes: int,
        identify: Identify | None = None,
        evidence: EvidenceCapture | None = None,
    ) -> None:
        self.audit = audit
        self.evidence = evidence
        self.identify = identify
        self.enforcer = enforcer
        self.redactor = redactor
        self.max_message_bytes = max_message_bytes
        # who to name in refusals: the policy's (or the redactor's) company and contact
        named = enforcer or redactor
        self.company = named.company if named is not None else "your company"
        self.contact = named.contact if named is not None else _GENERIC_CONTACT
        self._pending: set[asyncio.Task[str | None]] = set()

    async def done(self) -> None:
        """Shutdown: the turn-end records still on their way are written first."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    # -- the upgrade -------------------------------------------------------------------

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        ctx = FlowContext.of(flow)
        dest = ctx.destination
        upgrade = _is_upgrade(flow.request)
        if dest is None or ctx.outcome is not None or upgrade is None:
            return
        # mitmproxy relays an upgrade it does not see as a WebSocket (no version header,
        # the option off, another protocol) as raw TCP: none of those may switch here.
        version = flow.request.headers.get("sec-websocket-version")
        if upgrade != "websocket" or not version or not mitmproxy_ctx.options.websocket:
            self._refuse_upgrade(
                flow,
                400,
                f"Egress Warden does not pass protocol upgrades ({upgrade}) to {dest.host}: "
                "the gateway could not read what goes through them.",
                "warden_upgrade_refused",
            )
            return
        found = socket_protocol(dest.service_id, flow.request.path)
        if found is None:
            if not self._unreadable_allowed(ctx):
                self._refuse_upgrade(
                    flow,
                    403,
                    f"Egress Warden refused this WebSocket to {dest.host}{_path(flow)}: the "
                    "gateway cannot read its messages, and content it cannot check may not "
                    f"leave. If you need it, contact {self.contact}.",
                    "warden_websocket_unknown",
                )
                return
            # the protocol of an admitted upgrade, turned into a session when it starts
            state(flow).admitted_socket = (None, None)
            ctx.replace(notes=(*ctx.notes, "websocket_unread")).save(flow)
            return
        protocol, model = found
        state(flow).admitted_socket = found
        ctx.replace(
            destination=replace(
                dest, api=protocol.api, model=model, parsed=True, unparsed_reason=None
            ),
            notes=(*ctx.notes, "websocket"),
        ).save(flow)

    def _unreadable_allowed(self, ctx: FlowContext) -> bool:
        """Would the tenant's policy let content the gateway cannot read through? Asked
        as the policy asks it for an unreadable HTTP body; no policy: refused."""
        if self.enforcer is None or ctx.destination is None:
            return False
        facts = request_facts(replace(ctx.destination, parsed=False), 1)
        decision = decide(self.enforcer.runtime.holder.get(), principal_facts(ctx.principal), facts)
        return decision.action != "block"

    def _refuse_upgrade(self, flow: http.HTTPFlow, status: int, text: str, code: str) -> None:
        answer_error(flow, status, text, code, "blocked", {"Connection": "close"})

    def response(self, flow: http.HTTPFlow) -> None:
        # mitmproxy turns a 101 to a request it does not see as a WebSocket into a raw TCP
        # tunnel: only upgrades admitted above may switch protocols.
        if flow.response is None or flow.response.status_code != 101:
            return
        if FlowContext.of(flow).destination is None:
            return
        switched_to = (flow.response.headers.get("upgrade") or "").strip().lower()
        kept = state_of(flow)
        if kept is not None and kept.admitted_socket is not None and switched_to == "websocket":
            return
        self._refuse_upgrade(
            flow,
            502,
            "Egress Warden refused a protocol switch it did not admit.",
            "warden_upgrade_refused",
        )

    # -- the session -------------------------------------------------------------------

    def websocket_start(self, flow: http.HTTPFlow) -> None:
        kept = state_of(flow)
        if kept is None or kept.admitted_socket is None:
            return
        kept.socket, kept.admitted_socket = Session(*kept.admitted_socket), None

    async def websocket_message(self, flow: http.HTTPFlow) -> None:
        if flow.websocket is None:
            return
        # mitmproxy keeps every message of a socket in the flow for as long as it is open;
        # the gateway needs none of the earlier ones (mitmproxy relays the current one from
        # its own reference), so a long session does not grow without bound.
        del flow.websocket.messages[:-1]
        kept = state_of(flow)
        session = kept.socket if kept is not None else None
        if session is None:
            return
        message = flow.websocket.messages[-1]
        if message.injected:
            return
        if session.muted is not None:
            message.drop()
            return
        if message.from_client:
            session.client_messages += 1
            await self._client(flow, session, message)
        else:
            session.server_messages += 1
            await self._server(flow, session, message)

    async def websocket_end(self, flow: http.HTTPFlow) -> None:
        kept = state_of(flow)
        session = kept.socket if kept is not None else None
        if kept is not None:
            kept.socket = None
        if session is None or flow.websocket is None:
            return
        ws = flow.websocket
        details: dict[str, str | int | bool] = {
            **self._join(flow),
            "phase": "websocket_end",
            "turns": session.turns,
            "client_messages": session.client_messages,
            "server_messages": session.server_messages,
            "refused_messages": session.refused,
            "audio_frames": session.audio_frames,
            "audio_bytes": session.audio_bytes,
            "closed_by": "client" if ws.closed_by_client else "server",
        }
        if ws.close_code is not None:
            details["close_code"] = int(ws.close_code)  # wsproto gives an IntEnum
        if session.open_turns:  # the socket closed before these turns' answers ended
            details["unfinished_turns"] = len(session.open_turns)
        cut = list(session.exchanges.values())
        session.exchanges = {}
        if cut:
            who = "client" if ws.closed_by_client else "server"
            note = f"cut: the socket was closed by the {who} before the turn ended"
            for other in cut[1:]:  # other lanes' exchanges: a record of their own each
                await self._sealed_turn(flow, other, _base(flow, session), None, note)
            details.update(await self._seal(flow, cut[0], note))
        await self.audit.record(flow, _base(flow, session), None, details, fail_closed=False)

    # -- client messages ---------------------------------------------------------------

    async def _client(
        self, flow: http.HTTPFlow, session: Session, message: WebSocketMessage
    ) -> None:
        if len(message.content) > self.max_message_bytes:
            session.refused += 1
            refuse_message(
                flow,
                f"Egress Warden refused a WebSocket message of {len(message.content)} bytes: "
                f"the limit is {self.max_message_bytes} bytes.",
                "warden_message_too_large",
                413,
            )
            return
        if session.protocol is None:
            return  # an opaque socket the tenant's policy allows: counted only
        read = read_client(session.protocol, message.content, message.is_text)
        if read.kind == "audio":
            session.audio_frames += 1
            session.audio_bytes += read.audio_bytes
            return
        if read.kind == "control":
            return
        try:
            await self._judge(flow, session, message, read)
        finally:
            session.judged = None  # the message's bytes are not kept past its judgment
            session.judged_lane = None

    async def _judge(
        self, flow: http.HTTPFlow, session: Session, message: WebSocketMessage, read: ClientMessage
    ) -> None:
        session.judged = message.content if self.evidence is not None else None
        session.judged_lane = read.lane
        if read.kind == "turn":
            session.turns += 1
        base = _base(flow, session)
        dest = base.destination
        assert dest is not None  # admitted sessions have one
        model = read.model or session.model
        parsed = read.kind != "unreadable"
        dest = replace(
            dest,
            model=model,
            parsed=parsed,
            unparsed_reason=read.reason,
            segments=len(read.segments),
        )
        turn = base.replace(destination=dest)
        details = {**self._join(flow), "event": read.event, "turn": session.turns}
        signed_out = await self._signed_out(flow)
        if signed_out is not None:
            await self._refused(
                flow,
                session,
                turn,
                details,
                signed_out,
                "warden_unauthenticated",
                407,
                "unauthenticated",
            )
            session.muted = signed_out
            return
        size = len(message.content)
        if self.enforcer is not None:
            policy = self.enforcer.runtime.holder.get()
            decision = decide(policy, principal_facts(turn.principal), request_facts(dest, size))
            turn = turn.replace(decision=decision)
            refusal = self._policy_refusal(flow, turn, decision, read)
            if refusal is not None:
                await self._refused(flow, session, turn, details, *refusal)
                return
        elif not parsed:
            turn = turn.replace(decision=None)
            text = (
                f"Egress Warden could not read this message ({read.event}: {read.reason}), "
                "and content it cannot check may not leave."
            )
            await self._refused(flow, session, turn, details, text, "warden_unreadable", 403)
            return
        if not parsed:
            # allowed unread by the tenant's policy: it leaves as it is, recorded as such
            await self._admit(flow, session, turn, details, read)
            return
        prompt = None
        if self.redactor is not None and read.segments:
            redacted = await self._redact(flow, session, message, read, turn, size)
            if redacted is None:
                return
            turn, prompt = redacted
        if read.model is not None:
            session.model = read.model
        await self._admit(flow, session, turn, details, read, prompt)

    async def _signed_out(self, flow: http.HTTPFlow) -> str | None:
        """Why the person behind the socket may no longer send (signed out, credential
        revoked, SCIM deactivation), or ``None``. The same look-up every HTTP request on
        the connection gets, so a revocation also ends an open socket's next message."""
        identify = self.identify
        if identify is None:
            return None
        try:
            # Identify's own per-request look-up (private there): one rule for both.
            who = await identify._who(flow)
        except CredentialRejected as exc:
            problem = exc.message
        else:
            if who is not None or not identify.enforce:
                return None
            problem = "Egress Warden: you are not signed in."
        return (
            f"{problem} This session is stopped; sign in again (`warden login`) and open a new one."
        )

    def _policy_refusal(
        self,
        flow: http.HTTPFlow,
        turn: FlowContext,
        decision: PolicyDecision,
        read: ClientMessage,
    ) -> tuple[str, str, int, str] | None:
        """The error (text, code, status, outcome) that stops this message, or ``None``."""
        assert self.enforcer is not None
        runtime = self.enforcer.runtime
        provider = turn.destination.provider if turn.destination else "openai"
        principal = principal_facts(turn.principal)
        if decision.action == "block":
            error = block_response(provider, decision, self.company, self.contact)
            return (*_error_text(error.body), error.status, "blocked")
        if decision.action == "coach" and not runtime.acks.is_acknowledged(
            principal, decision, time.time()
        ):
            url = runtime.acknowledge_url(principal, decision, flow.request.pretty_url)
            error = coach_response(provider, decision, self.company, self.contact, url)
            return (*_error_text(error.body), error.status, "coached")
        if read.kind == "turn":
            verdict = runtime.quotas.admit(principal, time.time())
            if not verdict.ok:
                error = quota_response(provider, verdict, self.company, self.contact)
                return (*_error_text(error.body), error.status, "over_quota")
        return None

    async def _redact(
        self,
        flow: http.HTTPFlow,
        session: Session,
        message: WebSocketMessage,
        read: ClientMessage,
        turn: FlowContext,
        size: int,
    ) -> tuple[FlowContext, str | None] | None:
        """DLP on the message's text: the context to record and, where the decision's
        logging level asks for it, the redacted prompt; ``None`` when refused."""
        from warden.addons.redact import profile_for
        from warden.dlp import DlpBusy, DlpError, DlpTimeout

        redactor = self.redactor
        assert redactor is not None and session.protocol is not None
        details = {**self._join(flow), "event": read.event, "turn": session.turns}
        profile = profile_for(turn.decision, redactor.default_profile)
        if profile is None:
            return turn, None
        segments = read.segments
        if session.restorer is not None:
            # Each scan numbers its pseudonyms from 1, and a socket's turns continue one
            # conversation (previous_response_id): the placeholders this session already
            # issued stand in the scanned text, so the scan skips their numbers and no
            # placeholder means two people to the model.
            issued = " ".join(session.restorer.vault)
            segments = (*segments, TextSegment(_ISSUED, "system", issued))
        try:
            result = await redactor.runner.scan(segments, profile)
        except (DlpBusy, DlpTimeout, DlpError) as exc:
            logger.error("DLP scan of a WebSocket message failed (%s): %s", type(exc).__name__, exc)
            if redactor.runner.profile(profile).on_error == "allow":
                return turn.replace(notes=(*turn.notes, "dlp_error_allowed")), None
            text = (
                "Egress Warden could not check this message for sensitive data, so it was not "
                f"sent. Try again shortly; if it persists, contact {self.contact}."
            )
            await self._refused(
                flow, session, turn, details, text, "warden_dlp_unavailable", 503, "dlp_error"
            )
            return None
        result.replacements.pop(_ISSUED, None)
        turn = turn.replace(
            redaction=Redaction(
                tuple(
                    EntityCount(f.entity_type, f.count, f.segment)
                    for f in result.findings
                    if f.segment != _ISSUED_LABEL
                )
            )
        )
        if result.blocked:
            found = frozenset(f.entity_type for f in result.findings if f.segment != _ISSUED_LABEL)
            turn = self._evidence_for_profile_block(turn, found, size)
            types = ", ".join(sorted(result.blocked_types))
            text = (
                f"Egress Warden stopped this request: it contains {types}, which must not be "
                f"sent to AI services at {self.company}. Remove it and try again; questions: "
                f"{self.contact}."
            )
            await self._refused(flow, session, turn, details, text, "warden_dlp_blocked", 403)
            return None
        decision = turn.decision
        if decision is not None and decision.dlp_pending and self.enforcer is not None:
            found = frozenset(f.entity_type for f in result.findings)
            assert turn.destination is not None
            second = decide(
                self.enforcer.runtime.holder.get(),
                principal_facts(turn.principal),
                request_facts(turn.destination, size, found),
            )
            turn = turn.replace(decision=second)
            refusal = self._policy_refusal(flow, turn, second, read)
            if refusal is not None:
                await self._refused(flow, session, turn, details, *refusal)
                return None
            if second.action != "redact":
                return turn, None  # allowed as it is: the scan informed the decision only
        if result.changed:
            message.content = rewrite_request(
                session.protocol.api, message.content, result.replacements
            )
        if result.vault is not None:
            from warden.dlp.socket_restore import SocketRestorer, merge_vaults

            if session.restorer is None:
                session.restorer = SocketRestorer(result.vault)
            else:
                session.restorer.vault = merge_vaults(session.restorer.vault, result.vault)
        prompt = None
        if turn.decision is not None and turn.decision.logging != "metadata":
            prompt = "\n\n".join(result.replacements.get(s.path, s.text) for s in read.segments)
        return turn, prompt

    def _evidence_for_profile_block(
        self, turn: FlowContext, found: frozenset[str], size: int
    ) -> FlowContext:
        """As for an HTTP body (``Redactor._evidence_for_profile_block``): the profile
        blocks before the policy decides again; when the rule the findings select asks for
        evidence, the message is captured as that rule would have had it."""
        decision, dest = turn.decision, turn.destination
        if decision is None or not decision.dlp_pending or self.enforcer is None or dest is None:
            return turn
        second = decide(
            self.enforcer.runtime.holder.get(),
            principal_facts(turn.principal),
            request_facts(dest, size, found),
        )
        if not second.evidence:
            return turn
        return turn.replace(decision=replace(decision, evidence=True))

    async def _admit(
        self,
        flow: http.HTTPFlow,
        session: Session,
        turn: FlowContext,
        details: dict[str, str | int | bool],
        read: ClientMessage,
        prompt: str | None = None,
    ) -> None:
        if self._capture(session, turn) is None:
            details = {**details, "evidence_skipped": f"over {MAX_CAPTURED_LANES} lanes"}
        record_id = await self.audit.record(flow, turn, None, details, True, prompt)
        if record_id is None:
            session.refused += 1
            refuse_message(
                flow,
                "Egress Warden cannot record this request in the audit trail right now, so it "
                "was not sent. Try again shortly; if it persists, tell your IT service desk.",
                "warden_audit_unavailable",
                503,
                read.lane,
            )
            return
        lanes = session.open_turns
        if read.kind == "turn" and (len(lanes) < MAX_OPEN_TURNS or read.lane in lanes):
            lanes[read.lane] = (record_id, turn, time.time())

    async def _refused(
        self,
        flow: http.HTTPFlow,
        session: Session,
        turn: FlowContext,
        details: dict[str, str | int | bool],
        text: str,
        code: str,
        status: int,
        outcome: str = "blocked",
    ) -> None:
        session.refused += 1
        lane = session.judged_lane
        sent = refuse_message(flow, text, code, status, lane)
        details = {**details, "status": status}
        captured = self._capture(session, turn)
        if captured is None:
            details["evidence_skipped"] = f"over {MAX_CAPTURED_LANES} lanes"
        elif captured:
            exchange = session.exchanges.pop(lane)
            exchange.server(sent)
            details.update(await self._seal(flow, exchange, None))
        await self.audit.record(flow, turn.replace(outcome=outcome), None, details, False)

    # -- server events -----------------------------------------------------------------

    async def _server(
        self, flow: http.HTTPFlow, session: Session, message: WebSocketMessage
    ) -> None:
        if session.protocol is None:
            return
        if len(message.content) > self.max_message_bytes:
            exchange = self._exchange_of(session, message.content, message.is_text)
            if exchange is not None:  # passed on as it came: captured so
                exchange.server(message.content, message.is_text)
            return  # not read: answers are not where text leaves, and cannot be restored
        exchange = self._exchange_of(session, message.content, message.is_text)
        restored = [message.content]
        if session.restorer is not None and message.is_text:
            restored = session.restorer.restore(message.content)
            message.content = restored[0]
            for later in restored[1:]:
                inject(flow, later)  # the held tail went out first, in this message
        if exchange is not None:
            for sent in restored:
                exchange.server(sent, message.is_text)
        if not session.open_turns and exchange is None:
            return
        event = read_server(session.protocol, message.content, message.is_text)
        if not event.ends_turn:
            return
        # The exchange ends with the turn, here and not in the task that seals it: the
        # next turn's messages must not join it while that task waits for its thread.
        ended = session.exchanges.pop(event.lane, None)
        opened = session.open_turns.pop(event.lane, None)
        if opened is None:
            if ended is not None:  # a turn the server began (voice activity, say)
                self._later(self._sealed_turn(flow, ended, _base(flow, session), event.event))
            return
        record_id, turn, started = opened
        usage = event.usage
        turn = turn.replace(
            usage=Usage(usage.input_tokens, usage.output_tokens, usage.estimated)
            if usage is not None
            else None
        )
        if self.enforcer is not None and usage is not None and turn.principal is not None:
            self.enforcer.runtime.quotas.record_usage(
                principal_facts(turn.principal),
                usage.input_tokens or 0,
                usage.output_tokens or 0,
                usage.estimated,
                time.time(),
            )
        details: dict[str, str | int | bool] = {
            **self._join(flow),
            "phase": "turn_end",
            "turn_record": record_id,
            "event": event.event or "-",
            "turn_ms": max(0, round((time.time() - started) * 1000)),
        }
        outcome = "upstream_error" if event.event in ("error", "response.failed") else None
        # The turn's own record was committed before its message left; this one adds the
        # usage and must not hold the answer's last event back (awaiting the audit writer's
        # commit here halved a socket's turns per second: bench/websocket.py).
        self._later(self._turn_end(flow, ended, turn, outcome, details))

    def _later(self, work: Coroutine[object, object, str | None]) -> None:
        task = asyncio.create_task(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _turn_end(
        self,
        flow: http.HTTPFlow,
        ended: SocketExchange | None,
        turn: FlowContext,
        outcome: str | None,
        details: dict[str, str | int | bool],
    ) -> str | None:
        """The turn's end record, with the exchange that ended with it sealed into it."""
        if ended is not None:
            details.update(await self._seal(flow, ended, None))
        return await self.audit.record(flow, turn, outcome, details, False)

    async def _sealed_turn(
        self,
        flow: http.HTTPFlow,
        ended: SocketExchange,
        base: FlowContext,
        event: str | None,
        note: str | None = None,
    ) -> str | None:
        """A record of its own for an exchange whose turn had no record to carry it."""
        details = {**self._join(flow), "phase": "evidence", "event": event or "-"}
        details.update(await self._seal(flow, ended, note))
        return await self.audit.record(flow, base, None, details, False)

    # -- sealed evidence ---------------------------------------------------------------

    def _capture(self, session: Session, turn: FlowContext) -> bool | None:
        """The message being judged goes into its lane's exchange when its deciding rule
        asks for evidence (a new exchange starts with it); True when it did, ``None``
        when it would have but ``MAX_CAPTURED_LANES`` other lanes hold one."""
        if self.evidence is None or session.judged is None:
            return False
        if turn.decision is None or not turn.decision.evidence or turn.principal is None:
            return False
        lane, exchanges = session.judged_lane, session.exchanges
        exchange = exchanges.get(lane)
        if exchange is None:
            if len(exchanges) >= MAX_CAPTURED_LANES:
                return None
            exchange = exchanges[lane] = SocketExchange(self.evidence.sealer.max_bytes)
        exchange.client(session.judged)
        session.judged = None
        return True

    @staticmethod
    def _exchange_of(session: Session, content: bytes, is_text: bool) -> SocketExchange | None:
        """The exchange a server event belongs to: the lane it names (decoded only when
        several lanes are open), else the only one."""
        exchanges = session.exchanges
        if not exchanges:
            return None
        lanes = exchanges.keys() | session.open_turns.keys()
        if len(lanes) == 1:
            return exchanges.get(next(iter(lanes)))
        assert session.protocol is not None  # only read sockets capture
        return exchanges.get(server_lane(session.protocol, content, is_text))

    async def _seal(
        self, flow: http.HTTPFlow, exchange: SocketExchange | None, note: str | None
    ) -> dict[str, str | int | bool]:
        """Seal a (detached) exchange; what the record says of it."""
        principal = FlowContext.of(flow).principal
        if exchange is None or self.evidence is None or principal is None:
            return {}
        return await self.evidence.seal_exchange(flow, principal.tenant, exchange, note)

    def _join(self, flow: http.HTTPFlow) -> dict[str, str | int | bool]:
        joined: dict[str, str | int | bool] = {"transport": "websocket"}
        session_record = self.audit.session_record(flow)
        if session_record is not None:
            joined["flow_record"] = session_record
        return joined


def _base(flow: http.HTTPFlow, session: Session) -> FlowContext:
    """The upgrade's context (who, where), without what was decided about the upgrade."""
    ctx = FlowContext.of(flow)
    dest = ctx.destination
    if dest is not None:
        dest = replace(dest, model=session.model)
    return FlowContext(destination=dest, principal=ctx.principal)


def _path(flow: http.HTTPFlow) -> str:
    return flow.request.path.split("?", 1)[0][:200]


def _error_text(body: bytes) -> tuple[str, str]:
    """The message and code of an error body in OpenAI's shape (the policy's answers)."""
    try:
        error = json.loads(body)["error"]
        return str(error["message"]), str(error["code"])
    except (ValueError, KeyError, TypeError):
        return body.decode("utf-8", "replace")[:1000], "warden_refused"
