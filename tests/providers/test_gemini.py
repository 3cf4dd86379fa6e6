from __future__ import annotations

import pytest

from warden.providers.gemini import MAX_TOOL_RESULT_STRINGS
from warden.providers.rewrite import rewrite_request

from .helpers import parse, table
from .payloads import GEMINI_EMBED, GEMINI_GENERATE, compact

GENERATE_TABLE = [
    (("systemInstruction", "parts", 0, "text"), "system", "You are a poet"),
    (("contents", 0, "parts", 0, "text"), "user", "Write a haiku"),
    (("contents", 1, "parts", 0, "text"), "assistant", "Old pond"),
    (("contents", 2, "parts", 0, "text"), "user", "Another"),
]


@pytest.mark.parametrize(
    ("path", "api", "model", "stream"),
    [
        (
            "/v1beta/models/gemini-2.5-flash:generateContent",
            "gemini.generate_content",
            "gemini-2.5-flash",
            False,
        ),
        (
            "/v1/models/gemini-2.0-flash:generateContent?key=AIza",
            "gemini.generate_content",
            "gemini-2.0-flash",
            False,
        ),
        (
            "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
            "gemini.stream_generate_content",
            "gemini-2.5-pro",
            True,
        ),
        (
            "/v1beta/models/gemini-2.5-pro%3AstreamGenerateContent",
            "gemini.stream_generate_content",
            "gemini-2.5-pro",
            True,
        ),
        (
            "/v1alpha/tunedModels/my-tune-7:generateContent",
            "gemini.generate_content",
            "tunedModels/my-tune-7",
            False,
        ),
    ],
)
def test_generate(path: str, api: str, model: str, stream: bool) -> None:
    parsed = parse("gemini", path, compact(GEMINI_GENERATE))
    assert (parsed.api, parsed.model, parsed.stream, parsed.parsed) == (api, model, stream, True)
    assert table(parsed) == GENERATE_TABLE


def test_snake_case_system_instruction() -> None:
    doc = {
        "contents": [{"parts": [{"text": "hi"}]}],
        "system_instruction": {"parts": [{"text": "sys"}]},
    }
    parsed = parse("gemini", "/v1beta/models/m:generateContent", compact(doc))
    assert table(parsed) == [
        (("system_instruction", "parts", 0, "text"), "system", "sys"),
        (("contents", 0, "parts", 0, "text"), "user", "hi"),
    ]


def test_embed_content() -> None:
    parsed = parse(
        "gemini", "/v1beta/models/text-embedding-004:embedContent", compact(GEMINI_EMBED)
    )
    assert (parsed.api, parsed.model) == ("gemini.embed_content", "text-embedding-004")
    assert table(parsed) == [(("content", "parts", 0, "text"), "input", "embed me")]


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({"contents": "hi"}, "contents is not a list"),
        ({}, "missing contents"),
        ({"contents": [{"parts": "x"}]}, "parts is not a list"),
        ({"contents": [{"parts": [{"text": ["x"]}]}]}, "text is not a string"),
        ({"contents": [], "systemInstruction": "x"}, "systemInstruction is not an object"),
    ],
)
def test_wrong_shapes(doc: dict[str, object], reason: str) -> None:
    parsed = parse("gemini", "/v1beta/models/m:generateContent", compact(doc))
    assert (parsed.parsed, parsed.unparsed_reason, parsed.model) == (False, reason, "m")


@pytest.mark.parametrize(
    "path",
    [
        "/v1beta/models",
        "/v1beta/models/gemini-2.5-flash",
        "/v1beta/models/:generateContent",
        "/v1beta/files",
        "/v2/models/m:generateContent",
    ],
)
def test_not_inference(path: str) -> None:
    # POSTs: GET model listings and :countTokens are side calls (test_sidecalls.py)
    parsed = parse("gemini", path, compact(GEMINI_GENERATE))
    assert (parsed.api, parsed.unparsed_reason) == (None, "not an inference endpoint")


@pytest.mark.parametrize("key", ["functionResponse", "function_response"])
def test_tool_results_are_text(key: str) -> None:
    """A tool's result (Gemini CLI's read_file output) is scanned: before, a file an agent
    read went upstream unseen (found by tests/e2e/test_agents.py)."""
    doc = {
        "contents": [
            {"role": "user", "parts": [{"text": "read notes"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "read_file", "args": {}}}]},
            {
                "role": "user",
                "parts": [
                    {
                        key: {
                            "name": "read_file",
                            "response": {"output": "mail maria@example.org", "lines": [1, "x"]},
                        }
                    }
                ],
            },
        ]
    }
    raw = compact(doc)
    parsed = parse("gemini", "/v1beta/models/m:streamGenerateContent", raw)
    assert table(parsed)[1:] == [
        (("contents", 2, "parts", 0, key, "response", "output"), "tool", "mail maria@example.org"),
        (("contents", 2, "parts", 0, key, "response", "lines", 1), "tool", "x"),
    ]
    out = rewrite_request(parsed, raw, {parsed.segments[1].path: "mail <EMAIL_ADDRESS_1>"})
    assert b"maria@example.org" not in out and b"<EMAIL_ADDRESS_1>" in out


def test_tool_results_with_too_many_strings_are_not_read() -> None:
    response = {"rows": ["s"] * (MAX_TOOL_RESULT_STRINGS + 1)}
    doc = {"contents": [{"role": "user", "parts": [{"functionResponse": {"response": response}}]}]}
    parsed = parse("gemini", "/v1beta/models/m:generateContent", compact(doc))
    assert not parsed.parsed and parsed.unparsed_reason == "too many strings in the body"
