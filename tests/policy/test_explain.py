"""`policy explain`: the decision and the rule path, as text."""

from __future__ import annotations

from warden.policy.engine import CompiledPolicy
from warden.policy.explain import explain


def test_explain_department_block(example: CompiledPolicy) -> None:
    text = explain(example, "acme", "bob", "gpt-4o", department="finance", entities=[])
    assert text.splitlines()[0] == "decision:  BLOCK"
    assert "rule:      finance-no-gpt4o" in text
    assert "host=api.openai.com" in text and "no --host given" in text
    assert "path:      defaults! → tenant:acme/dept:finance → finance-no-gpt4o" in text
    assert "MATCH finance-no-gpt4o → block" in text
    # the enforced secrets rule was looked at first and did not match
    assert text.index("skip  secrets-never-leave") < text.index("MATCH finance-no-gpt4o")


def test_explain_host_from_catalog(example: CompiledPolicy) -> None:
    text = explain(example, "acme", "carol", None, host="claude.ai", department="sales")
    assert "provider=anthropic service=claude-web host=claude.ai kind=webapp" in text
    assert "rule:      sales-no-claude-web" in text


def test_explain_user_exception_and_pending_dlp(example: CompiledPolicy) -> None:
    text = explain(example, "acme", "alice", "o3-pro", department="eng")
    assert "rule:      alice-o3-pro" in text
    assert "wait  secrets-never-leave" in text
    assert "pending:" in text


def test_explain_roles_and_builtins(example: CompiledPolicy) -> None:
    text = explain(example, "acme", "dave", "llama-3", groups=["security-reviewers"], entities=[])
    assert "roles=[reviewer]" in text
    assert "rule:      tenant:acme/models" in text
    assert "built-in: tenant:acme/models → block" in text
    text = explain(example, "umbrella", "x", "gpt-4o")
    assert "rule:      policy/unknown-tenant" in text


def test_explain_unknown_host(example: CompiledPolicy) -> None:
    text = explain(example, "acme", "bob", "gpt-4o", host="example.org")
    assert "not in the LLM catalog" in text
