from __future__ import annotations

import pytest

from .helpers import parse, table
from .payloads import ANTHROPIC_MESSAGES, compact

CHAT = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("path", "doc", "api", "model"),
    [
        (
            "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21",
            CHAT,
            "azure.chat_completions",
            "gpt4o-prod",
        ),
        (
            "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21",
            {**CHAT, "model": "gpt-4o"},
            "azure.chat_completions",
            "gpt-4o",
        ),
        (
            "/openai/deployments/My%20Deploy/chat/completions",
            CHAT,
            "azure.chat_completions",
            "My Deploy",
        ),
        (
            "/openai/v1/chat/completions?api-version=preview",
            {**CHAT, "model": "gpt-4.1"},
            "azure.chat_completions",
            "gpt-4.1",
        ),
        ("/OpenAI/Deployments/d1/Chat/Completions", CHAT, "azure.chat_completions", "d1"),
        (
            "/models/chat/completions?api-version=2024-05-01-preview",
            {**CHAT, "model": "Phi-4"},
            "azure.chat_completions",
            "Phi-4",
        ),
        (
            "/openai/deployments/emb/embeddings?api-version=2024-10-21",
            {"input": "x"},
            "azure.embeddings",
            "emb",
        ),
        ("/openai/v1/embeddings", {"input": "x", "model": "e3"}, "azure.embeddings", "e3"),
        ("/models/embeddings", {"input": "x", "model": "cohere"}, "azure.embeddings", "cohere"),
        ("/openai/deployments/instr/completions", {"prompt": "x"}, "azure.completions", "instr"),
        (
            "/openai/responses?api-version=2025-04-01-preview",
            {"input": "x", "model": "o4-mini"},
            "azure.responses",
            "o4-mini",
        ),
        ("/openai/v1/responses", {"input": "x", "model": "gpt-5"}, "azure.responses", "gpt-5"),
    ],
)
def test_routes(path: str, doc: dict[str, object], api: str, model: str) -> None:
    parsed = parse("azure-openai", path, compact(doc))
    assert (parsed.api, parsed.model, parsed.parsed, parsed.rewritable) == (api, model, True, True)
    assert [s.text for s in parsed.segments] == ["hi" if "messages" in doc else "x"]


def test_claude_in_foundry_uses_the_anthropic_shape() -> None:
    parsed = parse("azure-openai", "/anthropic/v1/messages", compact(ANTHROPIC_MESSAGES))
    assert (parsed.api, parsed.model, parsed.stream) == (
        "anthropic.messages",
        "claude-sonnet-4-5",
        True,
    )
    assert table(parsed)[0] == (("system", 0, "text"), "system", "You are a lawyer.")


@pytest.mark.parametrize(
    "path",
    [
        "/openai/deployments?api-version=2022-12-01",
        "/openai/deployments/d/images/generations",
        "/openai/deployments/d/audio/transcriptions",
        "/openai/models",
        "/v1/chat/completions",
    ],
)
def test_other_paths_are_not_inference(path: str) -> None:
    parsed = parse("azure-openai", path, compact(CHAT))
    assert (parsed.api, parsed.parsed, parsed.unparsed_reason) == (
        None,
        False,
        "not an inference endpoint",
    )
