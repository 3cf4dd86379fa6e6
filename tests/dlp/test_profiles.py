"""Profile validation: every error at once, with the place and a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from warden.dlp import DlpProfile, ProfileError, default_profile, load_profiles, load_profiles_yaml
from warden.dlp.profiles import DEFAULT_NER_PACKAGE, PATTERN_TYPES, SECRET_TYPES

EXAMPLE = """
default:
  score_threshold: 0.5
  on_error: allow
  phone_regions: [us, GB]
  entities:
    EMAIL_ADDRESS: redact
    CREDIT_CARD: {action: mask, keep_last: 4}
    AWS_ACCESS_KEY_ID: block
  allow_list: [S3, EKS, C4]
  custom:
    EMPLOYEE_ID:
      action: hash
      patterns: [{name: employee id, regex: 'EMP-\\d{6}', score: 0.9}]
    PROJECT_CODENAME:
      action: block
      deny_list: [Bluebird, Nightjar]
"""


def test_yaml_example_loads() -> None:
    profiles = load_profiles_yaml(EXAMPLE)
    p = profiles["default"]
    assert p.on_error == "allow"
    assert p.phone_regions == ("US", "GB")
    rules = p.rules()
    assert rules["CREDIT_CARD"].action == "mask" and rules["CREDIT_CARD"].keep_last == 4
    assert rules["EMPLOYEE_ID"].action == "hash"
    assert rules["PROJECT_CODENAME"].action == "block"
    assert p.uses("hash") and not p.uses("pseudonymize")
    assert p.threshold("EMAIL_ADDRESS") == 0.5


def test_all_errors_are_reported_together() -> None:
    bad = {
        "a": {
            "entities": {"EMAIL": "redact", "PERSON": "redact", "CREDIT_CARD": "shred"},
            "score_threshold": 2,
            "phone_regions": ["XX"],
            "surprise": True,
            "custom": {"emp": {"patterns": [{"name": "p", "regex": "("}]}},
        },
        "b": {"on_error": "maybe", "custom": {"EMPTY": {"action": "redact"}}},
    }
    with pytest.raises(ProfileError) as info:
        load_profiles(bad)
    errors = "\n".join(info.value.errors)
    for expected in [
        "a.entities.CREDIT_CARD",  # unknown action
        "a.score_threshold",
        "a.phone_regions: unknown phone region(s) XX",
        "a.surprise: Extra inputs are not permitted",
        "a.custom.emp.patterns.0.regex: not a valid regular expression",
        "b.on_error",
        "b.custom.EMPTY: give patterns, a deny_list or both",
    ]:
        assert expected in errors, expected
    assert len(info.value.errors) >= 7


def test_entity_names_are_checked_after_the_fields() -> None:
    with pytest.raises(ProfileError) as info:
        load_profiles(
            {
                "p": {
                    "entities": {"EMAIL": "redact", "PERSON": "redact"},
                    "custom": {
                        "EMAIL_ADDRESS": {"deny_list": ["x"]},
                        "bad name": {"deny_list": ["y"]},
                    },
                }
            }
        )
    (message,) = info.value.errors
    assert "entities.EMAIL: unknown entity type" in message
    assert "entities.PERSON: needs a NER model" in message
    assert "custom.EMAIL_ADDRESS: clashes with a built-in" in message
    assert "custom.bad name: name it in UPPER_SNAKE_CASE" in message


def test_custom_regex_matching_empty_is_refused() -> None:
    with pytest.raises(ProfileError, match="matches the empty string"):
        load_profiles({"p": {"custom": {"X_ID": {"patterns": [{"name": "n", "regex": "a*"}]}}}})


def test_ner_model_directory_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="no spaCy model directory"):
        load_profiles(
            {"p": {"ner": {"path": str(tmp_path / "missing")}, "entities": {"PERSON": "redact"}}}
        )
    ok = load_profiles({"p": {"ner": {"path": str(tmp_path)}, "entities": {"PERSON": "redact"}}})
    assert ok["p"].ner is not None and ok["p"].ner.package is None
    with pytest.raises(ProfileError, match="not both"):
        load_profiles({"p": {"ner": {"path": str(tmp_path), "package": "x"}}})


def test_ner_without_a_source_is_the_shipped_model() -> None:
    ok = load_profiles({"p": {"ner": {}, "entities": {"PERSON": "redact"}}})
    assert ok["p"].ner is not None and ok["p"].ner.package == DEFAULT_NER_PACKAGE


def test_not_yaml_and_not_a_mapping() -> None:
    with pytest.raises(ProfileError, match="not valid YAML"):
        load_profiles_yaml("a: [")
    with pytest.raises(ProfileError, match="expected a mapping"):
        load_profiles(["x"])  # type: ignore[arg-type]


def test_default_profile_covers_every_pattern_type() -> None:
    assert set(default_profile().rules()) == PATTERN_TYPES
    assert DlpProfile().on_error == "block"


def test_secret_types_are_always_on() -> None:
    # a profile that names only personal data still scans for every secret type
    p = load_profiles({"p": {"entities": {"EMAIL_ADDRESS": "redact"}}})["p"]
    rules = p.rules()
    assert set(SECRET_TYPES) <= set(rules)
    assert all(rules[t].action == "redact" for t in SECRET_TYPES)


def test_a_profile_chooses_the_secret_action_but_cannot_turn_it_off() -> None:
    p = load_profiles(
        {
            "p": {
                "score_threshold": 0.95,
                "entities": {
                    "GITHUB_TOKEN": "block",
                    "ENV_SECRET": {"action": "hash", "min_score": 1.0},
                },
            }
        }
    )["p"]
    assert p.rules()["GITHUB_TOKEN"].action == "block"
    assert p.rules()["ENV_SECRET"].action == "hash"
    # a threshold above the context recognizers' 0.8 would switch them off: capped
    assert p.threshold("ENV_SECRET") == 0.8
    assert p.threshold("HTTP_CREDENTIAL") == 0.8
    assert p.threshold("EMAIL_ADDRESS") == 0.95


def test_demo_profiles_cover_the_common_tokens() -> None:
    demo = load_profiles_yaml(
        Path(__file__).parents[2] / "packaging" / "demo" / "dlp-profiles.yaml"
    )
    for profile in demo.values():
        for entity in ("GITHUB_TOKEN", "GOOGLE_API_KEY", "STRIPE_KEY", "SLACK_TOKEN", "JWT"):
            assert entity in profile.rules()
