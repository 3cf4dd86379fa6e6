"""SCIM CRUD over HTTP: users, groups, discovery, pagination, ETags, errors."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Scim

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def assert_error(data: dict, status: int, scim_type: str | None = None) -> None:
    assert data["schemas"] == [ERROR]
    assert data["status"] == str(status)  # RFC 7644 §3.12: a string
    assert isinstance(data["detail"], str) and data["detail"]
    if scim_type is None:
        assert "scimType" not in data
    else:
        assert data["scimType"] == scim_type


async def test_user_lifecycle(scim: Scim) -> None:
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": "alice@acme.example",
        "externalId": "00u-alice",
        "name": {"givenName": "Alice", "familyName": "Liddell"},
        "emails": [{"value": "alice@acme.example", "type": "work", "primary": True}],
        "active": True,
        "password": "hunter2",
        ENTERPRISE: {"department": "Research", "employeeNumber": "42"},
    }
    status, created, headers = await scim.call("POST", "Users", body)
    assert status == 201
    uid = created["id"]
    assert headers["Location"] == created["meta"]["location"]
    assert created["meta"]["location"].endswith(f"/scim/v2/acme/Users/{uid}")
    assert created["meta"]["resourceType"] == "User"
    assert headers["ETag"] == created["meta"]["version"] == 'W/"1"'
    assert "password" not in created
    assert created[ENTERPRISE]["department"] == "Research"

    _, got, headers = await scim.call("GET", f"Users/{uid}", expect=200)
    assert got["userName"] == "alice@acme.example" and got["name"]["givenName"] == "Alice"
    assert "password" not in got
    assert headers["ETag"] == 'W/"1"'

    replacement = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": "alice@acme.example",
        "displayName": "Alice L.",
        "active": True,
        ENTERPRISE: {"department": "Engineering"},
    }
    _, put, headers = await scim.call("PUT", f"Users/{uid}", replacement, expect=200)
    assert put["displayName"] == "Alice L." and "name" not in put  # PUT replaces
    assert put[ENTERPRISE] == {"department": "Engineering"}
    assert headers["ETag"] == 'W/"2"'
    assert put["meta"]["created"] == created["meta"]["created"]

    await scim.call("DELETE", f"Users/{uid}", expect=204)
    status, data, _ = await scim.call("GET", f"Users/{uid}")
    assert status == 404
    assert_error(data, 404)
    assert scim.service.department_of("acme", "00u-alice") is None


async def test_password_is_never_stored(scim: Scim) -> None:
    await scim.user("p@acme.example", password="s3cret-pa55")
    conn = scim.service.store._conn
    dump = "\n".join(conn.iterdump())
    assert "s3cret-pa55" not in dump
    assert all("s3cret-pa55" not in str(e) for e in scim.rec.events)


async def test_group_lifecycle_and_user_groups(scim: Scim) -> None:
    alice = await scim.user("alice@acme.example")
    bob = await scim.user("bob@acme.example")
    group = await scim.group("Engineering", [alice["id"], bob["id"]])
    assert [m["value"] for m in group["members"]] == [alice["id"], bob["id"]]
    assert group["members"][0]["type"] == "User"
    assert group["members"][0]["$ref"].endswith(f"/Users/{alice['id']}")

    _, got, _ = await scim.call("GET", f"Users/{alice['id']}", expect=200)
    assert got["groups"] == [
        {
            "value": group["id"],
            "$ref": group["meta"]["location"],
            "display": "Engineering",
            "type": "direct",
        }
    ]
    assert scim.service.groups_of("acme", "alice@acme.example") == ["Engineering"]

    _, page, _ = await scim.call(
        "GET", 'Groups?excludedAttributes=members&filter=displayName eq "engineering"', expect=200
    )
    assert page["totalResults"] == 1
    assert "members" not in page["Resources"][0]

    # deleting a user drops it from its groups and gives the group a new version
    await scim.call("DELETE", f"Users/{bob['id']}", expect=204)
    _, got, headers = await scim.call("GET", f"Groups/{group['id']}", expect=200)
    assert [m["value"] for m in got["members"]] == [alice["id"]]
    assert headers["ETag"] != group["meta"]["version"]

    await scim.call("DELETE", f"Groups/{group['id']}", expect=204)
    _, got, _ = await scim.call("GET", f"Users/{alice['id']}", expect=200)
    assert "groups" not in got


async def test_nested_group_member_and_unknown_member(scim: Scim) -> None:
    inner = await scim.group("Inner")
    outer = await scim.group("Outer", [inner["id"]])
    assert outer["members"][0]["type"] == "Group"
    body: dict[str, Any] = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "X",
        "members": [{"value": "no-such-user"}],
    }
    status, data, _ = await scim.call("POST", "Groups", body)
    assert status == 400
    assert_error(data, 400, "invalidValue")
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": outer["id"]}]}],
    }
    status, data, _ = await scim.call("PATCH", f"Groups/{outer['id']}", patch)
    assert status == 400 and "itself" in data["detail"]


async def test_uniqueness_is_case_insensitive(scim: Scim) -> None:
    first = await scim.user("Carol@Acme.example")
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "carol@acme.EXAMPLE",
    }
    status, data, _ = await scim.call("POST", "Users", body)
    assert status == 409
    assert_error(data, 409, "uniqueness")
    other = await scim.user("dave@acme.example")
    status, data, _ = await scim.call(
        "PUT", f"Users/{other['id']}", body | {"userName": "CAROL@acme.example"}
    )
    assert status == 409 and data["scimType"] == "uniqueness"
    patch: dict[str, Any] = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "userName", "value": "carol@ACME.example"}],
    }
    status, data, _ = await scim.call("PATCH", f"Users/{other['id']}", patch)
    assert status == 409 and data["scimType"] == "uniqueness"
    # renaming oneself to another case of one's own name is fine
    patch["Operations"][0]["value"] = "CAROL@ACME.EXAMPLE"
    await scim.call("PATCH", f"Users/{first['id']}", patch, expect=200)
    # the same userName in another tenant is another person
    await scim.user("carol@acme.example", tenant="globex")


async def test_pagination_okta_probe(scim: Scim) -> None:
    ids = [(await scim.user(f"user{i}@acme.example"))["id"] for i in range(5)]
    _, page, _ = await scim.call("GET", "Users?startIndex=1&count=2", expect=200)
    assert page["schemas"] == [LIST]
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (5, 1, 2)
    assert [r["id"] for r in page["Resources"]] == ids[:2]
    _, page, _ = await scim.call("GET", "Users?startIndex=5&count=2", expect=200)
    assert [r["id"] for r in page["Resources"]] == ids[4:]
    _, page, _ = await scim.call("GET", "Users?startIndex=9&count=2", expect=200)
    assert page["totalResults"] == 5 and page["Resources"] == [] and page["itemsPerPage"] == 0
    _, page, _ = await scim.call("GET", "Users?startIndex=0&count=-1", expect=200)
    assert (page["startIndex"], page["itemsPerPage"], page["totalResults"]) == (1, 0, 5)
    _, page, _ = await scim.call("GET", "Users", expect=200)
    assert page["itemsPerPage"] == 5
    status, data, _ = await scim.call("GET", "Users?count=many")
    assert status == 400 and data["scimType"] == "invalidValue"


async def test_search_endpoints(scim: Scim) -> None:
    await scim.user("erin@acme.example", emails=[{"value": "erin@acme.example", "type": "work"}])
    await scim.group("Erin's team")
    search = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": 'userName sw "erin"',
        "attributes": ["userName"],
    }
    _, page, _ = await scim.call("POST", "Users/.search", search, expect=200)
    assert page["totalResults"] == 1
    assert set(page["Resources"][0]) == {"schemas", "id", "userName"}
    _, page, _ = await scim.call("POST", ".search", {"filter": 'displayName co "erin"'}, expect=200)
    assert page["totalResults"] == 1 and page["Resources"][0]["displayName"] == "Erin's team"
    _, page, _ = await scim.call("POST", ".search", {}, expect=200)
    assert page["totalResults"] == 2


async def test_attributes_and_excluded_attributes(scim: Scim) -> None:
    user = await scim.user("frank@acme.example", displayName="Frank", nickName="F")
    _, got, _ = await scim.call("GET", f"Users/{user['id']}?attributes=displayName", expect=200)
    assert set(got) == {"schemas", "id", "displayName"}  # id is returned always
    _, got, _ = await scim.call(
        "GET", f"Users/{user['id']}?excludedAttributes=nickName,displayName", expect=200
    )
    assert "nickName" not in got and "displayName" not in got and got["userName"]
    status, data, _ = await scim.call(
        "GET", f"Users/{user['id']}?attributes=userName&excludedAttributes=nickName"
    )
    assert status == 400 and data["scimType"] == "invalidValue"


async def test_etags(scim: Scim) -> None:
    user = await scim.user("gina@acme.example")
    uid = user["id"]
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "nickName", "value": "G"}],
    }
    status, data, _ = await scim.call("PATCH", f"Users/{uid}", patch, headers={"If-Match": 'W/"7"'})
    assert status == 412
    assert_error(data, 412)
    _, got, headers = await scim.call(
        "PATCH", f"Users/{uid}", patch, headers={"If-Match": 'W/"1"'}, expect=200
    )
    assert headers["ETag"] == got["meta"]["version"] == 'W/"2"'
    # a PATCH that changes nothing keeps the version
    _, _, headers = await scim.call("PATCH", f"Users/{uid}", patch, expect=200)
    assert headers["ETag"] == 'W/"2"'
    put = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "gina@acme.example",
    }
    status, _, _ = await scim.call("PUT", f"Users/{uid}", put, headers={"If-Match": 'W/"1"'})
    assert status == 412
    await scim.call("PUT", f"Users/{uid}", put, headers={"If-Match": "*"}, expect=200)
    status, _, _ = await scim.call("DELETE", f"Users/{uid}", headers={"If-Match": 'W/"2"'})
    assert status == 412
    resp = await scim.client.get(
        scim.url("acme", f"Users/{uid}"),
        headers={"Authorization": f"Bearer {scim.tokens['acme']}", "If-None-Match": 'W/"3"'},
    )
    assert resp.status == 304
    await scim.call("DELETE", f"Users/{uid}", headers={"If-Match": 'W/"3"'}, expect=204)


async def test_discovery(scim: Scim) -> None:
    _, spc, _ = await scim.call("GET", "ServiceProviderConfig", expect=200)
    assert spc["patch"] == {"supported": True}
    assert spc["etag"] == {"supported": True}
    assert spc["bulk"]["supported"] is False
    assert spc["filter"] == {"supported": True, "maxResults": 1000}
    assert spc["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    _, types, _ = await scim.call("GET", "ResourceTypes", expect=200)
    assert {t["id"] for t in types["Resources"]} == {"User", "Group"}
    user_type = next(t for t in types["Resources"] if t["id"] == "User")
    assert user_type["schemaExtensions"] == [{"schema": ENTERPRISE, "required": False}]
    await scim.call("GET", "ResourceTypes/Group", expect=200)
    _, schemas, _ = await scim.call("GET", "Schemas", expect=200)
    assert {s["id"] for s in schemas["Resources"]} == {
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:core:2.0:Group",
        ENTERPRISE,
    }
    _, enterprise, _ = await scim.call("GET", f"Schemas/{ENTERPRISE}", expect=200)
    names = {a["name"] for a in enterprise["attributes"]}
    assert {"department", "employeeNumber", "manager"} <= names
    status, data, _ = await scim.call("GET", "Schemas/urn:nope")
    assert status == 404 and data["schemas"] == [ERROR]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "Nope", 404),
        ("GET", "Users/123/extra", 404),
        ("GET", "", 404),
        ("POST", "ServiceProviderConfig", 405),
        ("DELETE", "Schemas", 405),
        ("PUT", "ResourceTypes", 405),
        ("DELETE", "Users", 405),
        ("POST", "Users/some-id", 405),
        ("GET", "Users/.search", 405),
        ("GET", "Users/no-such-id", 404),
        ("PATCH", "Groups/no-such-id", 404),
    ],
)
async def test_error_schema_everywhere(scim: Scim, method: str, path: str, status: int) -> None:
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": []}
    got, data, _ = await scim.call(method, path, body if method in ("PATCH", "POST") else None)
    assert got == status
    assert_error(data, status)


async def test_malformed_bodies(scim: Scim) -> None:
    headers = {"Authorization": f"Bearer {scim.tokens['acme']}"}
    resp = await scim.client.post(scim.url("acme", "Users"), data=b"{not json", headers=headers)
    assert resp.status == 400
    assert_error(await resp.json(content_type=None), 400, "invalidSyntax")
    status, data, _ = await scim.call("POST", "Users", ["a list"])
    assert status == 400 and data["scimType"] == "invalidSyntax"
    status, data, _ = await scim.call("POST", "Users", {"schemas": [], "displayName": "no name"})
    assert status == 400
    assert_error(data, 400, data.get("scimType"))
    status, data, _ = await scim.call("PATCH", "Users/x", {"schemas": []})
    assert status == 404  # the resource is looked up first


async def test_authentication(scim: Scim) -> None:
    url = scim.url("acme", "Users")
    for headers in ({}, {"Authorization": "Bearer wst_nope"}, {"Authorization": "Basic YTpi"}):
        resp = await scim.client.get(url, headers=headers)
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert_error(await resp.json(content_type=None), 401)
    # a tenant nobody configured looks like any other tenant's URL: not found
    status, data, _ = await scim.call("GET", "Users", tenant="initech", as_tenant="acme")
    assert status == 404
    assert_error(data, 404)
