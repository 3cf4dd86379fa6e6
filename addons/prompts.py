"""The redacted prompt of a flow, in memory beside the flow, for the audit record.

Kept only when the policy's logging level asks for it, never in the flow's metadata.
"""

from __future__ import annotations

import weakref

from mitmproxy import http

_prompts: weakref.WeakKeyDictionary[http.HTTPFlow, str] = weakref.WeakKeyDictionary()


def keep_redacted_prompt(flow: http.HTTPFlow, text: str) -> None:
    _prompts[flow] = text


def redacted_prompt(flow: http.HTTPFlow) -> str | None:
    return _prompts.get(flow)
