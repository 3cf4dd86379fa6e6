"""Loading: every error at once with its path, references, the `policy:` section, version."""

from __future__ import annotations

import pytest

from warden.policy.durations import parse_duration
from warden.policy.loader import PolicyError, load_policy, policy_version

from .conftest import POLICY


def issues(text: str, **kw: object) -> list[tuple[str, str]]:
    with pytest.raises(PolicyError) as exc:
        load_policy(text, **kw)  # type: ignore[arg-type]
    return [(i.path, i.code) for i in exc.value.issues]


def test_every_structural_error_with_its_path() -> None:
    text = """
tenants:
  acme:
    rules:
      - {action: redact}
      - {action: allow, match: {modle: gpt-4o}}
      - {action: coach}
      - {action: allow, coach: hi}
    departments:
      eng: {rules: [{action: zap}]}
  Bad_Tenant: {}
defaults: {logging: everything}
"""
    assert sorted(p for p, _ in issues(text)) == [
        "defaults.logging",
        "tenants.Bad_Tenant",
        "tenants.acme.departments.eng.rules[0].action",
        "tenants.acme.rules[0]",
        "tenants.acme.rules[1].match.modle",
        "tenants.acme.rules[2]",
        "tenants.acme.rules[3]",
    ]


def test_messages_name_the_fix() -> None:
    with pytest.raises(PolicyError) as exc:
        load_policy("tenants: {acme: {rules: [{action: redact}]}}")
    assert "needs 'dlp_profile'" in str(exc.value)
    assert "nothing was changed" in exc.value.diagnostics()


def test_references_all_at_once() -> None:
    text = """
dlp_profiles: [pii-strict]
defaults: {scan_profile: nope}
tenants:
  acme:
    rules:
      - {id: r1, action: redact, dlp_profile: pii-lax}
      - {id: r1, action: allow}
    departments: {eng: {}, marketing: {}}
  ghost: {}
"""
    found = issues(
        text,
        known_tenants={"acme"},
        known_departments={"acme": {"eng"}},
        known_dlp_profiles={"pii-strict"},
    )
    assert sorted(found) == sorted(
        [
            ("defaults.scan_profile", "unknown-dlp-profile"),
            ("tenants.acme.rules[0].dlp_profile", "unknown-dlp-profile"),
            ("tenants.acme.rules[1].id", "duplicate-id"),
            ("tenants.ghost", "unknown-tenant"),
            ("tenants.acme.departments.marketing", "unknown-department"),
        ]
    )


def test_declared_profiles_must_exist_in_dlp_config() -> None:
    assert issues("dlp_profiles: [a, b]", known_dlp_profiles={"a"}) == [
        ("dlp_profiles[1]", "unknown-dlp-profile")
    ]


def test_derived_ids_collide_with_given_ones() -> None:
    text = "tenants: {acme: {rules: [{action: allow}, {id: 'tenant:acme/1', action: block}]}}"
    assert issues(text) == [("tenants.acme.rules[1].id", "duplicate-id")]


def test_duplicate_yaml_key_is_an_error() -> None:
    text = "tenants:\n  acme:\n    departments:\n      eng: {}\n      eng: {}\n"
    found = issues(text)
    assert found == [("line 5, column 7", "yaml")]


def test_policy_section_of_main_config() -> None:
    doc = load_policy("identity: {x: 1}\npolicy:\n  tenants: {acme: {}}\n")
    assert list(doc.tenants) == ["acme"]
    assert issues("policy:\n  tenants: {acme: {bogus: 1}}\n") == [
        ("policy.tenants.acme.bogus", "invalid")
    ]


def test_empty_document_is_valid_and_blocks_everything() -> None:
    assert load_policy("").tenants == {}


def test_version_is_content_hash() -> None:
    a = policy_version(load_policy(POLICY))
    b = policy_version(
        load_policy(
            "# a comment\n"
            + POLICY.replace(
                "{id: acme-api, match: {kind: api}, action: allow}",
                "{action: allow, id: acme-api, match: {kind: api}}",
            )
        )
    )
    c = policy_version(load_policy(POLICY.replace("Too big.", "Far too big.")))
    assert a == b != c
    assert a.startswith("sha256:") and len(a) >= len("sha256:") + 12


def test_shorthands() -> None:
    doc = load_policy(
        "tenants: {acme: {rules: [{action: coach, coach: Careful, match: {model: gpt-4o}}]}}"
    )
    rule = doc.tenants["acme"].rules[0]
    assert rule.match.model == ("gpt-4o",)
    assert rule.coach is not None and rule.coach.period_s == 86400


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("P1D", 86400), ("PT8H", 28800), ("P1W", 604800), ("pt30m", 1800), ("P1DT1H", 90000)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["P", "PT", "1D", "P1M", "P1Y", "P0D", "tomorrow"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|longer"):
        parse_duration(text)
