"""Coaching acknowledgements: once per period, per user and notice."""

from __future__ import annotations

import dataclasses

from warden.policy.coaching import CoachAcknowledgements
from warden.policy.engine import CompiledPolicy, decide

from .conftest import web, who


def test_acknowledged_for_the_period_only(policy: CompiledPolicy) -> None:
    acks = CoachAcknowledgements()
    d = decide(policy, who(), web())
    assert d.action == "coach" and not acks.is_acknowledged(who(), d, 1000)
    assert acks.acknowledge(who(), d, 1000) == 1000 + 86400
    assert acks.is_acknowledged(who(), d, 1000 + 86399)
    assert not acks.is_acknowledged(who(), d, 1000 + 86400)
    assert not acks.is_acknowledged(who(subject="carol"), d, 1001)
    assert not acks.is_acknowledged(who("open"), d, 1001)


def test_changed_notice_asks_again(policy: CompiledPolicy) -> None:
    acks = CoachAcknowledgements()
    d = decide(policy, who(), web())
    acks.acknowledge(who(), d, 0)
    assert not acks.is_acknowledged(who(), dataclasses.replace(d, coach_message="New text."), 1)


def test_anonymous_is_never_remembered(policy: CompiledPolicy) -> None:
    acks = CoachAcknowledgements()
    d = decide(policy, who(), web())
    assert acks.acknowledge(who(subject=None), d, 0) is None
    assert not acks.is_acknowledged(who(subject=None), d, 1)


def test_bounded(policy: CompiledPolicy) -> None:
    acks = CoachAcknowledgements(max_entries=10)
    d = decide(policy, who(), web())
    for i in range(25):
        acks.acknowledge(who(subject=f"u{i}"), d, i * 100_000)  # earlier ones have expired
    assert len(acks._until) <= 10
