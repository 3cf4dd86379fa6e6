"""Is a signed-in person still allowed to use LLMs, as far as SCIM knows? (the "still allowed" rule)

Asked on every sign-in and credential check of a tenant that provisions by SCIM. A person
SCIM deactivated, or removed from the last group that grants LLM access, is refused. In
a tenant that gates LLM use by group, a person the directory does not know (never
provisioned, or deleted) is in no such group either: refused. Without gating, SCIM only
takes access away from the people it knows.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Final

from warden.identity.sessions import UserIdentity

from .service import ScimService


def still_allowed(service: ScimService, scim_tenants: Collection[str], user: UserIdentity) -> bool:
    """False when SCIM says ``user`` is deactivated or has no LLM group any more; a tenant
    outside ``scim_tenants`` (no SCIM) is not SCIM's to decide: True."""
    if user.tenant not in scim_tenants:
        return True
    known = False
    for key in (user.subject, user.email):
        if not key:
            continue
        if service.is_active(user.tenant, key) is False:
            return False
        access = service.has_llm_access(user.tenant, key)
        if access is False:
            return False
        known = known or access is not None
    return known or not service.gates_by_group(user.tenant)


class RememberedAnswers:
    """``check`` (the still-allowed rule, a few database reads) answered from memory.

    The proxy asks it for every service token (JWT) it resolves, on its event loop: a
    database read there would hold every flow of the process for a round trip, or for a
    stalled server's bound. An answer is remembered under ``generation()`` (the session
    store's revocation count, which moves on every revocation made here, every push from
    the control plane and every notification of a SCIM or session change from the
    database) and forgotten when it moves; ``cached`` never reads the database.
    """

    MAX: Final = 10_000

    def __init__(
        self, check: Callable[[UserIdentity], bool], generation: Callable[[], int]
    ) -> None:
        self._check = check
        self._generation = generation
        self._answers: dict[tuple[str, str, str | None], tuple[int, bool]] = {}

    def cached(self, user: UserIdentity) -> bool | None:
        """The remembered answer, if still current; None: ask ``__call__`` (off the loop)."""
        known = self._answers.get((user.tenant, user.subject, user.email))
        if known is None or known[0] != self._generation():
            return None
        return known[1]

    def __call__(self, user: UserIdentity) -> bool:
        """Ask the database (a thread's work) and remember the answer."""
        generation = self._generation()  # before the reads: a change meanwhile voids it
        allowed = self._check(user)
        if len(self._answers) >= self.MAX:
            self._answers.clear()
        self._answers[(user.tenant, user.subject, user.email)] = (generation, allowed)
        return allowed
