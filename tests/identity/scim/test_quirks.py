"""What Microsoft Entra ID and Okta really send, payload for payload.

The payloads are copied from the IdPs' SCIM documentation and provisioning logs
(Entra: "Tutorial: Develop and plan provisioning for a SCIM endpoint" and "Known issues
and resolutions with SCIM 2.0 protocol compliance"; Okta: "SCIM 2.0 protocol reference"),
with ids swapped for the ones this server assigned.
"""

from __future__ import annotations

from typing import Any

from .conftest import Scim

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


# -- Microsoft Entra ID -------------------------------------------------------------------


async def entra_user(scim: Scim) -> dict[str, Any]:
    body = {
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        ],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
        "active": True,
        "emails": [
            {
                "primary": True,
                "type": "work",
                "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com",
            }
        ],
        "meta": {"resourceType": "User"},
        "name": {
            "formatted": "givenName familyName",
            "familyName": "familyName",
            "givenName": "givenName",
        },
        "roles": [],
    }
    _, created, _ = await scim.call("POST", "Users", body, expect=201)
    return created  # type: ignore[no-any-return]


async def test_entra_create_and_probe(scim: Scim) -> None:
    user = await entra_user(scim)
    assert user["externalId"] == "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"
    _, page, _ = await scim.call(
        "GET",
        'Users?filter=userName eq "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1"',
        expect=200,
    )
    assert page["totalResults"] == 1 and page["Resources"][0]["id"] == user["id"]
    # the "test connection" probe: a user that does not exist is an empty list, not a 404
    _, page, _ = await scim.call("GET", 'Users?filter=userName eq "non-existent user"', expect=200)
    assert page["totalResults"] == 0 and page["Resources"] == []
    _, page, _ = await scim.call(
        "GET", 'Users?filter=externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"', expect=200
    )
    assert page["totalResults"] == 1


async def test_entra_capitalised_ops_and_string_boolean(scim: Scim) -> None:
    user = await entra_user(scim)
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
    }
    _, patched, _ = await scim.call("PATCH", f"Users/{user['id']}", body, expect=200)
    assert patched["active"] is False
    body["Operations"] = [{"op": "Replace", "value": {"active": "True"}}]
    _, patched, _ = await scim.call("PATCH", f"Users/{user['id']}", body, expect=200)
    assert patched["active"] is True
    body["Operations"] = [{"op": "Add", "path": "nickName", "value": "Babs"}]
    _, patched, _ = await scim.call("PATCH", f"Users/{user['id']}", body, expect=200)
    assert patched["nickName"] == "Babs"


async def test_entra_replace_without_path_with_dotted_keys(scim: Scim) -> None:
    user = await entra_user(scim)
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {
                "op": "replace",
                "value": {
                    "displayName": "Pvlo",
                    'emails[type eq "work"].value': "TestBcwqnm@test.microsoft.com",
                    "name.givenName": "Gtfd",
                    "name.familyName": "Pkqf",
                    "externalId": "Eqpj",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Eqpj",
                },
            }
        ],
    }
    _, patched, _ = await scim.call("PATCH", f"Users/{user['id']}", body, expect=200)
    assert patched["displayName"] == "Pvlo"
    assert patched["name"]["givenName"] == "Gtfd" and patched["name"]["familyName"] == "Pkqf"
    assert patched["name"]["formatted"] == "givenName familyName"  # untouched
    assert patched["externalId"] == "Eqpj"
    assert patched["emails"] == [
        {"value": "TestBcwqnm@test.microsoft.com", "type": "work", "primary": True}
    ]
    assert patched[ENTERPRISE]["employeeNumber"] == "Eqpj"


async def test_entra_multi_valued_replace_and_new_work_email(scim: Scim) -> None:
    user = await scim.user("no-mail@acme.example")
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {
                "op": "Replace",
                "path": 'emails[type eq "work"].value',
                "value": "updatedEmail@microsoft.com",
            },
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
        ],
    }
    _, patched, _ = await scim.call("PATCH", f"Users/{user['id']}", body, expect=200)
    # Entra expects the work e-mail to be created when the user has none yet
    assert patched["emails"] == [{"value": "updatedEmail@microsoft.com", "type": "work"}]
    assert patched["name"]["familyName"] == "updatedFamilyName"


async def test_entra_manager_as_bare_id(scim: Scim) -> None:
    boss = await scim.user("boss@acme.example")
    user = await entra_user(scim)
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {
                "op": "Add",
                "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                "value": boss["id"],
            },
            {
                "op": "Add",
                "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                "value": "Finance",
            },
        ],
    }
    _, patched, _ = await scim.call("PATCH", f"Users/{user['id']}", body, expect=200)
    assert patched[ENTERPRISE]["manager"]["value"] == boss["id"]
    assert patched[ENTERPRISE]["manager"]["$ref"] == boss["meta"]["location"]
    assert scim.service.department_of("acme", user["externalId"]) == "Finance"


async def test_entra_group_create_members_and_removal_forms(scim: Scim) -> None:
    users = [(await scim.user(f"e{i}@acme.example"))["id"] for i in range(3)]
    body = {
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:Group",
            "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group",
        ],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "displayName",
        "meta": {"resourceType": "Group"},
    }
    _, group, _ = await scim.call("POST", "Groups", body, expect=201)
    assert group["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:Group"]
    gid = group["id"]
    add = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "Add", "path": "members", "value": [{"$ref": None, "value": u} for u in users]}
        ],
    }
    await scim.call("PATCH", f"Groups/{gid}", add, expect=200)
    # removal as path "members" with a value list (Entra's default)
    remove_list = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": users[0]}]}
        ],
    }
    _, got, _ = await scim.call("PATCH", f"Groups/{gid}", remove_list, expect=200)
    assert [m["value"] for m in got["members"]] == users[1:]
    # removal as a value filter (Entra with the compliance flag)
    remove_filter = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Remove", "path": f'members[value eq "{users[1]}"]'}],
    }
    _, got, _ = await scim.call("PATCH", f"Groups/{gid}", remove_filter, expect=200)
    assert [m["value"] for m in got["members"]] == users[2:]
    # the group probe Entra runs before creating one
    _, page, _ = await scim.call(
        "GET", 'Groups?excludedAttributes=members&filter=displayName eq "displayName"', expect=200
    )
    assert page["totalResults"] == 1 and "members" not in page["Resources"][0]


async def test_entra_patch_with_zero_operations(scim: Scim) -> None:
    user = await entra_user(scim)
    group = await scim.group("Empty ops")
    empty = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": []}
    _, got, headers = await scim.call("PATCH", f"Users/{user['id']}", empty, expect=200)
    assert got["id"] == user["id"] and headers["ETag"] == user["meta"]["version"]
    await scim.call("PATCH", f"Groups/{group['id']}", empty, expect=200)
    assert scim.rec.deprovisioned == []
    assert "scim.user.updated" not in scim.rec.names()


# -- Okta ---------------------------------------------------------------------------------


OKTA_USER = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "test.user@okta.example",
    "name": {"givenName": "Test", "familyName": "User"},
    "emails": [{"primary": True, "value": "test.user@okta.example", "type": "work"}],
    "displayName": "Test User",
    "locale": "en-US",
    "externalId": "00ujl29u0le5T6Aj10h7",
    "groups": [],
    "password": "1mz050nq",
    "active": True,
}


async def test_okta_probes(scim: Scim) -> None:
    _, page, _ = await scim.call("GET", "Users?startIndex=1&count=2", expect=200)
    assert page == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 0,
        "startIndex": 1,
        "itemsPerPage": 0,
        "Resources": [],
    }
    _, created, _ = await scim.call("POST", "Users", OKTA_USER, expect=201)
    assert "password" not in created
    _, page, _ = await scim.call(
        "GET",
        'Users?filter=userName eq "test.user@okta.example"&startIndex=1&count=100',
        expect=200,
    )
    assert page["totalResults"] == 1 and page["Resources"][0]["id"] == created["id"]
    # userName compares case-insensitively
    _, page, _ = await scim.call(
        "GET", 'Users?filter=userName eq "Test.User@OKTA.example"', expect=200
    )
    assert page["totalResults"] == 1


async def test_okta_put_without_active_keeps_the_user_active(scim: Scim) -> None:
    _, created, _ = await scim.call("POST", "Users", OKTA_USER, expect=201)
    put = {k: v for k, v in OKTA_USER.items() if k not in ("active", "password", "groups")}
    put |= {"id": created["id"], "displayName": "Test User Renamed"}
    _, replaced, _ = await scim.call("PUT", f"Users/{created['id']}", put, expect=200)
    assert replaced["active"] is True and replaced["displayName"] == "Test User Renamed"
    assert scim.service.is_active("acme", "00ujl29u0le5T6Aj10h7") is True
    assert scim.rec.deprovisioned == []
    # and an inactive user stays inactive through such a PUT
    await scim.call("PUT", f"Users/{created['id']}", put | {"active": False}, expect=200)
    _, replaced, _ = await scim.call("PUT", f"Users/{created['id']}", put, expect=200)
    assert replaced["active"] is False


async def test_okta_deactivate_and_group_push(scim: Scim) -> None:
    _, user, _ = await scim.call("POST", "Users", OKTA_USER, expect=201)
    group = await scim.group("Okta Pushed Group")
    push = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {
                "op": "add",
                "path": "members",
                "value": [{"value": user["id"], "display": "test.user@okta.example"}],
            }
        ],
    }
    _, got, _ = await scim.call("PATCH", f"Groups/{group['id']}", push, expect=200)
    assert got["members"][0]["display"] == "test.user@okta.example"
    rename = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "replace", "value": {"id": group["id"], "displayName": "Test SCIMv2"}}
        ],
    }
    _, got, _ = await scim.call("PATCH", f"Groups/{group['id']}", rename, expect=200)
    assert got["displayName"] == "Test SCIMv2"
    deactivate = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": False}}],
    }
    _, got, _ = await scim.call("PATCH", f"Users/{user['id']}", deactivate, expect=200)
    assert got["active"] is False
    assert [u.id for _, u in scim.rec.deprovisioned] == [user["id"]]


async def test_reserved_email_domains_are_refused(scim: Scim) -> None:
    """scim2-models validates e-mails (email-validator): special-use domains are refused."""
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "ad-user@corp.local",
        "emails": [{"value": "ad-user@corp.local", "type": "work"}],
    }
    status, data, _ = await scim.call("POST", "Users", body)
    assert status == 400 and data["scimType"] == "invalidValue"
    assert "emails" in data["detail"]
