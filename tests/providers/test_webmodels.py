"""The web apps' models by the names policy matches: aliases and Gemini's header ids
resolved from the catalog's table, an unknown or missing id explicit.

Gemini ids: HanaokaYuzu/Gemini-API ``src/gemini_webapi/constants.py`` (``Model``,
``build_model_header``: ``[1,null,null,null,"<id>",null,null,0,[4],null,null,<tail>]``)
and that file's history for the 2.x ids."""

from __future__ import annotations

import pytest

from warden.providers.webmodels import (
    GEMINI_MODEL_HEADER,
    chatgpt_model,
    claude_web_model,
    gemini_web_model,
)

from .helpers import parse
from .payloads import GEMINI_WEB_PATH, gemini_web_body


def header(model_id: object, tail: int = 1) -> dict[str, str]:
    import json

    return {
        GEMINI_MODEL_HEADER: json.dumps(
            [1, None, None, None, model_id, None, None, 0, [4], None, None, tail]
        )
    }


@pytest.mark.parametrize(
    ("headers", "model"),
    [
        (header("9d8ca3786ebdfbea"), "gemini-3-pro"),
        (header("e6fa609c3fa255c0", 4), "gemini-3-pro"),
        (header("FBB127BBB056C959"), "gemini-3-flash"),
        (header("71c2d248d3b102ff"), "gemini-2.5-flash"),
        (header("0123456789abcdef"), "gemini-web:unknown:0123456789abcdef"),
        (header("x" * 500), "gemini-web:unknown:invalid"),
        (header("<script>"), "gemini-web:unknown:invalid"),
        (header(7), "gemini-web:unknown:invalid"),
        (header(None), "gemini-web:default"),
        ({GEMINI_MODEL_HEADER: "[1,null,null,null,null,null,null,null,[4]]"}, "gemini-web:default"),
        ({GEMINI_MODEL_HEADER: "not json"}, "gemini-web:unknown:invalid"),
        ({GEMINI_MODEL_HEADER: "[" * 5000}, "gemini-web:unknown:invalid"),
        ({}, "gemini-web:default"),
    ],
)
def test_gemini_header_ids(headers: dict[str, str], model: str) -> None:
    assert gemini_web_model(headers) == model
    assert parse("gemini-web", GEMINI_WEB_PATH, gemini_web_body(), headers).model == model


@pytest.mark.parametrize(
    ("slug", "model"),
    [
        ("auto", "gpt-5"),
        ("AUTO", "gpt-5"),
        ("text-davinci-002-render-sha", "gpt-3.5-turbo"),
        ("gpt-4o", "gpt-4o"),
        ("o3", "o3"),
        (None, "chatgpt-web:default"),
        ("  ", "chatgpt-web:default"),
    ],
)
def test_chatgpt_slugs(slug: str | None, model: str) -> None:
    assert chatgpt_model(slug) == model


def test_claude_without_a_model_is_explicit() -> None:
    assert claude_web_model(None) == "claude-web:default"
    assert claude_web_model("claude-opus-4-1") == "claude-opus-4-1"
