"""Quotas counted side by side by a host's workers on one state database (QuotaSync):
together they admit no more than the limit once they have synced, and no count is lost."""

from __future__ import annotations

import calendar
from pathlib import Path

import pytest

from warden.policy.engine import CompiledPolicy, compile_policy
from warden.policy.facts import PrincipalFacts
from warden.policy.loader import load_policy
from warden.policy.quotas import Quotas
from warden.policy.quotastore import QuotaStore
from warden.policy.quotasync import QuotaSync

POLICY = """
defaults:
  quotas:
    per_user: {requests_per_minute: 10, tokens_per_day: 1000}
tenants:
  acme: {}
"""
T0 = float(calendar.timegm((2025, 3, 14, 10, 20, 5)))
BOB = PrincipalFacts("acme", "bob", None)


@pytest.fixture
def qpolicy() -> CompiledPolicy:
    return compile_policy(load_policy(POLICY))


def _worker(db: Path, policy: CompiledPolicy) -> tuple[Quotas, QuotaSync]:
    store = QuotaStore.open(db)
    quotas = Quotas(lambda: policy, store, now=T0)
    return quotas, QuotaSync(quotas, store)


def test_two_workers_together_admit_the_limit(tmp_path: Path, qpolicy: CompiledPolicy) -> None:
    db = tmp_path / "state.db"
    (a, sync_a), (b, sync_b) = _worker(db, qpolicy), _worker(db, qpolicy)
    assert all(a.admit(BOB, T0 + i * 0.01).ok for i in range(6))
    sync_a.sync(T0 + 0.1)
    sync_b.sync(T0 + 0.1)  # b learns a's six
    admitted_b = sum(b.admit(BOB, T0 + 0.2 + i * 0.01).ok for i in range(10))
    assert admitted_b == 4
    sync_b.sync(T0 + 0.5)
    sync_a.sync(T0 + 0.5)
    assert not a.admit(BOB, T0 + 0.6).ok  # a now knows the minute is used up
    assert a.usage(BOB, T0 + 0.6)["user"]["requests_per_minute"] == 10
    # the next minute starts from zero on both
    assert a.admit(BOB, T0 + 60).ok and b.admit(BOB, T0 + 60).ok


def test_without_sync_each_counts_alone_and_the_slack_is_what_others_admit_in_between(
    tmp_path: Path, qpolicy: CompiledPolicy
) -> None:
    """The documented bound: between two syncs each worker admits from what it knows."""
    db = tmp_path / "state.db"
    (a, sync_a), (b, sync_b) = _worker(db, qpolicy), _worker(db, qpolicy)
    assert sum(a.admit(BOB, T0).ok for _ in range(10)) == 10
    assert sum(b.admit(BOB, T0).ok for _ in range(10)) == 10  # b has not synced yet
    sync_a.sync(T0 + 0.1)
    sync_b.sync(T0 + 0.1)
    sync_a.sync(T0 + 0.2)
    # nothing is lost: both see all twenty
    assert a.usage(BOB, T0 + 0.3)["user"]["requests_per_minute"] == 20
    assert b.usage(BOB, T0 + 0.3)["user"]["requests_per_minute"] == 20


def test_tokens_and_counts_made_during_a_sync_are_kept(
    tmp_path: Path, qpolicy: CompiledPolicy
) -> None:
    db = tmp_path / "state.db"
    (a, sync_a), (b, sync_b) = _worker(db, qpolicy), _worker(db, qpolicy)
    a.record_usage(BOB, 300, 0, False, T0)
    b.record_usage(BOB, 200, 0, True, T0)
    sync_a.sync(T0 + 0.1)
    a.record_usage(BOB, 100, 0, False, T0 + 0.2)  # after a pushed, before it pulls again
    sync_b.sync(T0 + 0.3)
    sync_a.sync(T0 + 0.4)
    sync_b.sync(T0 + 0.5)
    for q in (a, b):
        assert q.usage(BOB, T0 + 1)["user"]["tokens_per_day"] == 600
    # a restarted worker starts from the stored totals
    c, _ = _worker(db, qpolicy)
    assert c.usage(BOB, T0 + 1)["user"]["tokens_per_day"] == 600
