"""Answering a flow ourselves, in its provider's error shape, and saying why in its context.

Every stage that refuses a request or withholds an answer (redaction, the pipeline's
internal-error guard, the audit trail) answers the same way, so the client's SDK shows
our message and the flow's record names the outcome.
"""

from __future__ import annotations

from collections.abc import Mapping

from mitmproxy import http

from warden.addons.flowcontext import FlowContext
from warden.providers.errors import error_body


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
