"""Auth events (login ok/failed, credential issued/revoked, logout, back-channel logout).

Everything that happens to a credential goes through one small interface, ``AuthEvents``;
the audit trail implements it, and until it is wired the events go to the structured log.
Events carry who and what, never a token or password.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

logger = logging.getLogger("warden.auth")


@dataclass(frozen=True, slots=True)
class AuthEvent:
    name: str  # login.ok, login.failed, credential.issued, credential.revoked, logout, ...
    tenant: str | None = None
    issuer: str | None = None
    subject: str | None = None
    email: str | None = None
    auth_method: str | None = None
    client_addr: str | None = None
    reason: str | None = None
    details: Mapping[str, str | int | bool] = field(default_factory=dict)


class AuthEvents(Protocol):
    def emit(self, event: AuthEvent) -> None: ...


class LoggedAuthEvents:
    def emit(self, event: AuthEvent) -> None:
        logger.info(
            "%s tenant=%s sub=%s method=%s client=%s%s",
            event.name,
            event.tenant or "-",
            event.subject or "-",
            event.auth_method or "-",
            event.client_addr or "-",
            f" reason={event.reason}" if event.reason else "",
        )
