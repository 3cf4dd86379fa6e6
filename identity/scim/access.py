"""Is a signed-in person still allowed to use LLMs, as far as SCIM knows? (the "still allowed" rule)

Asked on every sign-in and credential check of a tenant that provisions by SCIM. A person
SCIM deactivated, or removed from the last group that grants LLM access, is refused. In
a tenant that gates LLM use by group, a person the directory does not know (never
provisioned, or deleted) is in no such group either: refused. Without gating, SCIM only
takes access away from the people it knows.
"""

from __future__ import annotations

from collections.abc import Collection

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
