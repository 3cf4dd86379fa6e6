"""The console's messages: small dataclasses that widgets post and screens handle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from textual.message import Message

from .flows import FlowFilter


@dataclass
class EdgeReached(Message):
    """The flow table's cursor or scroll reached the loaded rows' top or bottom."""

    edge: Literal["top", "bottom"]


@dataclass
class RowChosen(Message):
    """The reviewer chose the flow table's row ``row`` (Enter or a click)."""

    row: int


@dataclass
class HeaderChosen(Message):
    """The reviewer clicked the flow table's header of column ``key``."""

    key: str


@dataclass
class FilterApplied(Message):
    """The reviewer asked for another filter."""

    filter: FlowFilter


@dataclass
class SessionsRevoked(Message):
    """The gateway confirmed a revocation of ``revoked`` sessions."""

    tenant: str
    revoked: int
