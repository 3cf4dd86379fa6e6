"""Quota counters shared by a fleet: N instances admit at most limit + N x slack.

Each instance is a ``Quotas`` with its own memory and its own connection to one real
database (PostgreSQL as a fleet runs it; SQLite as workers of one host could), driven in
random interleavings of admissions and flushes, including instances that flush late.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from warden.gateway.state import POSTGRESQL, migrate
from warden.gateway.state.postgres import PgConnection, open_pool
from warden.gateway.state.store import DOMAINS, open_state
from warden.policy.engine import CompiledPolicy, compile_policy
from warden.policy.facts import PrincipalFacts
from warden.policy.loader import load_policy
from warden.policy.quotas import Quotas, fleet_slack
from warden.policy.quotastore import QuotaStore

from .test_quotas import T0

LIMIT = 10
POLICY = f"""
tenants:
  acme:
    quotas:
      per_user: {{requests_per_minute: {LIMIT}}}
"""
ALICE = PrincipalFacts("acme", "alice", None)


@pytest.fixture
def policy() -> CompiledPolicy:
    return compile_policy(load_policy(POLICY))


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[QuotaStore]]:
    """A function making one QuotaStore per instance, all on one database."""
    made: list[QuotaStore] = []
    if request.param == "sqlite":
        open_state(tmp_path / "state.db").close()
        made = [QuotaStore(open_state(tmp_path / "state.db")) for _ in range(3)]
        yield made
        return
    dsn: str = request.getfixturevalue("postgres_dsn")
    pool = open_pool(dsn)
    migrate(PgConnection(pool), POSTGRESQL, DOMAINS, "test")
    yield [QuotaStore(PgConnection(pool)) for _ in range(3)]  # type: ignore[arg-type]
    pool.close()


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("instances", [2, 3])
def test_a_fleet_admits_at_most_the_limit_plus_the_documented_slack(
    policy: CompiledPolicy, stores: list[QuotaStore], seed: int, instances: int
) -> None:
    rng = random.Random(seed)
    fleet = [Quotas(lambda: policy, s, now=T0, shared=True) for s in stores[:instances]]
    admitted = 0
    for _ in range(300):
        q = rng.choice(fleet)
        if rng.random() < 0.6:
            admitted += q.admit(ALICE, T0).ok
        elif rng.random() < 0.5:  # some instances flush far less often than others
            q.flush(T0)
    bound = LIMIT + instances * fleet_slack(LIMIT)
    assert admitted <= bound
    for q in fleet:
        q.flush(T0)
    for _ in range(3):  # more traffic after everyone flushed: still within the bound
        for q in fleet:
            admitted += q.admit(ALICE, T0).ok
            q.flush(T0)
    assert LIMIT <= admitted <= bound  # the limit is reached, not starved, and held
    assert all(not q.admit(ALICE, T0).ok for q in fleet)
    # the shared row counts every admission of every instance
    (row,) = [r for r in stores[0].load() if r.scope == "user"]
    assert row.value == admitted


def test_an_instance_without_its_flush_stops_after_its_slack(
    policy: CompiledPolicy, stores: list[QuotaStore]
) -> None:
    """Its database unreachable (no flush), an instance admits its slack and then refuses."""
    q = Quotas(lambda: policy, stores[0], now=T0, shared=True)
    verdicts = [q.admit(ALICE, T0) for _ in range(5)]
    assert [v.ok for v in verdicts] == [True] * fleet_slack(LIMIT) + [False] * (
        5 - fleet_slack(LIMIT)
    )
    refused = verdicts[-1]
    assert refused.limit_name == "requests_per_minute" and refused.retry_after_s == 1
    q.flush(T0)
    assert q.admit(ALICE, T0).ok  # the flush shared the count: room again


def test_a_new_minute_starts_from_zero_across_the_fleet(
    policy: CompiledPolicy, stores: list[QuotaStore]
) -> None:
    a, b = (Quotas(lambda: policy, s, now=T0, shared=True) for s in stores[:2])
    for _ in range(LIMIT):
        a.admit(ALICE, T0)
        a.flush(T0)
    b.admit(ALICE, T0)
    b.flush(T0)
    assert not b.admit(ALICE, T0).ok
    later = T0 + 60
    assert b.admit(ALICE, later).ok
    b.flush(later)
    a.admit(ALICE, later)
    a.flush(later)
    assert a.usage(ALICE, later)["user"]["requests_per_minute"] == 2
