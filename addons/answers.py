"""Answering a flow ourselves, and saying why in its context: the one way a stage answers.

Every stage that refuses a request or withholds an answer (scope's refusal, identify's
challenge, policy's error or page, redaction, the pipeline's internal-error guard, the
audit trail) answers through ``answer`` or, in the provider's error shape so the
client's SDK shows our message, ``answer_error``; the flow's record names the outcome.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mitmproxy import http

from warden.addons.flowcontext import FlowContext
from warden.providers.errors import error_body


def answer(
    flow: http.HTTPFlow,
    status: int,
    content: bytes | str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    outcome: str | None = None,
) -> None:
    """Replace the flow's answer; with ``outcome``, mark the flow's context so."""
    flow.response = http.Response.make(status, content, dict(headers))
    if outcome is not None:
        FlowContext.of(flow).replace(outcome=outcome).save(flow)


def answer_error(
    flow: http.HTTPFlow,
    status: int,
    message: str,
    code: str,
    outcome: str,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Replace the flow's answer with ``status`` and ``message`` as its provider words errors
    (OpenAI's shape when the flow has no destination), and mark it ``outcome``."""
    ctx = FlowContext.of(flow)
    provider = ctx.destination.provider if ctx.destination else "openai"
    flow.response = http.Response.make(
        status,
        error_body(provider, status, message, code),
        {"Content-Type": "application/json", **(headers or {})},
    )
    ctx.replace(outcome=outcome).save(flow)
