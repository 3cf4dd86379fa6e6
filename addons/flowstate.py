"""FlowState: the one side table of what the stages keep about a flow in memory only.

The flow's context (``flowcontext``) is plain data in the flow's metadata, which mitmproxy
saves and shows. What must never go there lives here, beside the flow, for as long as
the flow lives (a weak reference: nothing to clean up): the parsed request with its
prompt text, the redacted prompt kept for the audit record, the pseudonym vault that
restores the answer, a WebSocket's admitted protocol and live session, the uploaded
files' facts for the record, the request body held for sealed evidence, and the audit
stage's record ids that join a flow's later records to its first.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from warden.addons.evidence import SentBody, StreamCapture
    from warden.addons.websocket import Session
    from warden.dlp import PseudonymVault
    from warden.providers import ParsedRequest
    from warden.providers.sockets import SocketProtocol


class FlowState:
    """A flow's in-memory state; every field starts empty (None, or False)."""

    __slots__ = (
        "__weakref__",
        "admitted_socket",
        "evidence",
        "evidence_request",
        "evidence_stream",
        "files",
        "first_record",
        "parsed",
        "prompt",
        "session_record",
        "socket",
        "streaming",
        "vault",
    )

    def __init__(self) -> None:
        #: What the provider adapter parsed (scope), prompt text included.
        self.parsed: ParsedRequest | None = None
        #: The redacted prompt, kept only where the tenant's logging level asks for it.
        self.prompt: str | None = None
        #: The pseudonyms of the request's redaction, to restore in the answer.
        self.vault: PseudonymVault | None = None
        #: The protocol and model of an admitted WebSocket upgrade, until it starts.
        self.admitted_socket: tuple[SocketProtocol | None, str | None] | None = None
        #: The live WebSocket session, from its start to its end.
        self.socket: Session | None = None
        #: The audit record's ``files`` of an upload (uploads), facts only, never content.
        self.files: tuple[dict[str, Any], ...] | None = None
        #: The request body as the client sent it, until it is sealed (evidence).
        self.evidence_request: SentBody | None = None
        #: A captured flow's streamed answer, assembled as the client gets it (evidence).
        self.evidence_stream: StreamCapture | None = None
        #: What the flow's record says of its sealed evidence (id and hash, or the error).
        self.evidence: dict[str, str | int | bool] | None = None
        #: The id of the flow's first record (its request record, else a stream's start
        #: record): its later records name it in ``details.flow_record`` (audit).
        self.first_record: str | None = None
        #: The start record of the flow's streamed answer is committed (audit).
        self.streaming: bool = False
        #: The record of a WebSocket upgrade (101): its messages' records name it (audit).
        self.session_record: str | None = None


_states: weakref.WeakKeyDictionary[Any, FlowState] = weakref.WeakKeyDictionary()


def state(flow: object) -> FlowState:
    """The flow's state, made on first use."""
    found = _states.get(flow)
    if found is None:
        found = _states[flow] = FlowState()
    return found


def state_of(flow: object) -> FlowState | None:
    """The flow's state if a stage kept anything, else None (nothing is made)."""
    return _states.get(flow)
