"""The redacted prompt of a flow, in memory beside the flow, for the audit record.

Kept only when the policy's logging level asks for it, never in the flow's metadata.
"""

from __future__ import annotations

from mitmproxy import http

from warden.addons.flowstate import state, state_of


def keep_redacted_prompt(flow: http.HTTPFlow, text: str) -> None:
    state(flow).prompt = text


def redacted_prompt(flow: http.HTTPFlow) -> str | None:
    kept = state_of(flow)
    return kept.prompt if kept is not None else None
