from __future__ import annotations

import pytest

from warden.providers.formbody import field, replace_field
from warden.providers.jsonbody import BodyError

BODY = b"f.req=%5Bnull%2C%22a+b%22%5D&at=tok%3A1&&x=%C3%BC"


def test_field() -> None:
    assert field(BODY, "f.req") == '[null,"a b"]'
    assert field(BODY, "at") == "tok:1"
    assert field(BODY, "x") == "ü"
    assert field(b"f%2Ereq=1", "f.req") == "1"


def test_replace_field_keeps_every_other_byte() -> None:
    out = replace_field(BODY, "f.req", '[null,"ü & = +"]')
    assert out == b"f.req=%5Bnull%2C%22%C3%BC+%26+%3D+%2B%22%5D&at=tok%3A1&&x=%C3%BC"
    assert field(out, "f.req") == '[null,"ü & = +"]'


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"a=1", "form field f.req is missing"),
        (b"f.req=1&f.req=2", "form field f.req is repeated"),
        (b"f.req=%C3", "form body is malformed"),
        (b"\xff", "body is not valid UTF-8"),
    ],
)
def test_errors(body: bytes, reason: str) -> None:
    with pytest.raises(BodyError, match=reason):
        field(body, "f.req")
