"""Upload policy: the ``uploads:`` keys are validated with errors that name the fix, are
inherited department → tenant → defaults key by key, and refuse files by type, size,
readability and findings."""

from __future__ import annotations

from typing import Any

import pytest

from warden.policy import PolicyError, compile_policy, load_policy
from warden.policy.uploads import UploadRules, judge_file, judge_scan, upload_rules

DOC: dict[str, Any] = {
    "defaults": {"uploads": {"max_bytes": 1000, "blocked_types": ["archive"]}},
    "tenants": {
        "acme": {
            "uploads": {"findings": "block", "allowed_types": ["pdf", "docx", "text", "archive"]},
            "departments": {
                "eng": {"uploads": {"max_bytes": 5000, "unreadable": "allow"}},
                "legal": {"uploads": {"action": "block"}},
            },
        },
        "globex": {},
    },
}


def rules(tenant: str | None, dept: str | None) -> UploadRules:
    return upload_rules(compile_policy(load_policy(DOC)), tenant, dept)


def test_settings_are_inherited_key_by_key() -> None:
    eng = rules("acme", "eng")
    assert (eng.max_bytes, eng.unreadable, eng.findings, eng.blocked_types) == (
        5000,
        "allow",
        "block",
        frozenset({"archive"}),
    )
    assert eng.layer == "tenant:acme/dept:eng"
    sales = rules("acme", "sales")  # no layer of its own: the tenant's
    assert (sales.max_bytes, sales.unreadable, sales.layer) == (1000, "block", "tenant:acme")
    assert rules("globex", None) == UploadRules(
        max_bytes=1000, blocked_types=frozenset({"archive"}), layer="defaults"
    )
    assert rules("nobody", None).layer == "defaults"


def test_judged_by_action_size_and_type() -> None:
    legal = judge_file(rules("acme", "legal"), "pdf", 10)
    assert legal is not None and legal.rule_id == "tenant:acme/dept:legal/uploads/action"
    big = judge_file(rules("acme", "sales"), "pdf", 2048)
    assert big is not None and big.rule_id.endswith("/max_bytes") and "2.0 KB" in big.reason
    assert judge_file(rules("acme", "eng"), "pdf", 2048) is None
    blocked = judge_file(rules("acme", "eng"), "archive", 10)
    assert blocked is not None and blocked.rule_id.endswith("/blocked_types")
    unlisted = judge_file(rules("acme", "eng"), "xlsx", 10)
    assert unlisted is not None and "allowed types: archive, docx, pdf, text" in unlisted.reason
    # an announcement whose name says nothing is judged when its bytes come
    assert judge_file(rules("acme", "eng"), "binary", 10, announced=True) is None
    assert judge_file(rules("acme", "eng"), "binary", 10) is not None


def test_judged_after_the_scan() -> None:
    eng, sales, globex = rules("acme", "eng"), rules("acme", "sales"), rules("globex", None)
    assert judge_scan(eng, "the PDF is encrypted", frozenset(), frozenset()) is None
    refused = judge_scan(sales, "the PDF is encrypted", frozenset(), frozenset())
    assert refused is not None and "could not be checked" in refused.reason
    assert refused.rule_id == "tenant:acme/uploads/unreadable"
    dlp = judge_scan(globex, None, frozenset({"AWS_ACCESS_KEY_ID"}), frozenset())
    assert dlp is not None and dlp.rule_id == "dlp/blocked"
    assert judge_scan(globex, None, frozenset(), frozenset({"CREDIT_CARD"})) is None  # recorded
    card = judge_scan(sales, None, frozenset(), frozenset({"CREDIT_CARD"}))  # findings: block
    assert card is not None and "CREDIT_CARD" in card.reason


@pytest.mark.parametrize(
    ("uploads", "message"),
    [
        (
            {"action": "scann"},
            "defaults.uploads.action: Input should be 'scan', 'allow' or 'block'",
        ),
        (
            {"max_bytes": 0},
            "defaults.uploads.max_bytes: Input should be greater than or equal to 1",
        ),
        ({"blocked_types": ["exe"]}, "unknown file type(s) 'exe'; the types are text, markdown"),
        ({"unreadable": "warn"}, "defaults.uploads.unreadable: Input should be 'block' or 'allow'"),
        ({"findings": "redact"}, "defaults.uploads.findings: Input should be 'record' or 'block'"),
        ({"allowed": ["pdf"]}, "defaults.uploads.allowed: unknown key"),
        (
            {"blocked_types": ["pdf"], "allowed_types": ["pdf"]},
            "type(s) pdf are in both blocked_types and allowed_types",
        ),
    ],
)
def test_invalid_keys_are_named_with_the_fix(uploads: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy({"defaults": {"uploads": uploads}})
    assert message in str(caught.value)


def test_department_keys_are_checked_too() -> None:
    with pytest.raises(PolicyError, match=r"tenants\.acme\.departments\.eng\.uploads\.findings"):
        load_policy({"tenants": {"acme": {"departments": {"eng": {"uploads": {"findings": 1}}}}}})


def test_the_example_policy_says_what_the_readme_says() -> None:
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "policy" / "example-policy.yaml"
    policy = compile_policy(load_policy(example.read_text(encoding="utf-8")))
    sales = upload_rules(policy, "acme", "sales")
    assert (sales.action, sales.max_bytes, sales.unreadable, sales.findings) == (
        "scan",
        25 * 1024 * 1024,
        "block",
        "record",
    )
    assert sales.blocked_types == {"archive", "ole", "binary"}
    finance = upload_rules(policy, "acme", "finance")
    assert finance.findings == "block"
    assert finance.allowed_types == frozenset({"pdf", "docx", "xlsx", "csv", "text"})
    refused = judge_file(finance, "pptx", 10)
    assert (
        refused is not None and refused.rule_id == "tenant:acme/dept:finance/uploads/allowed_types"
    )
