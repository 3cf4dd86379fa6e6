"""The rule option ``evidence: capture``: validated, and carried by the decision it makes."""

from __future__ import annotations

import pytest

from warden.policy.engine import compile_policy, decide
from warden.policy.explain import explain
from warden.policy.loader import PolicyError, load_policy

from .conftest import api, who

TEXT = """
dlp_profiles: [pii-basic]
defaults: {scan_profile: pii-basic}
tenants:
  acme:
    rules:
      - {id: keys, match: {entities: [API_KEY]}, action: block, evidence: capture}
      - {id: pii, match: {entities: [EMAIL_ADDRESS]}, action: redact, dlp_profile: pii-basic,
         evidence: capture}
      - {id: api, match: {kind: api}, action: allow}
"""


def test_capturing_rules_make_capturing_decisions() -> None:
    policy = compile_policy(load_policy(TEXT))
    blocked = decide(policy, who(), api(entity_types=frozenset({"API_KEY"})))
    redacted = decide(policy, who(), api(entity_types=frozenset({"EMAIL_ADDRESS"})))
    plain = decide(policy, who(), api(entity_types=frozenset()))
    assert (blocked.rule_id, blocked.action, blocked.evidence) == ("keys", "block", True)
    assert (redacted.rule_id, redacted.evidence) == ("pii", True)
    assert (plain.rule_id, plain.evidence) == ("api", False)


@pytest.mark.parametrize("value", ["captur", "yes", True, 1, ["capture"]])
def test_an_unknown_value_is_refused_with_what_is_allowed(value: object) -> None:
    text = TEXT.replace("evidence: capture}", f"evidence: {value!r}}}", 1).replace("'", "")
    if isinstance(value, list):
        text = TEXT.replace("evidence: capture}", "evidence: [capture]}", 1)
    with pytest.raises(PolicyError) as exc:
        load_policy(text)
    (issue,) = exc.value.issues
    assert issue.path == "tenants.acme.rules[0].evidence"
    assert "'capture' seals the original request and answer" in issue.message


def test_explain_says_evidence_is_captured() -> None:
    policy = compile_policy(load_policy(TEXT))
    text = explain(policy, "acme", "bob", "gpt-4o", entities=["API_KEY"])
    assert "evidence:  capture" in text
