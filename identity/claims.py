"""From an IdP's verified claims to the person of record: tenant, department, groups.

The identity of record is ``iss`` + ``sub``; the e-mail address is only shown. The tenant
comes from the IdP's fixed tenant or from a claim, and a tenant claim is honoured only
for tenants that trust this IdP: one tenant's IdP can never mint another tenant's users.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from .sessions import UserIdentity

MAX_GROUPS = 200
MAX_TEXT = 256


class NotAllowed(Exception):
    """The IdP vouched for the person, but this gateway has no place for them."""


@dataclass(frozen=True, slots=True)
class ClaimMapping:
    issuer: str
    tenant: str | None  # fixed tenant, or None to read tenant_claim
    tenant_claim: str | None
    department_claim: str
    groups_claim: str
    #: Tenants that list this IdP: the only ones it may put people into.
    trusting_tenants: Collection[str]


def _text(value: object) -> str | None:
    return value[:MAX_TEXT] if isinstance(value, str) and value else None


def user_from_claims(claims: Mapping[str, Any], mapping: ClaimMapping) -> UserIdentity:
    if mapping.tenant is not None:
        tenant: str | None = mapping.tenant
    else:
        assert mapping.tenant_claim is not None
        tenant = _text(claims.get(mapping.tenant_claim))
        if tenant is None:
            raise NotAllowed(
                f"the sign-in carries no '{mapping.tenant_claim}' claim naming a tenant"
            )
    if tenant is None or tenant not in mapping.trusting_tenants:
        raise NotAllowed(f"tenant {tenant!r} does not accept sign-ins from this identity provider")
    groups_raw = claims.get(mapping.groups_claim, ())
    if isinstance(groups_raw, str):
        groups_raw = [groups_raw]
    groups = (
        tuple(g[:MAX_TEXT] for g in list(groups_raw)[:MAX_GROUPS] if isinstance(g, str) and g)
        if isinstance(groups_raw, list | tuple)
        else ()
    )
    return UserIdentity(
        tenant=tenant,
        issuer=mapping.issuer,
        subject=str(claims["sub"]),
        email=_text(claims.get("email")),
        department=_text(claims.get(mapping.department_claim)),
        groups=groups,
    )
