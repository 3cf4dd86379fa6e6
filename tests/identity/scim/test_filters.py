"""SCIM filters: parsing (scim2-filter-parser, corrected), checking and evaluation."""

from __future__ import annotations

from typing import Any

import pytest

from warden.identity.scim.discovery import GroupModel, UserModel
from warden.identity.scim.errors import ScimError
from warden.identity.scim.filters import parse_filter

from .conftest import Scim

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

BJENSEN: dict[str, Any] = {
    "id": "2819c223",
    "externalId": "Ext-1",
    "userName": "BJensen",
    "active": True,
    "title": "Tour Guide",
    "name": {"givenName": "Barbara", "familyName": "Jensen"},
    "emails": [
        {"value": "bjensen@Example.com", "type": "work", "primary": True},
        {"value": "babs@jensen.org", "type": "home"},
    ],
    "meta": {"lastModified": "2024-05-13T04:42:34Z", "created": "2024-01-01T00:00:00+00:00"},
    ENTERPRISE: {"department": "Tour Operations", "employeeNumber": "701984"},
    "x509Certificates": [],
}

TABLE = [
    ('userName eq "bjensen"', True),  # userName is case-insensitive
    ('USERNAME EQ "BJENSEN"', True),  # so are attribute names and operators
    ('userName ne "bjensen"', False),
    ('userName co "jen"', True),
    ('userName sw "bj"', True),
    ('userName ew "sen"', True),
    ('userName gt "a"', True),
    ('userName lt "a"', False),
    ('userName ge "bjensen"', True),
    ('userName le "bjensen"', True),
    ('externalId eq "ext-1"', False),  # externalId is caseExact
    ('externalId eq "Ext-1"', True),
    ('id eq "2819C223"', False),
    ("title pr", True),
    ("nickName pr", False),
    ("x509Certificates pr", False),  # an empty list is unassigned
    ("name pr", True),
    ('name.givenName sw "barb"', True),
    ("active eq true", True),
    ("active eq false", False),
    ("active ne false", True),
    ('title eq "true"', False),  # a string is not a boolean
    ('emails co "example.com"', True),  # emails compares emails.value
    ('emails.type eq "home"', True),
    ('emails[type eq "work" and value ew "example.com"]', True),
    ('emails[type eq "home" and value ew "example.com"]', False),
    ('emails[type eq "work"].value co "@example"', True),
    ('emails[not (type eq "work")]', True),
    ('meta.lastModified gt "2024-05-01T00:00:00Z"', True),
    ('meta.lastModified lt "2024-05-13T06:42:34+02:00"', False),  # the same instant
    ('meta.lastModified ge "2024-05-13T06:42:34+02:00"', True),
    ('meta.created lt "2024-01-01T00:00:01Z"', True),
    (f'{ENTERPRISE}:department eq "tour operations"', True),
    (f'{ENTERPRISE}:employeeNumber sw "70"', True),
    ('urn:ietf:params:scim:schemas:core:2.0:User:userName eq "BJENSEN"', True),
    ('title eq "Tour Guide" and not (userName eq "x")', True),
    ('userName eq "x" or title eq "Tour Guide"', True),
    # RFC 7644: "and" binds tighter than "or" (scim2-filter-parser 0.7.0 gets this wrong)
    ('userName eq "bjensen" or title eq "x" and title eq "y"', True),
    ('title eq "x" and title eq "y" or userName eq "bjensen"', True),
    ('(userName eq "bjensen" or title eq "x") and title eq "y"', False),
    ('title eq "Tour \\"Guide\\""', False),  # escaped quotes lex
    ("nickName eq null", True),
    ("title ne null", True),
]


@pytest.mark.parametrize(("text", "expected"), TABLE)
def test_filter_table(text: str, expected: bool) -> None:
    assert parse_filter(text, UserModel).matches(BJENSEN) is expected


def test_numbers_lex() -> None:
    # integers of more than one digit (the library lexes one digit only)
    flt = parse_filter('members[value eq "12"] or displayName eq "x"', GroupModel)
    assert flt.matches({"members": [{"value": "12"}]})
    assert parse_filter("userName eq 15", UserModel).matches({"userName": "15"}) is False


@pytest.mark.parametrize(
    "text",
    [
        'userName regex "b"',  # unknown operator
        'nope eq "x"',  # unknown attribute
        'name.nope eq "x"',
        'userName eq "unterminated',
        "userName eq",
        '(userName eq "x"',
        'name[givenName eq "x"]',  # not multi-valued
        'emails[type eq "work" and emails[value pr]]',
        "active gt true",
        'active co "t"',
        "userName co 3",
        'meta.lastModified gt "yesterday"',
        "",
        "   ",
        "x" * 5000,
    ],
)
def test_invalid_filters(text: str) -> None:
    with pytest.raises(ScimError) as err:
        parse_filter(text, UserModel)
    assert err.value.status == 400 and err.value.scim_type == "invalidFilter"


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ('userName eq "BJensen"', ("username", "BJensen")),
        ('externalId eq "e" and active eq true', ("externalid", "e")),
        ('active eq true and id eq "i"', ("id", "i")),
        ('userName eq "a" or userName eq "b"', None),
        ('not (userName eq "a")', None),
        ('userName sw "a"', None),
    ],
)
def test_equality_hint(text: str, hint: tuple[str, str] | None) -> None:
    assert parse_filter(text, UserModel).equality_hint() == hint


async def test_filters_over_http(scim: Scim) -> None:
    await scim.user(
        "bjensen@acme.example", title="Guide", emails=[{"value": "b@x.example", "type": "work"}]
    )
    await scim.user("jsmith@acme.example", title="Pilot", active=False)
    cases = {
        'userName eq "BJENSEN@acme.example"': 1,
        'title eq "Guide" or active eq false': 2,
        'emails[type eq "work" and value co "x.example"]': 1,
        "not (active eq true)": 1,
        "userName pr": 2,
    }
    for text, total in cases.items():
        _, page, _ = await scim.call("GET", f"Users?filter={text}", expect=200)
        assert page["totalResults"] == total, text
    status, data, _ = await scim.call("GET", 'Users?filter=userName regex "b"')
    assert status == 400
    assert data["scimType"] == "invalidFilter" and data["status"] == "400"
    status, data, _ = await scim.call("GET", 'Groups?filter=userName eq "b"')
    assert status == 400 and data["scimType"] == "invalidFilter"
