"""Decisions, table-driven: layer precedence, globs, secure defaults, DLP second pass."""

from __future__ import annotations

import pytest

from warden.policy.engine import CompiledPolicy, decide
from warden.policy.facts import PrincipalFacts, RequestFacts

from .conftest import api, web, who

NONE: frozenset[str] = frozenset()

CASES: list[tuple[str, PrincipalFacts, RequestFacts, str, str]] = [
    # secure defaults
    ("no tenant", who(None), api(), "block", "policy/no-tenant"),
    ("unknown tenant", who("nope"), api(), "block", "policy/unknown-tenant"),
    ("anonymous", who(subject=None), api(), "block", "tenant:acme/anonymous"),
    ("anonymous allowed", who("open", None), api("anything"), "allow", "tenant:open/default"),
    ("unparsed body", who(), api(parsed=False), "block", "tenant:acme/unparsed"),
    ("unparsed without body", who(), api(parsed=False, body_bytes=0), "allow", "acme-api"),
    ("unparsed allowed", who("open"), api(parsed=False), "allow", "tenant:open/default"),
    ("tenant without rules", who("plain"), api(), "block", "tenant:plain/default"),
    # tenant layer, sizes, model list
    ("tenant api allow", who(), api(), "allow", "acme-api"),
    ("glob case-insensitive", who(), api("GPT-4o-Mini"), "allow", "acme-api"),
    ("too big", who(), api(body_bytes=100_000), "block", "acme-big"),
    ("just under", who(), api(body_bytes=99_999), "allow", "acme-api"),
    ("many segments", who(), api(segments=50), "block", "acme-many-segments"),
    ("unlisted model", who(), api("llama-3"), "block", "tenant:acme/models"),
    ("no model known", who(), api(None), "allow", "acme-api"),
    # department beats tenant
    ("finance no gpt-4o", who(department="finance"), api("gpt-4o"), "block", "fin-no-4o"),
    ("finance redact mini", who(department="finance"), api("gpt-4o-mini"), "redact", "fin-redact"),
    ("eng falls to tenant", who(department="eng"), api(), "allow", "acme-api"),
    # group, role, user
    (
        "contractor claude",
        who(groups=("contractors",)),
        api("claude-3-5-sonnet"),
        "block",
        "contractors-no-claude",
    ),
    (
        "user beats group",
        who(subject="alice", groups=("contractors",)),
        api("claude-3-5-sonnet"),
        "allow",
        "alice-claude",
    ),
    (
        "user rule not matching",
        who(subject="alice", groups=("contractors",)),
        api("claude-sonnet-4"),
        "block",
        "contractors-no-claude",
    ),
    (
        "role from group names o3",
        who(groups=("sec-reviewers",)),
        api("o3-mini"),
        "allow",
        "reviewer-o3",
    ),
    ("role given directly", who(roles=("reviewer",)), api("o3"), "allow", "reviewer-o3"),
    ("no role, o3 unlisted", who(), api("o3"), "block", "tenant:acme/models"),
    (
        "role beats department",
        who(department="finance", roles=("reviewer",)),
        api("o3"),
        "allow",
        "reviewer-o3",
    ),
    # defaults layer after tenant
    ("webapp coached by defaults", who(), web(), "coach", "default-webapps-coach"),
    # enforced default beats a user exception
    (
        "enforced over user",
        who(subject="alice"),
        api("claude-3-opus", entity_types=frozenset({"API_KEY"})),
        "block",
        "no-keys",
    ),
    ("entity glob", who(), api(entity_types=frozenset({"GITHUB_TOKEN"})), "block", "no-keys"),
    (
        "eng redacts person",
        who(department="eng"),
        api(entity_types=frozenset({"PERSON"})),
        "redact",
        "eng-pii-redact",
    ),
]


@pytest.mark.parametrize(
    ("principal", "request_facts", "action", "rule_id"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_decision(
    policy: CompiledPolicy,
    principal: PrincipalFacts,
    request_facts: RequestFacts,
    action: str,
    rule_id: str,
) -> None:
    d = decide(policy, principal, request_facts)
    assert (d.action, d.rule_id) == (action, rule_id)
    assert d.policy_version == policy.version
    assert d.matched_path[-1] == rule_id
    assert d.reason


def test_redact_carries_profile_and_logging(policy: CompiledPolicy) -> None:
    d = decide(policy, who(department="finance"), api("gpt-4o-mini"))
    assert (d.dlp_profile, d.logging) == ("pii-strict", "full-redacted-body")
    assert d.matched_path == ("defaults!", "tenant:acme/dept:finance", "fin-redact")


def test_coach_carries_message_and_period(policy: CompiledPolicy) -> None:
    d = decide(policy, who(), web())
    assert d.coach_message == "Think before you paste."
    assert d.coach_period_s == 86400


def test_user_exception_logging(policy: CompiledPolicy) -> None:
    d = decide(policy, who(subject="alice"), api("claude-3-haiku"))
    assert d.logging == "redacted"
    assert d.matched_path == ("defaults!", "tenant:acme/user:alice", "alice-claude")


def test_dlp_two_passes(policy: CompiledPolicy) -> None:
    """Before DLP: the enforced entity rule is pending, so the caller must scan."""
    first = decide(policy, who(department="eng"), api(entity_types=None))
    assert (first.action, first.dlp_pending, first.dlp_profile) == ("allow", True, "secrets")
    second = decide(policy, who(department="eng"), api(entity_types=frozenset({"API_KEY"})))
    assert (second.action, second.rule_id, second.dlp_pending) == ("block", "no-keys", False)
    assert second.entities == ("API_KEY",)
    clean = decide(policy, who(department="eng"), api(entity_types=NONE))
    assert (clean.action, clean.dlp_pending) == ("allow", False)


def test_block_needs_no_scan_when_only_blocks_wait(policy: CompiledPolicy) -> None:
    d = decide(policy, who(department="finance"), api("gpt-4o", entity_types=None))
    assert (d.action, d.dlp_pending) == ("block", False)


def test_models_list_yields_to_a_rule_naming_the_model(policy: CompiledPolicy) -> None:
    # reviewer-o3 names o3*, although the tenant's models list does not include it
    assert decide(policy, who(roles=("reviewer",)), api("o3-pro")).action == "allow"
    # a catch-all-ish rule (acme-api, no model condition) does not
    assert decide(policy, who(), api("o3-pro")).rule_id == "tenant:acme/models"


def test_decide_is_pure(policy: CompiledPolicy) -> None:
    p, r = who(department="finance"), api("gpt-4o-mini")
    assert decide(policy, p, r) == decide(policy, p, r)


def test_example_policy(example: CompiledPolicy) -> None:
    d = decide(example, who(department="eng"), api("o3-pro"))
    assert d.rule_id == "eng-no-o3-pro"
    d = decide(example, who(subject="alice", department="eng"), api("o3-pro"))
    assert (d.rule_id, d.logging) == ("alice-o3-pro", "full-redacted-body")
    d = decide(example, who(groups=("llm-admins",)), api("llama-3-70b"))
    assert d.rule_id == "admins-any-model"
    d = decide(
        example, who(department="sales"), web("claude-web", "claude.ai", provider="anthropic")
    )
    assert d.rule_id == "sales-no-claude-web"
    d = decide(example, who("globex"), web())
    assert (d.action, d.coach_period_s) == ("coach", 8 * 3600)
    d = decide(example, who("globex"), api("gpt-4o"))
    assert (d.action, d.rule_id) == ("block", "tenant:globex/default")
