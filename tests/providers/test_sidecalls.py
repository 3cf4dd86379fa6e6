"""Side calls (token counting, telemetry, model listing, client bootstrap): each gets its
api id and kind, is read as strictly as a prompt, and nothing rides along unseen."""

from __future__ import annotations

import json

import pytest

from warden.providers.rewrite import rewrite_request
from warden.providers.sidecalls import (
    MAX_TELEMETRY_STRINGS,
    SIDE_CALL_KINDS,
    SIDE_ROUTES,
    side_call_of,
)

from .helpers import parse
from .payloads import compact

EMAIL = "jane.customer@example.com"
MESSAGES = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": EMAIL}]}


@pytest.mark.parametrize(
    ("service", "method", "path", "body", "api", "kind", "model"),
    [
        (
            "anthropic",
            "POST",
            "/v1/messages/count_tokens?beta=true",
            MESSAGES,
            "anthropic.count_tokens",
            "token_count",
            "claude-sonnet-4-5",
        ),
        (
            "anthropic",
            "POST",
            "/api/event_logging/batch",
            {"events": [{"seq": 1, "event_data": {"note": EMAIL}}]},
            "anthropic.event_logging",
            "telemetry",
            None,
        ),
        (
            "anthropic",
            "POST",
            "/api/event_logging/v2/batch",
            {"rows": [EMAIL]},
            "anthropic.event_logging",
            "telemetry",
            None,
        ),
        (
            "anthropic",
            "POST",
            "/api/eval/sdk-zAZezfDKGoZuXXKe",
            {"attributes": {"id": 7, "email": EMAIL}, "forcedFeatures": []},
            "anthropic.feature_flags",
            "bootstrap",
            None,
        ),
        (
            "openai",
            "POST",
            "/v1/responses/input_tokens",
            {"model": "gpt-5", "input": EMAIL},
            "openai.input_tokens",
            "token_count",
            "gpt-5",
        ),
        (
            "gemini",
            "POST",
            "/v1beta/models/gemini-2.5-flash:countTokens",
            {"contents": [{"parts": [{"text": EMAIL}]}]},
            "gemini.count_tokens",
            "token_count",
            "gemini-2.5-flash",
        ),
        (
            "gemini",
            "POST",
            "/v1beta/models/gemini-2.5-flash:countTokens",
            {"generateContentRequest": {"contents": [{"parts": [{"text": EMAIL}]}]}},
            "gemini.count_tokens",
            "token_count",
            "gemini-2.5-flash",
        ),
    ],
)
def test_side_calls_with_a_body_are_read_like_prompts(
    service: str,
    method: str,
    path: str,
    body: dict[str, object],
    api: str,
    kind: str,
    model: str | None,
) -> None:
    raw = compact(body)
    parsed = parse(service, path, raw, method=method)
    assert (parsed.api, parsed.parsed, parsed.model) == (api, True, model)
    assert side_call_of(parsed.api) == kind
    assert [s.text for s in parsed.segments] == [EMAIL]
    # what DLP replaces is written back in place, like a prompt's text
    rewritten = rewrite_request(parsed, raw, {parsed.segments[0].path: "<EMAIL_ADDRESS_1>"})
    assert EMAIL not in rewritten.decode() and "<EMAIL_ADDRESS_1>" in rewritten.decode()


@pytest.mark.parametrize(
    ("service", "path", "api", "kind"),
    [
        ("openai", "/v1/models", "openai.models", "model_list"),
        ("openai", "/v1/models/gpt-5", "openai.models", "model_list"),
        ("anthropic", "/v1/models", "anthropic.models", "model_list"),
        ("gemini", "/v1beta/models", "gemini.models", "model_list"),
        ("gemini", "/v1/models/gemini-2.5-flash", "gemini.models", "model_list"),
        (
            "anthropic",
            "/api/claude_cli/bootstrap?entrypoint=cli",
            "anthropic.client_bootstrap",
            "bootstrap",
        ),
        ("anthropic", "/api/claude_code/settings", "anthropic.client_bootstrap", "bootstrap"),
        ("anthropic", "/api/claude_code/policy_limits", "anthropic.client_bootstrap", "bootstrap"),
        ("anthropic", "/api/directory/server-urls", "anthropic.client_bootstrap", "bootstrap"),
    ],
)
def test_bodiless_side_calls(service: str, path: str, api: str, kind: str) -> None:
    parsed = parse(service, path, b"", method="GET")
    assert (parsed.api, parsed.parsed, parsed.segments) == (api, True, ())
    assert side_call_of(parsed.api) == kind


# What must not pass unseen: each of these is unparsed, so policy refuses it unless the
# tenant allows unparsed traffic (as before side calls were known).
@pytest.mark.parametrize(
    ("service", "method", "path", "body", "reason"),
    [
        (
            "openai",
            "GET",
            "/v1/models",
            b'{"input": "smuggled"}',
            "a body where the API takes none",
        ),
        (
            "anthropic",
            "GET",
            "/api/claude_cli/bootstrap",
            b"smuggled",
            "a body where the API takes none",
        ),
        ("anthropic", "POST", "/v1/messages/count_tokens", b"not json", "body is not valid JSON"),
        (
            "anthropic",
            "POST",
            "/v1/messages/count_tokens",
            b'{"messages": "x"}',
            "messages is not a list",
        ),
        ("anthropic", "POST", "/api/event_logging/batch", b"[1, 2]", "body is not a JSON object"),
        ("anthropic", "POST", "/api/event_logging/batch", b"", "empty body"),
        (
            "gemini",
            "POST",
            "/v1beta/models/g:countTokens",
            b'{"contents": [], "generateContentRequest": {"contents": []}}',
            "both contents and generateContentRequest",
        ),
    ],
)
def test_side_calls_that_cannot_be_read_are_unparsed(
    service: str, method: str, path: str, body: bytes, reason: str
) -> None:
    parsed = parse(service, path, body, method=method)
    assert not parsed.parsed and parsed.unparsed_reason == reason
    assert parsed.segments == ()


@pytest.mark.parametrize(
    ("service", "method", "path"),
    [
        ("anthropic", "GET", "/v1/messages/count_tokens"),  # wrong method
        ("anthropic", "POST", "/api/claude_cli/bootstrap"),  # wrong method
        ("anthropic", "POST", "/api/event_logging/batch/extra"),
        ("anthropic", "POST", "/api/other"),
        ("openai", "POST", "/v1/models"),
        ("gemini", "POST", "/v1beta/models/g:listThings"),
        ("gemini", "POST", "/v1beta/models/:countTokens"),
        ("openai", "POST", "/api/event_logging/batch"),  # Claude Code's path on another service
    ],
)
def test_other_paths_stay_not_inference(service: str, method: str, path: str) -> None:
    parsed = parse(service, path, b'{"a": "b"}', method=method)
    assert parsed.unparsed_reason == "not an inference endpoint" and parsed.api is None


def test_telemetry_reads_every_string_and_bounds_the_count() -> None:
    body = {"a": ["x", {"b": "y", "n": 1, "t": True}], "c": None, "key-not-text": "z"}
    parsed = parse("anthropic", "/api/event_logging/batch", compact(body))
    assert [(s.path, s.text) for s in parsed.segments] == [
        (("a", 0), "x"),
        (("a", 1, "b"), "y"),
        (("key-not-text",), "z"),
    ]
    too_many = json.dumps({"e": ["s"] * (MAX_TELEMETRY_STRINGS + 1)}).encode()
    parsed = parse("anthropic", "/api/event_logging/batch", too_many)
    assert parsed.unparsed_reason == "too many strings in the body"


def test_deep_telemetry_is_walked_without_recursion() -> None:
    body = b'{"a":' + b"[" * 5000 + b'"deep"' + b"]" * 5000 + b"}"
    parsed = parse("anthropic", "/api/event_logging/batch", body)
    # either read (iteratively) or refused as too deep by the JSON reader: never a crash
    assert parsed.parsed is False or [s.text for s in parsed.segments] == ["deep"]


def test_every_route_names_a_known_kind() -> None:
    kinds = {r.kind for routes in SIDE_ROUTES.values() for r in routes}
    assert kinds == set(SIDE_CALL_KINDS)
    assert side_call_of("openai.chat_completions") is None and side_call_of(None) is None
