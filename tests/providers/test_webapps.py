from __future__ import annotations

import json
from urllib.parse import quote_plus

import pytest

from .helpers import parse, table
from .payloads import (
    CHATGPT_CONVERSATION,
    CLAUDE_COMPLETION,
    CLAUDE_PATH,
    GEMINI_WEB_PATH,
    compact,
    gemini_web_body,
)


@pytest.mark.parametrize(
    "path",
    [
        "/backend-api/conversation",
        "/backend-api/f/conversation",
        "/backend-anon/conversation",
        "/backend-anon/f/conversation",
    ],
)
def test_chatgpt(path: str) -> None:
    parsed = parse("chatgpt-web", path, compact(CHATGPT_CONVERSATION))
    assert (parsed.api, parsed.model, parsed.stream, parsed.rewritable) == (
        "chatgpt.conversation",
        "gpt-5",  # "auto" resolves through webmodels.CHATGPT_MODEL_ALIASES
        True,
        True,
    )
    # object parts (image_asset_pointer, file refs) are scanned string by string too
    assert table(parsed) == [
        (("messages", 0, "content", "parts", 0, "content_type"), "user", "image_asset_pointer"),
        (("messages", 0, "content", "parts", 0, "asset_pointer"), "user", "file-service://f"),
        (("messages", 0, "content", "parts", 1), "user", "Draft an email to HR about Jane"),
    ]


def test_chatgpt_code_content_and_missing_author() -> None:
    doc = {
        "action": "next",
        "messages": [
            {"content": {"content_type": "text", "parts": ["no author"]}},
            {"author": {"role": "user"}, "content": {"content_type": "code", "text": "x = 1"}},
        ],
    }
    parsed = parse("chatgpt-web", "/backend-api/conversation", compact(doc))
    assert parsed.model == "chatgpt-web:default"  # explicit: a model list refuses it
    assert table(parsed) == [
        (("messages", 0, "content", "parts", 0), "user", "no author"),
        (("messages", 1, "content", "text"), "user", "x = 1"),
    ]


@pytest.mark.parametrize(
    "path",
    [
        "/backend-api/conversations?offset=0",  # a listing is a GET (test_companions)
        "/backend-api/not-a-known-call",
        "/",
    ],
)
def test_chatgpt_other_paths(path: str) -> None:
    parsed = parse("chatgpt-web", path, compact(CHATGPT_CONVERSATION))
    assert (parsed.api, parsed.unparsed_reason) == (None, "not an inference endpoint")


def test_get_on_web_apps_is_not_inference() -> None:
    for service_id in ("chatgpt-web", "claude-web", "gemini-web"):
        parsed = parse(service_id, "/", b"", method="GET")
        assert (parsed.api, parsed.parsed, parsed.unparsed_reason) == (
            None,
            False,
            "not an inference endpoint",
        )


@pytest.mark.parametrize(
    "path", [CLAUDE_PATH, CLAUDE_PATH.replace("/completion", "/retry_completion")]
)
def test_claude(path: str) -> None:
    parsed = parse("claude-web", path, compact(CLAUDE_COMPLETION))
    assert (parsed.api, parsed.model, parsed.stream) == (
        "claude.completion",
        "claude-web:default",
        True,
    )
    styles = [
        (("personalized_styles", 0, key), "system", value)
        for key, value in {
            "type": "default",
            "key": "Default",
            "name": "Normal",
            "prompt": "Normal",
        }.items()
    ]
    assert table(parsed) == [
        (("prompt",), "user", "Summarize the attached file"),
        (("attachments", 0, "extracted_content"), "user", "Salary of Jane Doe: 90k"),
        *styles,
    ]
    with_model = parse(
        "claude-web", path, compact({**CLAUDE_COMPLETION, "model": "claude-opus-4-1"})
    )
    assert with_model.model == "claude-opus-4-1"


def test_gemini_web() -> None:
    parsed = parse("gemini-web", GEMINI_WEB_PATH, gemini_web_body())
    assert (parsed.api, parsed.model, parsed.stream, parsed.rewritable) == (
        "gemini_web.stream_generate",
        "gemini-web:default",  # no model header (webmodels.gemini_web_model)
        True,
        True,
    )
    assert table(parsed) == [(("f.req", 1, "<json>", 0, 0), "user", "Wie heißt der CEO? 👋")]


def _form(freq: str) -> bytes:
    return f"f.req={quote_plus(freq, safe='')}&at=x&".encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"at=x&", "form field f.req is missing"),
        (b"f.req=%5B%5D&f.req=%5B%5D", "form field f.req is repeated"),
        (b"f.req=%FF%FE", "form body is malformed"),
        (_form("not json"), "body is not valid JSON"),
        (_form("[null]"), "f.req is not [null, <JSON string>]"),
        (_form(json.dumps([None, "{"])), "f.req inner request: body is not valid JSON"),
        (_form(json.dumps([None, "[[1]]"])), "f.req inner request has no prompt"),
        (_form(json.dumps([None, "{}"])), "f.req inner request has no prompt"),
    ],
)
def test_gemini_web_wrong_shapes(body: bytes, reason: str) -> None:
    parsed = parse("gemini-web", GEMINI_WEB_PATH, body)
    assert (parsed.api, parsed.parsed, parsed.unparsed_reason) == (
        "gemini_web.stream_generate",
        False,
        reason,
    )


def test_chatgpt_file_references_are_named_for_the_record() -> None:
    from warden.providers.webapps import file_references

    doc = {
        "messages": [
            {
                "author": {"role": "user"},
                "content": {
                    "content_type": "multimodal_text",
                    "parts": [
                        {"content_type": "image_asset_pointer", "asset_pointer": "sediment://f1"},
                        "look at this",
                        {"content_type": "image_asset_pointer", "asset_pointer": "sediment://f1"},
                    ],
                },
                "metadata": {"attachments": [{"id": "file-9", "name": "a.pdf"}]},
            }
        ]
    }
    parsed = parse("chatgpt-web", "/backend-api/f/conversation", compact(doc))
    assert file_references(parsed.segments) == ("sediment://f1", "file-9")
    # the name of the attachment is text like any other: scanned
    assert ("messages", 0, "metadata", "attachments", 0, "name") in [
        s.path for s in parsed.segments
    ]
