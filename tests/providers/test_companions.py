"""Web-app companion calls: recognized by method and path with their own api id and kind,
every string of their bodies read, nothing else opened.

Shapes as public clients replay the apps' traffic (read, not copied):
- ChatGPT: acheong08/ChatGPT ``src/revChatGPT/V1.py`` (``/backend-api/conversation``,
  ``conversations``, ``gen_title``); Simatwa/WebChatGPT ``assets/recons/4th_requests.md``
  (``ces/v1/b`` telemetry); the sentinel/prepare/conduit sequence
  (``/backend-api/sentinel/chat-requirements``, ``/backend-api/f/conversation/prepare``
  answering ``conduit_token``, sent back as ``x-conduit-token``) as the 2025-2026 bridges
  replay it (e.g. the gpt4free ``g4f/Provider/needs_auth/OpenaiChat.py`` headers).
- Claude: st1vms/unofficial-claude-api ``claude_api/client.py`` (``POST
  /api/organizations/{org}/chat_conversations`` with ``uuid`` and ``name``).
- Gemini: HanaokaYuzu/Gemini-API ``src/gemini_webapi/constants.py`` (``BATCH_EXEC``,
  form field ``f.req`` holding ``[[[rpcid, "<JSON>", null, "generic"]]]``).
"""

from __future__ import annotations

import json
from urllib.parse import quote_plus

import pytest

from warden.providers.rewrite import rewrite_request
from warden.providers.sidecalls import side_call_of

from .helpers import parse

ORG = "0f1e2d3c-0000-4000-8000-00000000000a"
CONV = "8a7b6c5d-0000-4000-8000-00000000000b"
EMAIL = "jane.customer@example.com"


def form(freq: object) -> bytes:
    return f"f.req={quote_plus(json.dumps(freq), safe='')}&at=AJvLN6x&".encode()


PREPARE = {
    "action": "next",
    "fork_from_shared_post": False,
    "parent_message_id": "client-created-root",
    "model": "auto",
    "client_prepare_state": "none",
    "timezone_offset_min": -60,
    "conversation_mode": {"kind": "primary_assistant"},
    "system_hints": [],
    "supports_buffering": True,
    "supported_encodings": ["v1"],
    # the prompt being typed travels in the pre-flight: it must be scanned
    "partial_query": {
        "id": "u1",
        "author": {"role": "user"},
        "content": {"content_type": "text", "parts": [f"write to {EMAIL}"]},
    },
}


@pytest.mark.parametrize(
    ("service", "method", "path", "body", "api", "kind"),
    [
        (
            "chatgpt-web",
            "POST",
            "/backend-api/sentinel/chat-requirements",
            {"p": "gAAAAAB"},
            "chatgpt.preflight",
            "companion",
        ),
        (
            "chatgpt-web",
            "POST",
            "/backend-api/sentinel/chat-requirements/prepare",
            {"p": "gAAAAAB"},
            "chatgpt.preflight",
            "companion",
        ),
        (
            "chatgpt-web",
            "POST",
            "/backend-api/f/conversation/prepare",
            PREPARE,
            "chatgpt.preflight",
            "companion",
        ),
        (
            "chatgpt-web",
            "POST",
            "/backend-anon/f/conversation/prepare",
            PREPARE,
            "chatgpt.preflight",
            "companion",
        ),
        (
            "chatgpt-web",
            "POST",
            "/backend-api/conversation/init",
            {"gizmo_id": None},
            "chatgpt.preflight",
            "companion",
        ),
        (
            "chatgpt-web",
            "GET",
            "/backend-api/conversations?offset=0&limit=28",
            None,
            "chatgpt.conversations",
            "companion",
        ),
        (
            "chatgpt-web",
            "PATCH",
            f"/backend-api/conversation/{CONV}",
            {"title": EMAIL},
            "chatgpt.conversations",
            "companion",
        ),
        (
            "chatgpt-web",
            "POST",
            f"/backend-api/conversation/gen_title/{CONV}",
            {"message_id": "m1"},
            "chatgpt.conversations",
            "companion",
        ),
        ("chatgpt-web", "GET", "/backend-api/models", None, "chatgpt.settings", "companion"),
        (
            "chatgpt-web",
            "POST",
            "/ces/v1/t",
            {"event": "x", "userId": EMAIL},
            "chatgpt.telemetry",
            "telemetry",
        ),
        (
            "claude-web",
            "POST",
            f"/api/organizations/{ORG}/chat_conversations",
            {"uuid": CONV, "name": EMAIL, "model": "claude-sonnet-4-5"},
            "claude.conversations",
            "companion",
        ),
        (
            "claude-web",
            "GET",
            f"/api/organizations/{ORG}/chat_conversations?limit=30",
            None,
            "claude.conversations",
            "companion",
        ),
        (
            "claude-web",
            "PUT",
            f"/api/organizations/{ORG}/chat_conversations/{CONV}",
            {"name": EMAIL},
            "claude.conversations",
            "companion",
        ),
        (
            "claude-web",
            "POST",
            f"/api/organizations/{ORG}/chat_conversations/{CONV}/title",
            {"message_content": EMAIL, "recent_titles": []},
            "claude.conversations",
            "companion",
        ),
        ("claude-web", "GET", "/api/bootstrap", None, "claude.settings", "companion"),
    ],
)
def test_companion_calls_are_recognized_and_every_string_is_read(
    service: str, method: str, path: str, body: object, api: str, kind: str
) -> None:
    raw = json.dumps(body).encode() if body is not None else b""
    parsed = parse(service, path, raw, method=method)
    assert (parsed.api, parsed.parsed, side_call_of(parsed.api)) == (api, True, kind)
    if body is None:
        assert parsed.segments == ()
    texts = " ".join(s.text for s in parsed.segments)
    if EMAIL in raw.decode():
        assert EMAIL in texts  # nothing of the body rides along unseen


def test_gemini_batchexecute_form_body_is_read_and_rewritable() -> None:
    inner = json.dumps([EMAIL, None, [1]])
    body = form([[["MaZiqc", inner, None, "generic"]]])
    parsed = parse("gemini-web", "/_/BardChatUi/data/batchexecute?rpcids=MaZiqc&bl=x", body)
    assert (parsed.api, side_call_of(parsed.api), parsed.parsed) == (
        "gemini_web.batchexecute",
        "companion",
        True,
    )
    segment = next(s for s in parsed.segments if EMAIL in s.text)
    out = rewrite_request(parsed, body, {segment.path: segment.text.replace(EMAIL, "<E_1>")})
    again = parse("gemini-web", "/_/BardChatUi/data/batchexecute", out)
    assert EMAIL not in " ".join(s.text for s in again.segments)
    assert out.endswith(b"&at=AJvLN6x&")  # the other form fields byte for byte


@pytest.mark.parametrize(
    ("service", "method", "path", "body", "reason"),
    [
        # a listing that comes with a body is not read: nothing rides along unseen
        (
            "chatgpt-web",
            "GET",
            "/backend-api/conversations",
            b'{"x": 1}',
            "a body where the API takes none",
        ),
        (
            "chatgpt-web",
            "POST",
            "/backend-api/sentinel/chat-requirements",
            b"{not json",
            "body is not valid JSON",
        ),
        (
            "gemini-web",
            "POST",
            "/_/BardChatUi/data/batchexecute",
            b"at=x",
            "form field f.req is missing",
        ),
        # an unknown call with a body stays unparsed (allow_unparsed decides, not this)
        (
            "claude-web",
            "POST",
            f"/api/organizations/{ORG}/something_new",
            b"{}",
            "not an inference endpoint",
        ),
        ("chatgpt-web", "POST", "/backend-api/unknown/prepare", b"{}", "not an inference endpoint"),
    ],
)
def test_what_is_not_a_readable_companion_call_stays_unparsed(
    service: str, method: str, path: str, body: bytes, reason: str
) -> None:
    parsed = parse(service, path, body, method=method)
    assert (parsed.parsed, parsed.unparsed_reason) == (False, reason)


def test_too_many_strings_are_not_read() -> None:
    body = json.dumps({"p": ["x"] * 20_001}).encode()
    parsed = parse("chatgpt-web", "/backend-api/sentinel/chat-requirements", body)
    assert (parsed.parsed, parsed.unparsed_reason) == (False, "too many strings in the body")
