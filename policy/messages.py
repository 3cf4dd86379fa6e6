"""What API clients read when the policy stops them: error texts and bodies in the shape
of the provider's SDK (``providers.errors``), with status and headers.

Texts are built from policy text (a rule's reason, the coaching notice), the rule id,
the policy version, limits and times, and the company and contact passed in: never from
request content, so nothing a user sent (or DLP found) can be echoed back.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from ..providers.errors import error_body, refusal_status
from .engine import PolicyDecision
from .quotas import QuotaVerdict

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")

LIMIT_WORDS = {
    "requests_per_minute": "requests per minute",
    "tokens_per_day": "tokens per day",
    "tokens_per_month": "tokens per month",
}
SCOPE_WORDS = {
    "user": "your personal",
    "department": "your department's",
    "tenant": "your organisation's",
}
#: SDKs (openai, anthropic) retry a 429 by themselves unless told not to; beyond this
#: wait a retry only delays the message, so the answer says ``x-should-retry: false``.
RETRY_WORTH_S = 60


@dataclass(frozen=True, slots=True)
class ApiError:
    """An answer the gateway gives itself: status, headers, body (the SDK's error shape)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def block_message(decision: PolicyDecision, company: str, contact: str) -> str:
    return (
        f"Egress Warden blocked this request under {_flat(company)}'s AI usage policy "
        f"(rule {decision.rule_id}): {_flat(decision.reason)} "
        f"If you need this, contact {_flat(contact)} and quote the rule id. "
        f"[policy {decision.policy_version}]"
    )


def coach_message(
    decision: PolicyDecision, company: str, contact: str, acknowledge_url: str | None
) -> str:
    where = (
        f"Open {acknowledge_url} in a browser to read and acknowledge it, then retry."
        if acknowledge_url
        else "Open the service in a browser through the gateway to acknowledge it, then retry."
    )
    return (
        f"{_flat(company)}'s AI usage policy asks you to acknowledge a notice first "
        f"(rule {decision.rule_id}): {_flat(decision.coach_message or decision.reason)} "
        f"{where} Questions: {_flat(contact)}. [policy {decision.policy_version}]"
    )


def quota_message(verdict: QuotaVerdict, company: str, contact: str) -> str:
    limit = LIMIT_WORDS.get(verdict.limit_name or "", verdict.limit_name or "quota")
    scope = SCOPE_WORDS.get(verdict.scope or "", "a")
    return (
        f"Egress Warden: {scope} limit of {verdict.limit} {limit} at {_flat(company)} is "
        f"reached. It resets at {format_reset(verdict.resets_at)} "
        f"(in {format_wait(verdict.retry_after_s)}). For a higher limit, contact "
        f"{_flat(contact)}."
    )


def block_response(provider: str, decision: PolicyDecision, company: str, contact: str) -> ApiError:
    """403 in ``provider``'s error shape (openai, google, aws, ...); 400 for Anthropic,
    whose Claude Code shows a 403 as an authentication failure (``refusal_status``)."""
    return _error(
        provider,
        refusal_status(provider),
        block_message(decision, company, contact),
        "policy_blocked",
        decision,
    )


def coach_response(
    provider: str,
    decision: PolicyDecision,
    company: str,
    contact: str,
    acknowledge_url: str | None = None,
) -> ApiError:
    """403 (Anthropic: 400) telling an API client where to acknowledge the notice."""
    text = coach_message(decision, company, contact, acknowledge_url)
    return _error(provider, refusal_status(provider), text, "coaching_required", decision)


def quota_response(provider: str, verdict: QuotaVerdict, company: str, contact: str) -> ApiError:
    """429 with ``Retry-After`` in ``provider``'s error shape."""
    wait = verdict.retry_after_s or 60
    headers = [("Retry-After", str(wait))]
    if wait > RETRY_WORTH_S:
        headers.append(("x-should-retry", "false"))
    body = error_body(provider, 429, quota_message(verdict, company, contact), "quota_exceeded")
    return ApiError(429, (*_JSON, *headers), body)


def format_reset(resets_at: int | None) -> str:
    if resets_at is None:
        return "an unknown time"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(resets_at))


def format_wait(seconds: int | None) -> str:
    if seconds is None:
        return "a while"
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} days"


_JSON = (("Content-Type", "application/json"), ("Cache-Control", "no-store"))


def _error(
    provider: str, status: int, message: str, code: str, decision: PolicyDecision
) -> ApiError:
    headers = (
        *_JSON,
        ("x-should-retry", "false"),
        ("X-Egress-Warden-Rule", _flat(decision.rule_id)),
        ("X-Egress-Warden-Policy", decision.policy_version),
    )
    return ApiError(status, headers, error_body(provider, status, message, code))


def _flat(text: str) -> str:
    """One line, no control characters (texts also go into headers and logs)."""
    return _CONTROL.sub(" ", text).strip()
