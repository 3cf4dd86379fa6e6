"""The facts a decision is made from: who sends (``PrincipalFacts``), what (``RequestFacts``).

Small frozen value objects so ``decide`` stays a pure function. The policy addon maps
the flow's ``FlowContext`` (ResolvedPrincipal, CatalogDestination, the DLP findings)
onto them; nothing here knows about flows, and nothing here holds a request's text: DLP
findings arrive as entity *types* only, never the values found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["api", "webapp"]


@dataclass(frozen=True, slots=True)
class PrincipalFacts:
    """The person or service behind a flow.

    ``tenant=None``: no tenant could be attributed (blocked). ``subject=None``: anonymous
    (blocked unless the tenant allows anonymous flows). ``roles`` are roles the identity
    layer already knows; the tenant's ``roles:`` mapping adds roles from ``groups``.
    """

    tenant: str | None
    subject: str | None
    department: str | None = None
    groups: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the scope stage and the provider adapter learned about one request.

    ``parsed=False``: the adapter could not read the request's text. ``body_bytes`` and
    ``segments`` size the request (bytes of the body as sent, text segments found).

    ``entity_types`` is ``None`` before the DLP stage ran and the set of entity types it
    found afterwards (``frozenset()`` = ran, found nothing). A first decision with ``None``
    treats rules conditioned on findings as not yet decidable and says so
    (``PolicyDecision.dlp_pending``); the caller runs DLP and decides again with the types.
    """

    provider: str
    service: str
    host: str
    kind: Kind
    api: str | None = None
    model: str | None = None
    parsed: bool = True
    body_bytes: int = 0
    segments: int = 0
    entity_types: frozenset[str] | None = None
