"""policy/published.py: the fleet's published policy documents on a real SQLite table.

(The same statements run on PostgreSQL in tests/warden/test_policy_fleet.py.)
"""

from __future__ import annotations

import sqlite3

import pytest

from warden.gateway.state import SQLITE
from warden.policy.published import (
    MAX_DOCUMENT_BYTES,
    MIGRATIONS,
    PublishedPolicies,
    PublishedPolicy,
    document_sha256,
)


@pytest.fixture
def store() -> PublishedPolicies:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    for _summary, statements in MIGRATIONS:
        for statement in statements:
            conn.execute(SQLITE.render(statement))
    return PublishedPolicies(conn)


def test_nothing_published_yet(store: PublishedPolicies) -> None:
    assert store.latest() is None


def test_the_newest_publication_is_in_force(store: PublishedPolicies) -> None:
    first = store.publish("sha256:aa", "a: 1\n", 10.0, "host-a:9000")
    second = store.publish("sha256:bb", "b: 2\n", 11.0, "host-b:9000")
    assert first is not None and second is not None and second > first
    latest = store.latest()
    assert latest == PublishedPolicy(
        second, "sha256:bb", document_sha256("b: 2\n"), "b: 2\n", 11.0, "host-b:9000"
    )
    assert latest.problems() == []


def test_publishing_the_document_in_force_again_adds_nothing(store: PublishedPolicies) -> None:
    serial = store.publish("sha256:aa", "a: 1\n", 10.0, "host-a:9000")
    # a second host reloaded with the same edit: no new row, the same serial
    assert store.publish("sha256:aa", "a: 1\n", 12.0, "host-b:9000") == serial
    latest = store.latest()
    assert latest is not None and latest.published_by == "host-a:9000"
    # but going back to an older document is a new publication
    store.publish("sha256:bb", "b: 2\n", 13.0, "host-b:9000")
    back = store.publish("sha256:aa", "a: 1\n", 14.0, "host-a:9000")
    assert back is not None and serial is not None and back > serial


def test_an_altered_document_is_refused_before_it_is_read() -> None:
    row = PublishedPolicy(7, "sha256:aa", document_sha256("a: 1\n"), "a: 2\n", 1.0, "x")
    (problem,) = row.problems()
    assert "#7 does not match its sha256" in problem and "publish the policy again" in problem


def test_an_oversized_document_is_refused_without_hashing() -> None:
    text = "#" * (MAX_DOCUMENT_BYTES + 1)
    row = PublishedPolicy(3, "sha256:aa", document_sha256(text), text, 1.0, "x")
    (problem,) = row.problems()
    assert "over the" in problem and "limit" in problem
    at_limit = "#" * MAX_DOCUMENT_BYTES
    assert PublishedPolicy(4, "v", document_sha256(at_limit), at_limit, 1.0, "x").problems() == []
