"""Acknowledgement links: a token names one person and one rule; forged or old ones fail."""

from __future__ import annotations

from warden.policy import PolicyDecision, PrincipalFacts
from warden.policy.coach_tokens import COACH_TOKEN_TTL_S, CoachTokens, acknowledged

ALICE = PrincipalFacts("acme", "alice")
COACH = PolicyDecision(
    action="coach",
    rule_id="r-coach",
    policy_version="v1",
    reason="",
    coach_message="Mind the data",
    coach_period_s=86400,
)


def test_a_token_reads_back_as_the_same_person_and_rule() -> None:
    tokens = CoachTokens()
    data = tokens.read(tokens.make(ALICE, COACH, "/next", now=1000.0), now=1001.0)
    assert data is not None
    principal, decision = acknowledged(data, "v2")
    assert (principal.tenant, principal.subject) == ("acme", "alice")
    assert (decision.rule_id, decision.coach_period_s, decision.policy_version) == (
        "r-coach",
        86400,
        "v2",
    )


def test_a_token_changed_to_name_someone_else_is_refused() -> None:
    tokens = CoachTokens()
    token = tokens.make(ALICE, COACH, "/next", now=1000.0)
    other = tokens.make(PrincipalFacts("acme", "bob"), COACH, "/next", now=1000.0)
    forged = other.split(".")[0] + "." + token.split(".")[1]  # bob's payload, alice's MAC
    assert tokens.read(forged, now=1001.0) is None
    assert CoachTokens().read(token, now=1001.0) is None  # another process's key
    assert tokens.read("not-a-token", now=1001.0) is None


def test_an_old_token_is_refused() -> None:
    tokens = CoachTokens()
    token = tokens.make(ALICE, COACH, "/next", now=1000.0)
    assert tokens.read(token, now=1000.0 + COACH_TOKEN_TTL_S + 1) is None
