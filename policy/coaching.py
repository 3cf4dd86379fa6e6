"""Coaching acknowledgements: who acknowledged which notice, valid for the rule's period.

In memory, per process: after a restart users acknowledge again, which errs on the side
of showing the notice. The key includes a digest of the notice's text, so changing the
message in the policy asks everyone again; changing anything else does not.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable

from .engine import PolicyDecision
from .facts import PrincipalFacts


class CoachAcknowledgements:
    """``acknowledge`` after the user confirmed; ``is_acknowledged`` before coaching again."""

    def __init__(self, max_entries: int = 200_000) -> None:
        self._until: dict[tuple[str, str, str, str], float] = {}
        self._lock = threading.Lock()
        self._max = max_entries
        #: Where another process records acknowledgements (the portal's, with the control
        #: plane in its own process): takes in what it wrote, True when there was any.
        #: Asked once before a person is coached again, so an acknowledgement made a
        #: moment ago counts at once, not at the next periodic look.
        self.missed: Callable[[float], bool] | None = None

    def is_acknowledged(
        self, principal: PrincipalFacts, decision: PolicyDecision, now: float
    ) -> bool:
        key = _key(principal, decision)
        if key is None:
            return False
        until = self._until.get(key)
        if until is None and self.missed is not None and self.missed(now):
            until = self._until.get(key)
        return until is not None and now < until

    def acknowledge(
        self, principal: PrincipalFacts, decision: PolicyDecision, now: float
    ) -> float | None:
        """Record the acknowledgement; when it expires (``None``: anonymous, not kept)."""
        key = _key(principal, decision)
        if key is None or decision.coach_period_s is None:
            return None
        until = now + decision.coach_period_s
        with self._lock:
            if len(self._until) >= self._max:
                self._until = {k: v for k, v in self._until.items() if v > now}
            self._until[key] = until
        return until


def _key(p: PrincipalFacts, d: PolicyDecision) -> tuple[str, str, str, str] | None:
    if p.tenant is None or p.subject is None:
        return None
    digest = hashlib.sha256((d.coach_message or "").encode()).hexdigest()[:16]
    return (p.tenant, p.subject, d.rule_id, digest)
