"""Auth events (login ok/failed, credential issued/revoked, logout, back-channel logout).

Everything that happens to a credential goes through one small interface, ``AuthEvents``;
the audit trail implements it, and until it is wired the events go to the structured log.
Events carry who and what, never a token or password.

Failures nobody signed in for (a bad proxy credential, a forged portal callback) can be
produced by anyone, as fast as they like; ``AnonymousEventThrottle`` turns a flood of them
into a bounded number of records without losing the count.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .sessions import UserIdentity

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

    @classmethod
    def about(
        cls,
        name: str,
        user: UserIdentity,
        auth_method: str,
        client_addr: str | None = None,
        *,
        reason: str | None = None,
        details: Mapping[str, str | int | bool] | None = None,
    ) -> AuthEvent:
        """An event about a known person, named as the trail names people (tenant, issuer,
        subject, e-mail)."""
        return cls(
            name,
            user.tenant,
            user.issuer,
            user.subject,
            user.email,
            auth_method,
            client_addr,
            reason,
            {} if details is None else details,
        )


class AuthEvents(Protocol):
    def emit(self, event: AuthEvent) -> None: ...


#: Failures that anyone can cause without being anyone: throttled per source.
ANONYMOUS_FAILURES = frozenset(
    {"login.failed", "credential.rejected", "logout.backchannel_rejected"}
)
WINDOW_S = 60.0
MAX_KEYS = 10_000  # sources tracked in one window; beyond, they share one overflow count
MAX_REASONS = 5  # distinct reasons named in a summary


def event_source(addr: str | None) -> str:
    """The client an event is counted for: its IPv4 address or IPv6 /64."""
    try:
        ip = ipaddress.ip_address(addr or "")
    except ValueError:
        return (addr or "-")[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


@dataclass
class _Window:
    opened: float
    first: AuthEvent
    source: str
    repeats: int = 0
    reasons: dict[str, None] = field(default_factory=dict)


class AnonymousEventThrottle:
    """Per (event, tenant, source) and window: the first anonymous failure is recorded in
    full at once; the rest of the window only count, and one summary event at the window's
    end carries the count (``details.repeats``), the window and the first few distinct
    reasons. Events with a subject (a known person) always pass. A flood from one source
    thus costs two records a minute, from many sources two per source, and at most
    ``MAX_KEYS`` sources are tracked at once (the others share one overflow count)."""

    def __init__(
        self, clock: Callable[[], float], window_s: float = WINDOW_S, max_keys: int = MAX_KEYS
    ) -> None:
        self._clock = clock
        self._window_s = window_s
        self._max_keys = max_keys
        self._windows: dict[tuple[str, str | None, str], _Window] = {}
        self._ended: list[_Window] = []  # windows that ended as a new one began
        self._lock = threading.Lock()  # emitters may be threads besides the event loop

    def admit(self, event: AuthEvent) -> bool:
        """True: record ``event`` now. False: it was counted into a later summary."""
        if event.subject is not None or event.name not in ANONYMOUS_FAILURES:
            return True
        with self._lock:
            return self._admit(event)

    def _admit(self, event: AuthEvent) -> bool:
        now = self._clock()
        key = (event.name, event.tenant, event_source(event.client_addr))
        if key not in self._windows and len(self._windows) >= self._max_keys:
            key = (event.name, event.tenant, "*")  # too many sources: one shared count
        window = self._windows.get(key)
        if window is not None and now - window.opened >= self._window_s:
            self._ended.append(window)  # summarised by the next ``due``
            window = None
        if window is None:
            self._windows[key] = _Window(now, event, key[2])
            return True
        window.repeats += 1
        if event.reason and len(window.reasons) < MAX_REASONS:
            window.reasons[event.reason[:100]] = None
        return False

    def due(self, force: bool = False) -> list[AuthEvent]:
        """The summaries of windows that ended (all of them with ``force``)."""
        now = self._clock()
        with self._lock:
            ended, self._ended = self._ended, []
            for key, window in list(self._windows.items()):
                if force or now - window.opened >= self._window_s:
                    del self._windows[key]
                    ended.append(window)
        return [self._summary(w) for w in ended if w.repeats]

    def _summary(self, window: _Window) -> AuthEvent:
        first = window.first
        details: dict[str, str | int | bool] = {
            **first.details,
            "repeats": window.repeats,
            "window_s": int(self._window_s),
            "source": window.source,  # "*": sources beyond MAX_KEYS, counted together
        }
        if window.reasons:
            details["reasons"] = " | ".join(window.reasons)
        client = first.client_addr if window.source != "*" else None
        return replace(first, client_addr=client, reason="repeated", details=details)
