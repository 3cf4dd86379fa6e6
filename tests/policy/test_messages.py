"""SDK errors: readable through the real openai and anthropic clients, never echoing content."""

from __future__ import annotations

import json
from collections.abc import Callable

import anthropic
import httpx2
import openai
import pytest

from warden.policy.engine import CompiledPolicy, PolicyDecision, decide
from warden.policy.messages import (
    ApiError,
    block_message,
    block_response,
    coach_response,
    quota_message,
    quota_response,
)
from warden.policy.quotas import QuotaVerdict

from .conftest import api, who

COMPANY, CONTACT = "Acme Corp", "ai-help@acme.example"
CARD = "4111 1111 1111 1111"
VERDICT = QuotaVerdict(False, "requests_per_minute", "user", 42, 1741947660, 30, 30)
DAY_VERDICT = QuotaVerdict(
    False, "tokens_per_day", "department", 3600 * 5, 1742000000, 10**6, 10**6
)


def transport(answer: ApiError, calls: list[int]) -> httpx2.MockTransport:
    """Both SDKs run on httpx2 in these versions."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(1)
        return httpx2.Response(answer.status, headers=list(answer.headers), content=answer.body)

    return httpx2.MockTransport(handler)


def openai_call(answer: ApiError, calls: list[int], retries: int = 2) -> Callable[[], object]:
    client = openai.OpenAI(
        api_key="sk-test",
        base_url="https://api.openai.com/v1",
        max_retries=retries,
        http_client=httpx2.Client(transport=transport(answer, calls)),
    )
    return lambda: client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )


def anthropic_call(answer: ApiError, calls: list[int]) -> Callable[[], object]:
    client = anthropic.Anthropic(
        api_key="sk-ant-test", http_client=httpx2.Client(transport=transport(answer, calls))
    )
    return lambda: client.messages.create(
        model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    )


def blocked(policy: CompiledPolicy) -> PolicyDecision:
    return decide(policy, who(department="finance"), api("gpt-4o"))


def test_openai_sdk_raises_with_rule_reason_and_contact(policy: CompiledPolicy) -> None:
    calls: list[int] = []
    with pytest.raises(openai.PermissionDeniedError) as exc:
        openai_call(block_response("openai", blocked(policy), COMPANY, CONTACT), calls)()
    text = str(exc.value)
    assert "fin-no-4o" in text and "Not for finance." in text and CONTACT in text
    assert exc.value.code == "policy_blocked"
    assert len(calls) == 1  # not retried


def test_anthropic_sdk_raises_with_rule(policy: CompiledPolicy) -> None:
    # 400 invalid_request_error, not 403: Claude Code shows every 403 as "Failed to
    # authenticate" (tests/e2e/test_agents.py shows the refusal it prints instead)
    calls: list[int] = []
    with pytest.raises(anthropic.BadRequestError) as exc:
        anthropic_call(block_response("anthropic", blocked(policy), COMPANY, CONTACT), calls)()
    assert "fin-no-4o" in str(exc.value) and len(calls) == 1
    body = exc.value.body
    assert exc.value.status_code == 400 and isinstance(body, dict)
    assert body["error"]["type"] == "invalid_request_error"


def test_quota_429_with_retry_after() -> None:
    answer = quota_response("openai", VERDICT, COMPANY, CONTACT)
    assert answer.status == 429 and ("Retry-After", "42") in answer.headers
    # a short wait: the SDK may retry by itself once the minute is over
    assert "x-should-retry" not in dict(answer.headers)
    calls: list[int] = []
    client_call = openai_call(answer, calls, retries=0)
    with pytest.raises(openai.RateLimitError) as exc:
        client_call()
    assert "30 requests per minute" in str(exc.value)


def test_long_quota_wait_is_not_retried_by_the_sdk() -> None:
    answer = quota_response("anthropic", DAY_VERDICT, COMPANY, CONTACT)
    calls: list[int] = []
    with pytest.raises(anthropic.RateLimitError) as exc:
        anthropic_call(answer, calls)()
    assert len(calls) == 1
    assert "your department's limit of 1000000 tokens per day" in str(exc.value)
    assert "in 5 h 0 min" in str(exc.value)


def test_gemini_shape(policy: CompiledPolicy) -> None:
    body = json.loads(block_response("google", blocked(policy), COMPANY, CONTACT).body)
    assert (
        body["error"]["status"] == "PERMISSION_DENIED" and "fin-no-4o" in body["error"]["message"]
    )


def test_coach_for_api_clients(example: CompiledPolicy) -> None:
    d = decide(
        example, who("globex"), api(None, service="chatgpt-web", host="chatgpt.com", kind="webapp")
    )
    answer = coach_response("openai", d, COMPANY, CONTACT, "https://warden.acme.example/coach")
    message = json.loads(answer.body)["error"]["message"]
    assert "public information only" in message and "https://warden.acme.example/coach" in message
    assert answer.status == 403 and ("X-Egress-Warden-Rule", d.rule_id) in answer.headers


def test_messages_never_contain_what_dlp_found(policy: CompiledPolicy) -> None:
    """Only entity types reach the policy; a value in the prompt cannot appear in a message."""
    d = decide(policy, who(), api(entity_types=frozenset({"API_KEY"})))
    assert d.entities == ("API_KEY",)
    texts = [
        block_message(d, COMPANY, CONTACT),
        block_response("openai", d, COMPANY, CONTACT).body.decode(),
        block_response("anthropic", d, COMPANY, CONTACT).body.decode(),
        quota_message(VERDICT, COMPANY, CONTACT),
        repr(d),
    ]
    for text in texts:
        assert CARD not in text and "sk-live" not in text


def test_control_characters_do_not_reach_headers(policy: CompiledPolicy) -> None:
    d = blocked(policy)
    evil = PolicyDecision(d.action, "r\r\nSet-Cookie: x=1", d.policy_version, "line\nbreak")
    answer = block_response("openai", evil, "Acme\r\n", CONTACT)
    for _, value in answer.headers:
        assert "\r" not in value and "\n" not in value
    assert "line break" in json.loads(answer.body)["error"]["message"]
