"""Tenant isolation: tenant A's SCIM token against every tenant-B resource and endpoint.

Every cell must answer 404 (never 403: a 403 would confirm that the thing exists), and
nothing of tenant B may change. Grow this matrix with every new endpoint.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Scim

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


async def tenant_b(scim: Scim) -> dict[str, Any]:
    user = await scim.user("bob@globex.example", tenant="globex", externalId="ext-bob")
    group = await scim.group("LLM Users", [user["id"]], tenant="globex")
    _, user, _ = await scim.call("GET", f"Users/{user['id']}", tenant="globex", expect=200)
    return {"user": user, "group": group}


def snapshot(scim: Scim) -> list[tuple[Any, ...]]:
    conn = scim.service.store._conn
    rows: list[tuple[Any, ...]] = []
    for table in ("scim_users", "scim_groups", "scim_members"):
        rows += [
            (table, *r) for r in conn.execute(f"SELECT * FROM {table} WHERE tenant = 'globex'")
        ]
    return sorted(rows, key=repr)


PUT_USER = {"schemas": [USER], "userName": "stolen@acme.example", "active": False}
PUT_GROUP = {"schemas": [GROUP], "displayName": "stolen", "members": []}
PATCH_USER = {
    "schemas": [PATCH],
    "Operations": [{"op": "replace", "path": "active", "value": False}],
}
PATCH_GROUP = {"schemas": [PATCH], "Operations": [{"op": "remove", "path": "members"}]}

# (method, path with {user}/{group} for tenant B's ids, body)
RESOURCE_CELLS = [
    ("GET", "Users/{user}", None),
    ("PUT", "Users/{user}", PUT_USER),
    ("PATCH", "Users/{user}", PATCH_USER),
    ("DELETE", "Users/{user}", None),
    ("GET", "Groups/{group}", None),
    ("PUT", "Groups/{group}", PUT_GROUP),
    ("PATCH", "Groups/{group}", PATCH_GROUP),
    ("DELETE", "Groups/{group}", None),
]
ENDPOINT_CELLS = [
    ("GET", "Users", None),
    ("POST", "Users", {"schemas": [USER], "userName": "planted@globex.example"}),
    ("POST", "Users/.search", {"filter": "userName pr"}),
    ("GET", "Groups", None),
    ("POST", "Groups", {"schemas": [GROUP], "displayName": "planted"}),
    ("POST", "Groups/.search", {}),
    ("POST", ".search", {}),
    ("GET", "ServiceProviderConfig", None),
    ("GET", "ResourceTypes", None),
    ("GET", "ResourceTypes/User", None),
    ("GET", "Schemas", None),
    ("GET", f"Schemas/{USER}", None),
    ("GET", "Nope", None),
]


@pytest.mark.parametrize(("method", "path", "body"), RESOURCE_CELLS)
@pytest.mark.parametrize("url_tenant", ["acme", "globex"])
async def test_tenant_b_resources_are_not_found_with_tenant_a_token(
    scim: Scim, url_tenant: str, method: str, path: str, body: Any
) -> None:
    """Through A's own URL (B's id is unknown there) and through B's URL (wrong tenant)."""
    b = await tenant_b(scim)
    before = snapshot(scim)
    target = path.format(user=b["user"]["id"], group=b["group"]["id"])
    status, data, _ = await scim.call(method, target, body, tenant=url_tenant, as_tenant="acme")
    assert status == 404, (status, data)
    assert data["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert b["user"]["id"] not in data["detail"] or url_tenant == "acme"
    assert snapshot(scim) == before
    assert scim.rec.deprovisioned == []


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINT_CELLS)
async def test_tenant_b_endpoints_are_not_found_with_tenant_a_token(
    scim: Scim, method: str, path: str, body: Any
) -> None:
    await tenant_b(scim)
    before = snapshot(scim)
    status, data, _ = await scim.call(method, path, body, tenant="globex", as_tenant="acme")
    assert status == 404, (status, data)
    assert data["detail"] == "not found"  # the same words whatever was asked
    assert snapshot(scim) == before


@pytest.mark.parametrize(
    "query",
    [
        "",
        '?filter=userName eq "bob@globex.example"',
        '?filter=externalId eq "ext-bob"',
        "?filter=userName pr",
        '?filter=userName sw "b" or not (userName sw "b")',
        '?filter=emails[value co "globex"]',
        '?filter=groups[display eq "LLM Users"]',
        "?startIndex=1&count=1000",
    ],
)
async def test_lists_never_show_tenant_b(scim: Scim, query: str) -> None:
    b = await tenant_b(scim)
    mine = await scim.user("alice@acme.example")
    status, page, _ = await scim.call("GET", "Users" + query)
    assert status == 200
    ids = [r["id"] for r in page["Resources"]]
    assert b["user"]["id"] not in ids
    assert set(ids) <= {mine["id"]}
    _, id_page, _ = await scim.call("GET", f'Users?filter=id eq "{b["user"]["id"]}"', expect=200)
    assert id_page["totalResults"] == 0
    _, groups, _ = await scim.call("GET", 'Groups?filter=displayName eq "LLM Users"', expect=200)
    assert groups["totalResults"] == 0


async def test_tenant_b_ids_cannot_become_members_in_tenant_a(scim: Scim) -> None:
    b = await tenant_b(scim)
    before = snapshot(scim)
    mine = await scim.group("Mine")
    for value in (b["user"]["id"], b["group"]["id"], "00000000-0000-0000-0000-000000000000"):
        body = {"schemas": [GROUP], "displayName": "Planted", "members": [{"value": value}]}
        status, created, _ = await scim.call("POST", "Groups", body)
        assert status == 400 and created["scimType"] == "invalidValue"
        patch = {
            "schemas": [PATCH],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": value}]}],
        }
        status, patched, _ = await scim.call("PATCH", f"Groups/{mine['id']}", patch)
        assert status == 400
        # an existing id of B gets the very answer a random one gets
        assert patched["detail"].replace(value, "X") == created["detail"].replace(value, "X")
    assert snapshot(scim) == before


async def test_same_names_in_two_tenants_are_two_resources(scim: Scim) -> None:
    b = await tenant_b(scim)
    a_user = await scim.user("bob@globex.example", externalId="ext-bob")
    assert a_user["id"] != b["user"]["id"]
    await scim.call("DELETE", f"Users/{a_user['id']}", expect=204)
    _, still, _ = await scim.call("GET", f"Users/{b['user']['id']}", tenant="globex", expect=200)
    assert still["meta"]["version"] == b["user"]["meta"]["version"]
    assert scim.service.is_active("globex", "ext-bob") is True
    assert scim.service.is_active("acme", "ext-bob") is None
    assert scim.service.groups_of("acme", "bob@globex.example") == []
    assert [t for t, _ in scim.rec.deprovisioned] == ["acme"]
