"""The "still allowed" rule: deactivated, out of every LLM group, or unknown where gated."""

from __future__ import annotations

from warden.identity.scim.access import still_allowed
from warden.identity.sessions import UserIdentity

from .conftest import LLM_GROUP, Scim

ISS = "https://idp.example"
TENANTS = {"acme", "globex"}


def who(subject: str, tenant: str = "acme") -> UserIdentity:
    return UserIdentity(tenant=tenant, issuer=ISS, subject=subject)


async def test_the_rule(scim: Scim) -> None:
    ann = await scim.user("ann@acme.example", externalId="00u-ann", active=True)
    await scim.user("bob@acme.example", externalId="00u-bob", active=True)
    await scim.user("cy@acme.example", externalId="00u-cy", active=False)
    await scim.group(LLM_GROUP, [ann["id"]])
    service = scim.service
    assert still_allowed(service, TENANTS, who("00u-ann"))
    assert not still_allowed(service, TENANTS, who("00u-bob"))  # in no LLM group
    assert not still_allowed(service, TENANTS, who("00u-cy"))  # deactivated
    assert not still_allowed(service, TENANTS, who("00u-nobody"))  # unknown where acme gates
    assert still_allowed(service, TENANTS, who("00u-nobody", "globex"))  # globex does not gate
    assert still_allowed(service, {"globex"}, who("00u-bob"))  # acme without SCIM: not its call
