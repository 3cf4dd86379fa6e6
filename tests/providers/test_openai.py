from __future__ import annotations

import pytest

from .helpers import parse, table
from .payloads import OPENAI_CHAT, OPENAI_COMPLETIONS, OPENAI_EMBEDDINGS, OPENAI_RESPONSES, compact


def test_chat_completions() -> None:
    parsed = parse("openai", "/v1/chat/completions", compact(OPENAI_CHAT))
    assert (parsed.api, parsed.model, parsed.stream) == (
        "openai.chat_completions",
        "gpt-4o-mini",
        True,
    )
    assert (parsed.parsed, parsed.rewritable, parsed.unparsed_reason) == (True, True, None)
    assert table(parsed) == [
        (("messages", 0, "content"), "developer", "You are terse."),
        (("messages", 1, "content", 0, "text"), "user", "What is in this image?"),
        (
            ("messages", 2, "tool_calls", 0, "function", "arguments"),
            "assistant",
            '{"city":"Paris"}',
        ),
        (("messages", 3, "content"), "tool", "18°C and sunny"),
    ]


def test_chat_roles_refusal_and_prediction() -> None:
    body = compact(
        {
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "sys"},
                {"role": "function", "name": "f", "content": "fn out"},
                {"role": "wizard", "content": "odd role"},
                {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't"}]},
            ],
            "prediction": {"type": "content", "content": "old code"},
            "stream": "yes",
        }
    )
    parsed = parse("openai", "/v1/chat/completions", body)
    assert parsed.stream is False
    assert table(parsed) == [
        (("messages", 0, "content"), "system", "sys"),
        (("messages", 1, "content"), "tool", "fn out"),
        (("messages", 2, "content"), "user", "odd role"),
        (("messages", 3, "content", 0, "refusal"), "assistant", "I can't"),
        (("prediction", "content"), "user", "old code"),
    ]


def test_responses_items() -> None:
    parsed = parse("openai", "/v1/responses", compact(OPENAI_RESPONSES))
    assert (parsed.api, parsed.model, parsed.stream) == ("openai.responses", "gpt-4.1", False)
    assert table(parsed) == [
        (("instructions",), "system", "Answer in German."),
        (("input", 0, "content", 0, "text"), "user", "Summarize the memo"),
        (("input", 1, "arguments"), "assistant", '{"id":7}'),
        (("input", 2, "output"), "tool", "Memo: layoffs in Q3"),
        (("input", 3, "content", 0, "text"), "assistant", "Earlier answer"),
    ]


def test_responses_string_input_and_prompt_variables() -> None:
    body = compact(
        {
            "input": "Tell me a joke",
            "prompt": {"id": "pmpt_1", "variables": {"city": "Berlin", "n": 3}},
            "stream": True,
        }
    )
    parsed = parse("openai", "/v1/responses", body)
    assert (parsed.model, parsed.stream) == (None, True)
    assert table(parsed) == [
        (("input",), "user", "Tell me a joke"),
        (("prompt", "variables", "city"), "user", "Berlin"),
    ]


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (OPENAI_EMBEDDINGS, [(("input", 0), "input", "alpha"), (("input", 1), "input", "beta")]),
        ({"input": "one", "model": "m"}, [(("input",), "input", "one")]),
        ({"input": [[1, 2, 3], [4]], "model": "m"}, []),
        ({"input": [15496, 11], "model": "m"}, []),
    ],
)
def test_embeddings(doc: dict[str, object], expected: list[object]) -> None:
    parsed = parse("openai", "/v1/embeddings", compact(doc))
    assert (parsed.api, parsed.parsed, parsed.stream) == ("openai.embeddings", True, False)
    assert table(parsed) == expected


def test_completions() -> None:
    parsed = parse("openai", "/v1/completions", compact(OPENAI_COMPLETIONS))
    assert (parsed.api, parsed.model) == ("openai.completions", "gpt-3.5-turbo-instruct")
    assert table(parsed) == [
        (("prompt",), "user", "Say this is a test"),
        (("suffix",), "user", "end"),
    ]
    listed = parse("openai", "/v1/completions", compact({"model": "m", "prompt": ["a", "b"]}))
    assert table(listed) == [(("prompt", 0), "user", "a"), (("prompt", 1), "user", "b")]


@pytest.mark.parametrize(
    ("path", "doc", "reason"),
    [
        ("/v1/chat/completions", {"model": "m"}, "missing messages"),
        ("/v1/chat/completions", {"messages": "x"}, "messages is not a list"),
        ("/v1/chat/completions", {"messages": ["x"]}, "message is not an object"),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": 5}]},
            "message content is neither a string nor a list",
        ),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": ["x"]}]},
            "content part is not an object",
        ),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]},
            "text is not a string",
        ),
        ("/v1/chat/completions", {"messages": [], "model": 4}, "model is not a string"),
        (
            "/v1/chat/completions",
            {"messages": [{"role": 1, "content": "x"}]},
            "role is not a string",
        ),
        ("/v1/responses", {"input": 5}, "input is neither a string nor a list"),
        ("/v1/responses", {"input": [7]}, "input item is not an object"),
        ("/v1/embeddings", {"model": "m"}, "missing input"),
        ("/v1/embeddings", {"input": [{"a": 1}]}, "input holds neither strings nor token ids"),
        ("/v1/completions", {"prompt": {"a": 1}}, "prompt is neither a string nor a list"),
    ],
)
def test_wrong_shapes_are_unparsed(path: str, doc: dict[str, object], reason: str) -> None:
    parsed = parse("openai", path, compact(doc))
    assert (parsed.parsed, parsed.unparsed_reason, parsed.segments) == (False, reason, ())
    assert parsed.api is not None and parsed.rewritable is False
