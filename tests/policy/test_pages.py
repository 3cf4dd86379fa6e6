"""HTML pages: everything escaped, the coaching form posts where the caller says."""

from __future__ import annotations

import pytest

from warden.policy.engine import CompiledPolicy, compile_policy, decide
from warden.policy.loader import load_policy
from warden.policy.pages import PAGE_HEADERS, block_page, coaching_page, quota_page
from warden.policy.quotas import QuotaVerdict

from .conftest import web, who

EVIL = """
tenants:
  acme:
    rules:
      - id: evil
        match: {service: chatgpt-web}
        action: block
        reason: "<script>alert('reason')</script> & \\"quoted\\""
      - id: coach-evil
        match: {service: claude-web}
        action: coach
        coach: "<img src=x onerror=alert(1)> read this"
"""


@pytest.fixture(scope="module")
def evil() -> CompiledPolicy:
    return compile_policy(load_policy(EVIL))


def test_block_page_escapes_reason_from_config(evil: CompiledPolicy) -> None:
    d = decide(evil, who(), web())
    page = block_page(d, "Acme <Corp>", "<a href=x>help</a>")
    assert (
        "<script>" not in page and "&lt;script&gt;alert(&#x27;reason&#x27;)&lt;/script&gt;" in page
    )
    assert "&amp; &quot;quoted&quot;" in page
    assert "Acme &lt;Corp&gt;" in page and "<a href" not in page
    assert "evil" in page and d.policy_version in page
    assert page.startswith("<!doctype html>") and "<style>" in page


def test_coaching_page_form(evil: CompiledPolicy) -> None:
    d = decide(evil, who(), web("claude-web", "claude.ai", provider="anthropic"))
    page = coaching_page(
        d,
        "Acme",
        "help",
        "https://warden.acme.example/coach/ack?next=/x&y=1",
        {"token": '"><script>', "rule": d.rule_id},
    )
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt; read this" in page
    assert 'action="https://warden.acme.example/coach/ack?next=/x&amp;y=1"' in page
    assert 'name="token" value="&quot;&gt;&lt;script&gt;"' in page
    assert "I understand, continue" in page and 'method="post"' in page
    assert "again after 24 h 0 min" in page


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,x", "//evil.example/ack"])
def test_coaching_form_refuses_odd_targets(evil: CompiledPolicy, url: str) -> None:
    d = decide(evil, who(), web("claude-web", "claude.ai"))
    with pytest.raises(ValueError, match="http"):
        coaching_page(d, "Acme", "help", url)


def test_quota_page_says_which_limit_and_when() -> None:
    v = QuotaVerdict(False, "tokens_per_day", "user", 7200, 1742083200, 200000, 200000)
    page = quota_page(v, "Acme", "it@acme.example")
    assert "your personal limit of 200000 tokens per day" in page
    assert "2025-03-16 00:00 UTC" in page and "(in 2 h 0 min)" in page


def test_page_headers() -> None:
    headers = dict(PAGE_HEADERS)
    assert headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in headers["Content-Security-Policy"]
