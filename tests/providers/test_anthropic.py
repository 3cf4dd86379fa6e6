from __future__ import annotations

import pytest

from .helpers import parse, table
from .payloads import ANTHROPIC_MESSAGES, compact


def test_messages() -> None:
    parsed = parse("anthropic", "/v1/messages", compact(ANTHROPIC_MESSAGES))
    assert (parsed.api, parsed.model, parsed.stream, parsed.rewritable) == (
        "anthropic.messages",
        "claude-sonnet-4-5",
        True,
        True,
    )
    assert table(parsed) == [
        (("system", 0, "text"), "system", "You are a lawyer."),
        (("messages", 0, "content"), "user", "Hello, Claude"),
        (("messages", 1, "content", 1, "text"), "assistant", "Let me check."),
        (("messages", 2, "content", 0, "content"), "tool", "ACME is at 12.5"),
        (("messages", 2, "content", 1, "content", 0, "text"), "tool", "second result"),
        (("messages", 2, "content", 2, "source", "data"), "user", "Contract"),
    ]


def test_system_string_and_content_document() -> None:
    body = compact(
        {
            "model": "claude-3-5-haiku-latest",
            "system": "Be brief",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "document",
                            "source": {
                                "type": "content",
                                "content": [{"type": "text", "text": "chunk one"}],
                            },
                        }
                    ],
                }
            ],
        }
    )
    parsed = parse("anthropic", "/v1/messages", body)
    assert parsed.stream is False
    assert table(parsed) == [
        (("system",), "system", "Be brief"),
        (("messages", 0, "content", 0, "source", "content", 0, "text"), "user", "chunk one"),
    ]


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({"model": "m"}, "missing messages"),
        ({"messages": {"role": "user"}}, "messages is not a list"),
        ({"messages": [], "system": 3}, "content is neither a string nor a list"),
        ({"messages": [], "system": ["x"]}, "content block is not an object"),
        (
            {"messages": [{"role": "user", "content": 1}]},
            "message content is neither a string nor a list",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "tool_result", "content": 2}]}]},
            "content is neither a string nor a list",
        ),
    ],
)
def test_wrong_shapes(doc: dict[str, object], reason: str) -> None:
    parsed = parse("anthropic", "/v1/messages", compact(doc))
    assert (parsed.api, parsed.parsed, parsed.unparsed_reason) == (
        "anthropic.messages",
        False,
        reason,
    )


@pytest.mark.parametrize(
    "path",
    # count_tokens and GET /v1/models are side calls now (test_sidecalls.py)
    ["/v1/messages/batches", "/v1/models", "/v1/complete"],
)
def test_not_inference(path: str) -> None:
    parsed = parse("anthropic", path, compact(ANTHROPIC_MESSAGES))
    assert (parsed.api, parsed.unparsed_reason) == (None, "not an inference endpoint")
