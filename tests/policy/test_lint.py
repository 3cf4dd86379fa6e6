"""`policy check`: every finding, and a clean example policy."""

from __future__ import annotations

from warden.policy.lint import check

from .conftest import EXAMPLE, POLICY


def codes(text: str, **kw: object) -> list[tuple[str, str | None]]:
    return [(f.code, f.rule_id) for f in check(text, **kw)]  # type: ignore[arg-type]


def test_unreachable_after_catch_all() -> None:
    text = """
tenants:
  acme:
    rules:
      - {id: all, action: allow}
      - {id: never, match: {model: gpt-4o}, action: block}
      - {id: still-enforced, enforce: true, match: {model: gpt-4o}, action: block}
"""
    assert codes(text) == [("unreachable-rule", "never")]


def test_enforced_catch_all_hides_everything_after_it() -> None:
    text = "tenants: {acme: {rules: [{id: a, enforce: true, action: block}, {id: b, enforce: true, match: {kind: api}, action: allow}]}}"
    assert codes(text) == [("unreachable-rule", "b")]


def test_shadowed_by_superset() -> None:
    text = """
tenants:
  acme:
    departments:
      eng:
        rules:
          - {id: wide, match: {model: "gpt-4*"}, action: block}
          - {id: narrow, match: {model: [gpt-4o, gpt-4.1-mini], kind: api}, action: allow}
          - {id: other, match: {model: "claude-*"}, action: allow}
          - {id: bigger, match: {model: "claude-*", min_bytes: 10}, action: block}
          - {id: pending, match: {model: "o3", entities: [PERSON]}, action: block}
          - {id: not-shadowed, match: {model: "o3"}, action: allow}
"""
    assert codes(text) == [("shadowed-rule", "narrow"), ("shadowed-rule", "bigger")]


def test_unknown_model_is_a_warning() -> None:
    text = "tenants: {acme: {models: [gpt-4o, gtp-4o], rules: [{id: r, match: {model: [claude-3*, clade-3]}, action: allow}]}}"
    findings = check(text)
    assert [(f.severity, f.code, f.path) for f in findings] == [
        ("warning", "unknown-model", "tenants.acme.models[1]"),
        ("warning", "unknown-model", "tenants.acme.rules[0].match.model[1]"),
    ]
    assert "gtp-4o" in findings[0].message


def test_known_models_can_be_given() -> None:
    text = "tenants: {acme: {models: [my-model-*]}}"
    assert codes(text) == [("unknown-model", None)]
    assert codes(text, known_models={"my-model-7b"}) == []


def test_duplicate_ids_and_invalid_documents_are_errors() -> None:
    text = "tenants: {acme: {rules: [{id: x, action: allow}, {id: x, action: block}]}}"
    [finding] = check(text)
    assert (finding.severity, finding.code, finding.path) == (
        "error",
        "duplicate-id",
        "tenants.acme.rules[1].id",
    )
    assert [f.code for f in check("tenants: [")] == ["yaml"]
    assert [f.code for f in check("tenants: {acme: {rules: [{action: redact}]}}")] == ["invalid"]


def test_no_tenants_warning() -> None:
    assert codes("defaults: {}") == [("no-tenants", None)]


def test_example_and_fixture_policies_are_clean() -> None:
    assert check(EXAMPLE.read_text()) == []
    assert check(POLICY) == []
