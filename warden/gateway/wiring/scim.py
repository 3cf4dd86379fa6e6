"""SCIM on a running gateway: routes per tenant, and deprovisioning that cuts access at once.

When the IdP deactivates or deletes a person, or removes them from the last group that
grants LLM access, every session, surrogate binding and device credential of that person
ends before the SCIM response is sent; new sign-ins of a deactivated person are refused.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping
from typing import TYPE_CHECKING

from aiohttp import web

from warden.audit.fields import fit_text
from warden.audit.record import Principal
from warden.config import Config
from warden.identity.scim import (
    ProvisionedUser,
    ScimCredentials,
    ScimService,
    ScimStore,
    scim_routes,
)
from warden.identity.scim.access import RememberedAnswers, still_allowed
from warden.identity.sessions import SessionStore, UserIdentity

if TYPE_CHECKING:
    from warden.gateway.wiring.audit import AdminEvent

logger = logging.getLogger("warden.scim")


def person_of(details: Mapping[str, str | int | bool], issuer: str | None) -> Principal | None:
    """The person a SCIM user event changed, as the audit trail names people: ``issuer`` +
    the user's ``externalId`` (what sign-in matches as the subject) where the tenant has
    one IdP, and the ``userName`` as e-mail where it looks like one. Group events name no
    person (their ``display_name`` is in the details)."""
    external = details.get("external_id")
    user_name = details.get("user_name")
    subject = external if isinstance(external, str) and issuer else None
    email = user_name if isinstance(user_name, str) and "@" in user_name else None
    if subject is None and email is None:
        return None
    return Principal(
        issuer=issuer if subject else None,
        subject=fit_text(subject, max_len=256),
        email=fit_text(email, max_len=320),
        auth_method="scim",
    )


class ScimRuntime:
    def __init__(
        self, config: Config, conn: sqlite3.Connection, sessions: SessionStore, audit: AdminEvent
    ) -> None:
        tenants = [t for t in config.identity.tenants if t.scim]
        self.sessions = sessions
        self.audit = audit
        self.service = ScimService(
            ScimStore(conn),
            ScimCredentials(conn),
            self._event,
            self._deprovision,
            llm_access_groups={t.id: t.scim_llm_access_groups for t in tenants},
            tenants={t.id for t in tenants},
        )
        self.enabled = {t.id for t in tenants}
        #: The rule for service tokens on the proxy's loop: from memory, forgotten at every
        #: revocation, push or notification (identity/scim/access.py).
        self.remembered = RememberedAnswers(self.allows, lambda: sessions.revocations)
        issuers = {p.id: p.issuer for p in config.identity.identity_providers}
        #: A tenant's issuer where it has exactly one IdP: its SCIM people's identity of
        #: record is that issuer + externalId. With several, which one is not known.
        self._issuer = {
            t.id: issuers[t.identity_providers[0]]
            for t in tenants
            if len(t.identity_providers) == 1 and t.identity_providers[0] in issuers
        }

    def _event(self, name: str, tenant: str, details: Mapping[str, str | int | bool]) -> None:
        person = person_of(details, self._issuer.get(tenant)) if "user_id" in details else None
        self.audit(name, tenant, details, principal=person)
        self.sessions.access_changed()  # remembered "still allowed" answers are void

    def _deprovision(self, tenant: str, user: ProvisionedUser) -> None:
        ids = [user.external_id or "", user.user_name, *user.emails]
        count = self.sessions.revoke_person(tenant, ids, "deprovisioned by SCIM")
        logger.info("SCIM deprovisioned %s in %s: %d session(s) ended", user.id, tenant, count)
        details: dict[str, str | int | bool] = {
            "scim_id": user.id,
            "user_name": user.user_name,
            "sessions_ended": count,
        }
        if user.external_id:
            details["external_id"] = user.external_id
        self.audit(
            "scim.access_cut",
            tenant,
            details,
            principal=person_of(details, self._issuer.get(tenant)),
        )

    def allows(self, user: UserIdentity) -> bool:
        """SCIM's "still allowed" rule (identity/scim/access.py) for this gateway's tenants."""
        return still_allowed(self.service, self.enabled, user)

    def routes(self, public_url: str) -> list[web.RouteDef]:
        return scim_routes(self.service, public_url)
