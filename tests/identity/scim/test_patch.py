"""PATCH (RFC 7644 §3.5.2): add/remove/replace with and without path, atomicity, errors."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Scim

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def ops(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": list(operations)}


BASE_USER: dict[str, Any] = {
    "userName": "pat@acme.example",
    "nickName": "Pat",
    "title": "Engineer",
    "name": {"givenName": "Pat", "familyName": "Doe"},
    "emails": [
        {"value": "pat@acme.example", "type": "work", "primary": True},
        {"value": "pat@home.example", "type": "home"},
    ],
    ENTERPRISE: {"department": "Eng", "employeeNumber": "7"},
}


async def base_user(scim: Scim) -> dict[str, Any]:
    attrs = {k: v for k, v in BASE_USER.items() if k != "userName"}
    return await scim.user(BASE_USER["userName"], **attrs)


def get(doc: dict[str, Any], dotted: str) -> Any:
    value: Any = doc
    for part in dotted.split("/"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


@pytest.mark.parametrize(
    ("operation", "attribute", "expected"),
    [
        ({"op": "add", "path": "displayName", "value": "P. Doe"}, "displayName", "P. Doe"),
        ({"op": "add", "value": {"displayName": "P. Doe"}}, "displayName", "P. Doe"),
        ({"op": "replace", "path": "nickName", "value": "PD"}, "nickName", "PD"),
        ({"op": "replace", "value": {"nickName": "PD"}}, "nickName", "PD"),
        ({"op": "remove", "path": "nickName"}, "nickName", None),
        (
            {"op": "replace", "path": "name.givenName", "value": "Patricia"},
            "name/givenName",
            "Patricia",
        ),
        ({"op": "remove", "path": "name.familyName"}, "name/familyName", None),
        ({"op": "replace", "path": "name", "value": {"givenName": "P"}}, "name/givenName", "P"),
        (
            {
                "op": "add",
                "path": "emails",
                "value": [{"value": "p@other.example", "type": "other"}],
            },
            "emails",
            [
                {"value": "pat@acme.example", "type": "work", "primary": True},
                {"value": "pat@home.example", "type": "home"},
                {"value": "p@other.example", "type": "other"},
            ],
        ),
        (
            {"op": "replace", "path": 'emails[type eq "home"].value', "value": "pat@new.example"},
            "emails",
            [
                {"value": "pat@acme.example", "type": "work", "primary": True},
                {"value": "pat@new.example", "type": "home"},
            ],
        ),
        (
            {"op": "remove", "path": 'emails[type eq "home"]'},
            "emails",
            [{"value": "pat@acme.example", "type": "work", "primary": True}],
        ),
        ({"op": "remove", "path": "emails"}, "emails", None),
        (
            {"op": "replace", "path": f"{ENTERPRISE}:department", "value": "Sales"},
            f"{ENTERPRISE}/department",
            "Sales",
        ),
        (
            {"op": "add", "value": {f"{ENTERPRISE}:costCenter": "CC-1"}},
            f"{ENTERPRISE}/costCenter",
            "CC-1",
        ),
        (
            {"op": "remove", "path": f"{ENTERPRISE}:employeeNumber"},
            f"{ENTERPRISE}/employeeNumber",
            None,
        ),
        ({"op": "replace", "path": "active", "value": False}, "active", False),
        ({"op": "replace", "path": "NICKNAME", "value": "case"}, "nickName", "case"),
    ],
)
async def test_patch_table(
    scim: Scim, operation: dict[str, Any], attribute: str, expected: Any
) -> None:
    user = await base_user(scim)
    _, patched, _ = await scim.call("PATCH", f"Users/{user['id']}", ops(operation), expect=200)
    assert get(patched, attribute) == expected
    _, stored, _ = await scim.call("GET", f"Users/{user['id']}", expect=200)
    assert get(stored, attribute) == expected


async def test_patch_is_atomic(scim: Scim) -> None:
    """A failing second operation leaves the first one unapplied, and the version too."""
    user = await base_user(scim)
    failing = [
        {"op": "remove", "path": "userName"},  # required: mutability
        {"op": "replace", "path": 'emails[value sw "nobody"].value', "value": "x@y.example"},
        {"op": "replace", "path": "id", "value": "mine"},  # read-only
        {"op": "frobnicate", "path": "title", "value": "x"},
        {"op": "replace", "path": "emails[type eq", "value": "x"},
    ]
    for bad in failing:
        status, data, _ = await scim.call(
            "PATCH",
            f"Users/{user['id']}",
            ops({"op": "replace", "path": "nickName", "value": "CHANGED"}, bad),
        )
        assert status == 400, bad
        assert data["scimType"] in ("mutability", "noTarget", "invalidValue", "invalidPath")
    _, stored, headers = await scim.call("GET", f"Users/{user['id']}", expect=200)
    assert stored["nickName"] == "Pat"
    assert headers["ETag"] == 'W/"1"'
    assert [e[0] for e in scim.rec.events] == ["scim.user.created"]


@pytest.mark.parametrize(
    ("operation", "scim_type"),
    [
        (
            {"op": "replace", "path": 'emails[value co "nobody"].value', "value": "a@b.example"},
            "noTarget",
        ),
        ({"op": "add", "path": 'emails[display sw "x"].type', "value": "work"}, "noTarget"),
        ({"op": "remove"}, "noTarget"),
        ({"op": "remove", "path": "userName"}, "mutability"),
        ({"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"}, "mutability"),
        ({"op": "add", "path": "title"}, "invalidValue"),
        ({"op": "add", "path": "title", "value": None}, "invalidValue"),
        ({"op": "replace", "path": "emails[type eq ", "value": "x"}, "invalidPath"),
    ],
)
async def test_patch_errors(scim: Scim, operation: dict[str, Any], scim_type: str) -> None:
    user = await base_user(scim)
    status, data, _ = await scim.call("PATCH", f"Users/{user['id']}", ops(operation))
    assert status == 400
    assert data["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert data["scimType"] == scim_type, data


async def test_patch_body_must_have_operations(scim: Scim) -> None:
    user = await base_user(scim)
    status, data, _ = await scim.call("PATCH", f"Users/{user['id']}", {"schemas": [PATCH]})
    assert status == 400 and data["scimType"] == "invalidValue"
    status, data, _ = await scim.call(
        "PATCH", f"Users/{user['id']}", {"schemas": [PATCH], "Operations": "replace"}
    )
    assert status == 400


async def test_group_member_patches(scim: Scim) -> None:
    a, b, c = [(await scim.user(f"{n}@acme.example"))["id"] for n in "abc"]
    group = await scim.group("Team", [a])
    gid = group["id"]

    async def members() -> list[str]:
        _, got, _ = await scim.call("GET", f"Groups/{gid}", expect=200)
        return [m["value"] for m in got.get("members", [])]

    add = {"op": "add", "path": "members", "value": [{"value": b}, {"value": c}, {"value": a}]}
    await scim.call("PATCH", f"Groups/{gid}", ops(add), expect=200)
    assert await members() == [a, b, c]  # an existing member is not added twice
    await scim.call(
        "PATCH",
        f"Groups/{gid}",
        ops({"op": "remove", "path": f'members[value eq "{b}"]'}),
        expect=200,
    )
    assert await members() == [a, c]
    await scim.call(
        "PATCH",
        f"Groups/{gid}",
        ops({"op": "replace", "path": "members", "value": [{"value": b}]}),
        expect=200,
    )
    assert await members() == [b]
    await scim.call("PATCH", f"Groups/{gid}", ops({"op": "remove", "path": "members"}), expect=200)
    assert await members() == []
    await scim.call(
        "PATCH",
        f"Groups/{gid}",
        ops({"op": "replace", "value": {"displayName": "Renamed"}}),
        expect=200,
    )
    _, got, _ = await scim.call("GET", f"Groups/{gid}", expect=200)
    assert got["displayName"] == "Renamed"
    names = scim.rec.names()
    assert names.count("scim.group.members_added") == 2  # b+c, then b again by replace
    assert names.count("scim.group.members_removed") == 3  # b; a+c by replace; b
    assert "scim.group.updated" in names
