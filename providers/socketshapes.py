"""What a WebSocket protocol adapter reports: one client message, one server event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .shapes import TextSegment, Usage

#: ``turn``: asks the model for an answer (policy, DLP, a turn in the audit trail).
#: ``input``: adds text to the conversation without asking yet (policy and DLP too).
#: ``audio``: audio frames, counted, not transcribed. ``control``: no text, no model
#: (cancel, clear, delete ...). ``unreadable``: not understood; refused.
MessageKind = Literal["turn", "input", "audio", "control", "unreadable"]


@dataclass(frozen=True, slots=True)
class ClientMessage:
    """What one client message asks. ``event`` is the message's ``type`` when it is a
    known one, else a fixed phrase; ``model`` is ``None`` when the message names none
    (the session's model applies); ``reason`` says why an unreadable message is refused."""

    kind: MessageKind
    event: str
    model: str | None = None
    segments: tuple[TextSegment, ...] = ()
    audio_bytes: int = 0
    reason: str | None = None
    #: The multiplexing lane (Responses ``stream_id``) the turn runs on; ``None``: the one.
    lane: str | None = None


@dataclass(frozen=True, slots=True)
class ServerEvent:
    """What one server event says: the usage of the finished turn, whether it ends one."""

    event: str | None
    usage: Usage | None = None
    ends_turn: bool = False
    lane: str | None = None
