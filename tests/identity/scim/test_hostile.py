"""Hostile SCIM input gets RFC 7644 errors, never a 500 (issue 19, 9).

A deep filter, a lone surrogate, a huge ``startIndex``, a deeply nested JSON body, and a
duplicate ``externalId`` (a uniqueness conflict, RFC 7644 §3.3: 409 ``uniqueness``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import SCIM, Scim

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"

# Query strings a client controls, each answered 400 with the SCIM error body.
BAD_QUERIES = {
    "deep parentheses": ("Users", {"filter": "(" * 1000 + 'userName eq "a"' + ")" * 1000}),
    "deep not": ("Users", {"filter": "not (" * 600 + 'userName eq "a"' + ")" * 600}),
    "long and chain": ("Users", {"filter": " and ".join(["userName pr"] * 300)}),
    "long or chain": ("Groups", {"filter": " or ".join(["displayName pr"] * 200)}),
    "deep value path": ("Users", {"filter": "emails[" * 400 + 'value eq "a"' + "]" * 400}),
    "lone surrogate in filter": ("Users", {"filter": r'userName eq "\ud800"'}),
    "lone low surrogate": ("Users", {"filter": r'externalId eq "a\udfffb"'}),
    "startIndex 1e20": ("Users", {"startIndex": "1e20"}),
    "startIndex 10**20": ("Users", {"startIndex": "1" + "0" * 20}),
    "startIndex 2**63": ("Users", {"startIndex": str(2**63)}),
    "startIndex 10**5000": ("Users", {"startIndex": "9" * 5000}),
    "startIndex on groups": ("Groups", {"startIndex": "1" + "0" * 20}),
    "count 10**30": ("Users", {"count": "1" + "0" * 30}),
    "count -10**40": ("Users", {"count": "-" + "9" * 40}),
}


@pytest.mark.parametrize("path,query", BAD_QUERIES.values(), ids=BAD_QUERIES.keys())
async def test_hostile_queries_are_scim_400s(scim: Scim, path: str, query: dict[str, str]) -> None:
    await scim.user("alice")
    hdrs = {"Authorization": f"Bearer {scim.tokens['acme']}"}
    resp = await scim.client.get(scim.url("acme", path), params=query, headers=hdrs)
    text = await resp.text()
    assert resp.status == 400, (resp.status, text[:300])
    assert resp.content_type == SCIM
    assert json.loads(text)["scimType"] in ("invalidFilter", "invalidValue")


# The same in a SearchRequest body (RFC 7644 §3.4.3), where the URL's length is no limit.
BAD_SEARCHES = {
    "deep parentheses": {"filter": "(" * 2000 + 'userName eq "a"' + ")" * 2000},
    "lone surrogate": {"filter": 'userName eq "\ud800"'},
    "startIndex 10**20": {"startIndex": 10**20},
    "count 10**20": {"count": 10**20},
    "startIndex true": {"startIndex": True},
}


@pytest.mark.parametrize("body", BAD_SEARCHES.values(), ids=BAD_SEARCHES.keys())
async def test_hostile_searches_are_scim_400s(scim: Scim, body: dict[str, Any]) -> None:
    await scim.user("alice")
    search = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], **body}
    status, data, _ = await scim.call("POST", "Users/.search", search)
    assert status == 400, data
    assert data["scimType"] in ("invalidFilter", "invalidValue")


def _nested(depth: int) -> str:
    return (
        '{"schemas":["'
        + USER
        + '"],"userName":"x","name":'
        + '{"a":' * depth
        + "1"
        + "}" * depth
        + "}"
    )


BAD_BODIES = {
    "100k-deep object": ("Users", _nested(100_000)),
    "100k-deep array": (
        "Users",
        '{"schemas":["' + USER + '"],"emails":' + "[" * 100_000 + "]" * 100_000 + "}",
    ),
    "deep group": (
        "Groups",
        '{"schemas":["' + GROUP + '"],"displayName":' + "[" * 50_000 + "]" * 50_000 + "}",
    ),
    "lone surrogate in body": ("Users", '{"schemas":["' + USER + '"],"userName":"\\ud800"}'),
    "lone surrogate in raw utf-8": (
        "Users",
        b'{"schemas":["' + USER.encode() + b'"],"userName":"\xed\xa0\x80"}',
    ),
    "bad utf-8": ("Users", b'{"schemas":["' + USER.encode() + b'"],"userName":"\xff"}'),
}


@pytest.mark.parametrize("path,body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
async def test_hostile_bodies_are_scim_400s(scim: Scim, path: str, body: str | bytes) -> None:
    hdrs = {"Authorization": f"Bearer {scim.tokens['acme']}", "Content-Type": SCIM}
    resp = await scim.client.post(scim.url("acme", path), data=body, headers=hdrs)
    text = await resp.text()
    assert resp.status == 400, (resp.status, text[:300])
    assert resp.content_type == SCIM
    assert json.loads(text)["scimType"] in ("invalidSyntax", "invalidValue")


async def test_a_lone_surrogate_in_a_patch_is_a_400(scim: Scim) -> None:
    alice = await scim.user("alice")
    hdrs = {"Authorization": f"Bearer {scim.tokens['acme']}", "Content-Type": SCIM}
    body = (
        '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],'
        '"Operations":[{"op":"replace","path":"displayName","value":"\\udfff"}]}'
    )
    resp = await scim.client.patch(
        scim.url("acme", f"Users/{alice['id']}"), data=body, headers=hdrs
    )
    assert resp.status == 400, await resp.text()


async def test_duplicate_external_id_is_a_409(scim: Scim) -> None:
    await scim.user("alice", externalId="ext-1")
    status, data, _ = await scim.call(
        "POST", "Users", {"schemas": [USER], "userName": "bob", "externalId": "ext-1"}
    )
    assert status == 409, data
    assert data["scimType"] == "uniqueness" and "externalId" in data["detail"]
    _, found, _ = await scim.call("GET", 'Users?filter=externalId eq "ext-1"', expect=200)
    assert [u["userName"] for u in found["Resources"]] == ["alice"]  # stored data intact


async def test_taking_another_users_external_id_by_put_or_patch_is_a_409(scim: Scim) -> None:
    await scim.user("alice", externalId="ext-1")
    bob = await scim.user("bob", externalId="ext-2")
    put = {"schemas": [USER], "userName": "bob", "externalId": "ext-1"}
    status, data, _ = await scim.call("PUT", f"Users/{bob['id']}", put)
    assert status == 409 and data["scimType"] == "uniqueness", data
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "externalId", "value": "ext-1"}],
    }
    status, data, _ = await scim.call("PATCH", f"Users/{bob['id']}", patch)
    assert status == 409 and data["scimType"] == "uniqueness", data
    # Keeping one's own externalId is no conflict.
    put["externalId"] = "ext-2"
    await scim.call("PUT", f"Users/{bob['id']}", put, expect=200)


async def test_a_body_at_the_depth_limit_is_still_read(scim: Scim) -> None:
    """The limit refuses attacks, not real payloads: strings full of brackets and escaped
    quotes do not count as nesting."""
    tricky = '[[{{\\"[' * 100
    status, data, _ = await scim.call(
        "POST", "Users", {"schemas": [USER], "userName": "carol", "displayName": tricky}
    )
    assert status == 201, data
