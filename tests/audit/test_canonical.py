"""The canonical encoding and chain hash, checked against an independent re-implementation."""

from __future__ import annotations

import hashlib
import json

import pytest

from warden.audit.canonical import (
    GENESIS_HASH,
    canonical_json,
    canonical_record,
    chain_hash,
    checkpoint_message,
)

from .conftest import flow_record


def test_sorted_keys_no_whitespace_raw_utf8() -> None:
    assert canonical_json({"b": 1, "a": {"d": [1, "é"], "c": None}, "z": True}) == (
        '{"a":{"c":null,"d":[1,"é"]},"b":1,"z":true}'.encode()
    )


def test_control_characters_are_escaped_like_jcs() -> None:
    assert canonical_json('a\nb\x01"\\') == b'"a\\nb\\u0001\\"\\\\"'


def test_nan_and_infinity_are_refused() -> None:
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})
    with pytest.raises(ValueError):
        canonical_json({"x": float("inf")})


def test_record_encoding_is_stable_and_parses_back() -> None:
    record = flow_record(n=1)
    body = canonical_record(record)
    assert body == canonical_record(record)
    assert json.loads(body) == record.to_dict()
    assert b" " not in body.replace(b"default", b"")  # no whitespace between tokens


def test_chain_hash_matches_the_documented_recipe() -> None:
    body = canonical_record(flow_record())
    prev = bytes(range(32))
    expected = hashlib.sha256(
        b"egress-warden/audit/v1/record\x00"
        + b"acme"
        + b"\x00"
        + (7).to_bytes(8, "big")
        + prev
        + body
    ).digest()
    assert chain_hash("acme", 7, prev, body) == expected
    assert GENESIS_HASH == b"\x00" * 32


@pytest.mark.parametrize(
    "changed",
    [("acme2", 7, bytes(range(32))), ("acme", 8, bytes(range(32))), ("acme", 7, bytes(32))],
)
def test_tenant_number_and_predecessor_are_bound(changed: tuple[str, int, bytes]) -> None:
    body = b"{}"
    assert chain_hash(*changed, body) != chain_hash("acme", 7, bytes(range(32)), body)


def test_checkpoint_message_layout() -> None:
    head = b"\xab" * 32
    assert checkpoint_message("acme", 258, head, "2025-03-01T12:00:00.000Z") == (
        b"egress-warden/audit/v1/checkpoint\x00acme\x00"
        + b"\x00" * 6
        + b"\x01\x02"
        + head
        + b"2025-03-01T12:00:00.000Z"
    )


def test_short_hash_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        chain_hash("acme", 1, b"short", b"{}")
