"""SCIM on a running gateway: routes per tenant, and deprovisioning that cuts access at once.

When the IdP deactivates or deletes a person, or removes them from the last group that
grants LLM access, every session, surrogate binding and device credential of that person
ends before the SCIM response is sent; new sign-ins of a deactivated person are refused.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping

from aiohttp import web

from warden.config import Config
from warden.identity.scim import (
    ProvisionedUser,
    ScimCredentials,
    ScimService,
    ScimStore,
    scim_routes,
)
from warden.identity.scim.access import still_allowed
from warden.identity.sessions import SessionStore, UserIdentity

logger = logging.getLogger("warden.scim")

AdminEvent = Callable[[str, str | None, Mapping[str, str | int | bool]], None]


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

    def _event(self, name: str, tenant: str, details: Mapping[str, str | int | bool]) -> None:
        self.audit(name, tenant, details)

    def _deprovision(self, tenant: str, user: ProvisionedUser) -> None:
        ids = [user.external_id or "", user.user_name, *user.emails]
        count = self.sessions.revoke_person(tenant, ids, "deprovisioned by SCIM")
        logger.info("SCIM deprovisioned %s in %s: %d session(s) ended", user.id, tenant, count)
        self.audit("scim.access_cut", tenant, {"scim_id": user.id, "sessions_ended": count})

    def allows(self, user: UserIdentity) -> bool:
        """SCIM's "still allowed" rule (identity/scim/access.py) for this gateway's tenants."""
        return still_allowed(self.service, self.enabled, user)

    def routes(self, public_url: str) -> list[web.RouteDef]:
        return scim_routes(self.service, public_url)
