"""Fuzzing the SCIM server's parsers of what an IdP sends: filters, PATCH, and resources.

Everything runs against the real ``ScimService`` on a fresh state database. Properties:
every call either succeeds or raises ``ScimError`` (which the routes turn into an RFC 7644
error; anything else would be a 500), and a refused PATCH or PUT leaves the stored
resource exactly as it was (PATCH is all or nothing).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.identity.scim.conftest import Recorder, build_service
from warden.identity.scim import ScimService
from warden.identity.scim.credentials import Caller
from warden.identity.scim.discovery import GroupModel, UserModel
from warden.identity.scim.errors import ScimError
from warden.identity.scim.filters import parse_filter
from warden.identity.scim.routes import _search
from warden.identity.scim.service import RequestScope

from .strategies import json_values, mutated, scaled, texts

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

USER: dict[str, Any] = {
    "schemas": [USER_URN, ENTERPRISE],
    "userName": "pat@acme.example",
    "externalId": "e-7",
    "active": True,
    "title": "Engineer",
    "name": {"givenName": "Pat", "familyName": "Doe"},
    "emails": [
        {"value": "pat@acme.example", "type": "work", "primary": True},
        {"value": "pat@home.example", "type": "home"},
    ],
    ENTERPRISE: {"department": "Eng", "employeeNumber": "7", "manager": {"value": "m-1"}},
}


class Tenant:
    """A SCIM service with one user and one group in tenant acme."""

    def __init__(self, db: Path) -> None:
        self.service, _ = build_service(db, Recorder())
        self.scope = RequestScope(Caller("acme", "fuzz"), "https://warden.example/scim/v2/acme")
        self.user_id = str(
            self.service.create_user(self.scope, json.loads(json.dumps(USER))).resource.id
        )
        group = {"displayName": "LLM Users", "members": [{"value": self.user_id}]}
        self.group_id = str(self.service.create_group(self.scope, group).resource.id)

    def user_snapshot(self) -> object:
        row = self.service.store.user(self.scope.tenant, self.user_id)
        return None if row is None else (row.version, row.doc, row.active, row.user_name)


# --- filters ----------------------------------------------------------------------------

_ATTRS = [
    "userName",
    "USERNAME",
    "id",
    "externalId",
    "active",
    "title",
    "displayName",
    "name.givenName",
    "name",
    "emails",
    "emails.value",
    "emails.type",
    "emails.primary",
    "meta.lastModified",
    "meta.created",
    "meta.resourceType",
    "groups.value",
    "members",
    "members.value",
    "nosuch",
    "name.nosuch",
    f"{ENTERPRISE}:department",
    f"{ENTERPRISE}:manager.value",
    f"{USER_URN}:userName",
    "urn:x:y:z",
]
_VALUES = st.one_of(
    st.sampled_from(
        [
            '"pat@acme.example"',
            '"work"',
            "true",
            "false",
            "null",
            "5",
            "-1.5e3",
            "1e999",
            '"2024-01-01T00:00:00Z"',
            '"2024-13-99"',
            '"\\u00e9\\""',
            '"a\\\\"',
            '""',
            "0",
        ]
    ),
    texts.map(lambda t: json.dumps(t)),
)
_OPS = st.sampled_from(["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "EQ", "pr"])


@st.composite
def filters(draw: st.DrawFn, depth: int = 3) -> str:
    kind = draw(st.integers(0, 5 if depth else 1))
    if kind <= 1:
        op = draw(_OPS)
        attr = draw(st.sampled_from(_ATTRS))
        return f"{attr} pr" if op == "pr" else f"{attr} {op} {draw(_VALUES)}"
    if kind == 2:
        return f"not ({draw(filters(depth - 1))})"
    if kind == 3:
        return f"({draw(filters(depth - 1))})"
    if kind == 4:
        attr = draw(st.sampled_from(["emails", "members", "groups", "name", "userName"]))
        tail = draw(st.sampled_from(["", ".value", ".type", ".nosuch"]))
        return f"{attr}[{draw(filters(depth - 1))}]{tail}"
    word = draw(st.sampled_from(["and", "or", "AND", "Or"]))
    return f"{draw(filters(depth - 1))} {word} {draw(filters(depth - 1))}"


def _scim_error_only(call: Any) -> None:
    try:
        call()
    except ScimError as exc:
        assert 400 <= exc.status < 500, exc.status


@pytest.mark.parametrize("model", [UserModel, GroupModel], ids=["User", "Group"])
def test_filter_parse(model: Any) -> None:
    @given(st.one_of(filters(), st.text(max_size=60)))
    @example("meta.lastModified gt 5")
    @example("(" * 1000 + "userName pr" + ")" * 1000)
    @example("not(" * 1000 + "userName pr" + ")" * 1000)
    @example(" or ".join(["userName pr"] * 290))
    def check(text: str) -> None:
        _scim_error_only(lambda: parse_filter(text, model))

    check()


def test_filter_evaluation(tmp_path: Path) -> None:
    tenant = Tenant(tmp_path / "state.db")

    @scaled(0.5)
    @given(filters())
    @example("meta.lastModified gt 5")
    @example("meta.lastModified le true")
    @example('displayName eq "x"')  # KeyError: Users have no displayName index
    def check(text: str) -> None:
        _scim_error_only(lambda: tenant.service.list_users(tenant.scope, text, 1, 10))
        _scim_error_only(lambda: tenant.service.list_groups(tenant.scope, text, 1, 10))

    check()


# --- PATCH, PUT and POST bodies ---------------------------------------------------------

_PATHS = st.one_of(
    st.sampled_from(
        [
            "active",
            "userName",
            "title",
            "name.givenName",
            "name",
            "emails",
            'emails[type eq "work"].value',
            'emails[type eq "work"]',
            "emails[value pr]",
            "members",
            'members[value eq "x"]',
            "displayName",
            "externalId",
            f"{ENTERPRISE}:department",
            f"{ENTERPRISE}:manager",
            ENTERPRISE,
            "urn:x:y",
            "meta.lastModified",
            "id",
            "groups",
            "schemas",
            "",
            "nosuch",
            'emails[type eq "work"].nosuch',
            "emails[",
            "name..givenName",
        ]
    ),
    texts,
)
_PATCH_VALUES = st.one_of(
    json_values,
    st.sampled_from(["False", "true", "x@y.example", "", "m-2"]),
    st.fixed_dictionaries(
        {},
        optional={
            "active": st.one_of(st.booleans(), st.just("False")),
            "name.givenName": texts,
            'emails[type eq "work"].value': texts,
            "displayName": texts,
            "id": st.just("x"),
            ENTERPRISE: st.dictionaries(st.sampled_from(["department", "manager"]), json_values),
        },
    ),
    st.lists(st.fixed_dictionaries({"value": texts}, optional={"$ref": st.none(), "type": texts})),
)


@st.composite
def patch_bodies(draw: st.DrawFn) -> object:
    operations = []
    for _ in range(draw(st.integers(0, 3))):
        op: dict[str, Any] = {
            "op": draw(st.sampled_from(["add", "remove", "replace", "Replace", "x"]))
        }
        if draw(st.integers(0, 3)):
            op["path"] = draw(_PATHS)
        if draw(st.integers(0, 3)):
            op["value"] = draw(_PATCH_VALUES)
        operations.append(op)
    body: dict[str, Any] = {"schemas": [PATCH], "Operations": operations}
    return draw(st.one_of(st.just(body), mutated(body), json_values))


def test_patch_user_is_all_or_nothing(tmp_path: Path) -> None:
    tenant = Tenant(tmp_path / "state.db")

    @scaled(0.5)
    @given(patch_bodies())
    def check(body: object) -> None:
        before = tenant.user_snapshot()
        try:
            tenant.service.patch_user(tenant.scope, tenant.user_id, body, None)
        except ScimError as exc:
            assert 400 <= exc.status < 500, exc.status
            assert tenant.user_snapshot() == before, "a refused PATCH changed the user"

    check()


def test_patch_group(tmp_path: Path) -> None:
    tenant = Tenant(tmp_path / "state.db")

    @scaled(0.5)
    @given(patch_bodies())
    def check(body: object) -> None:
        _scim_error_only(
            lambda: tenant.service.patch_group(tenant.scope, tenant.group_id, body, None)
        )

    check()


def test_create_and_replace_user(tmp_path: Path) -> None:
    tenant = Tenant(tmp_path / "state.db")

    @scaled(0.5)
    @given(st.one_of(mutated(USER), json_values), st.booleans())
    @example({"userName": "\ud800"}, False)  # UnicodeEncodeError from SQLite (a 500)
    @example(USER | {"title": "\udfff"}, True)
    def check(body: object, replace: bool) -> None:
        if isinstance(body, dict) and isinstance(body.get("userName"), str):
            body["userName"] = body["userName"] + "-" + str(len(str(body)))
        if replace:
            before = tenant.user_snapshot()
            try:
                tenant.service.replace_user(tenant.scope, tenant.user_id, body, None)
            except ScimError as exc:
                assert 400 <= exc.status < 500, exc.status
                assert tenant.user_snapshot() == before
        else:
            _scim_error_only(lambda: tenant.service.create_user(tenant.scope, body))

    check()


def test_list_paging(tmp_path: Path) -> None:
    tenant = Tenant(tmp_path / "state.db")

    @given(st.integers(-(2**70), 2**70), st.one_of(st.none(), st.integers(-(2**70), 2**70)))
    @example(10**20, None)  # OverflowError from SQLite's OFFSET before MAX_START_INDEX
    def check(start: int, count: int | None) -> None:
        _scim_error_only(lambda: tenant.service.list_users(tenant.scope, None, start, count))

    check()


_SEARCH_KEYS = st.sampled_from(
    ["filter", "startIndex", "count", "attributes", "excludedAttributes", "sortBy", "schemas"]
)


@given(st.one_of(st.dictionaries(_SEARCH_KEYS, st.one_of(json_values, _PATHS)), json_values))
@example({"attributes": [1]})  # ",".join raised TypeError (a 500) before the fix
@example({"excludedAttributes": ["name", None]})
def test_search_request_body(body: object) -> None:
    """The body of ``POST .search`` (RFC 7644 §3.4.3), as ``routes`` reads it."""
    for model in (UserModel, GroupModel, UserModel | GroupModel):
        _scim_error_only(lambda m=model: _search(m, body))


def test_service_type_is_the_real_one(tmp_path: Path) -> None:
    assert isinstance(Tenant(tmp_path / "s.db").service, ScimService)
