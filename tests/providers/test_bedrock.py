from __future__ import annotations

import pytest

from warden.providers.bedrock import signed_body

from .helpers import parse, table
from .payloads import (
    BEDROCK_CONVERSE,
    BEDROCK_INVOKE_ANTHROPIC,
    BEDROCK_INVOKE_NOVA,
    BEDROCK_MODEL,
    BEDROCK_MODEL_PATH,
    SIGV4,
    compact,
)

ARN = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0"
ARN_PATH = ARN.replace(":", "%3A").replace("/", "%2F")


@pytest.mark.parametrize(
    ("path", "api", "model", "stream"),
    [
        (f"/model/{BEDROCK_MODEL_PATH}/converse", "bedrock.converse", BEDROCK_MODEL, False),
        (
            f"/model/{BEDROCK_MODEL_PATH}/converse-stream",
            "bedrock.converse_stream",
            BEDROCK_MODEL,
            True,
        ),
        (f"/model/{ARN_PATH}/converse-stream", "bedrock.converse_stream", ARN, True),
        (f"/model/{ARN}/converse", "bedrock.converse", ARN, False),
    ],
)
def test_converse(path: str, api: str, model: str, stream: bool) -> None:
    parsed = parse("bedrock", path, compact(BEDROCK_CONVERSE), {"Authorization": SIGV4})
    assert (parsed.api, parsed.model, parsed.stream) == (api, model, stream)
    assert (parsed.parsed, parsed.rewritable) == (True, False)
    assert table(parsed) == [
        (("system", 0, "text"), "system", "Be brief"),
        (("messages", 0, "content", 0, "text"), "user", "Hello"),
        (("messages", 1, "content", 0, "text"), "assistant", "Hi"),
        (("messages", 2, "content", 0, "toolResult", "content", 0, "text"), "tool", "tool says 42"),
        (("messages", 2, "content", 1, "guardContent", "text", "text"), "user", "guard me"),
    ]


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            BEDROCK_INVOKE_ANTHROPIC,
            [
                (("system",), "system", "Be brief"),
                (("messages", 0, "content", 0, "text"), "user", "Hello"),
            ],
        ),
        (
            BEDROCK_INVOKE_NOVA,
            [
                (("system", 0, "text"), "system", "sys"),
                (("messages", 0, "content", 0, "text"), "user", "Hi Nova"),
            ],
        ),
        (
            {"messages": [{"role": "user", "content": "mistral chat"}]},
            [(("messages", 0, "content"), "user", "mistral chat")],
        ),
        (
            {"prompt": "<|begin_of_text|>Hi", "max_gen_len": 512},
            [(("prompt",), "user", "<|begin_of_text|>Hi")],
        ),
        ({"inputText": "titan", "textGenerationConfig": {}}, [(("inputText",), "user", "titan")]),
        ({"message": "cohere", "chat_history": []}, [(("message",), "user", "cohere")]),
        (
            {"texts": ["a", "b"], "input_type": "search_document"},
            [(("texts", 0), "input", "a"), (("texts", 1), "input", "b")],
        ),
    ],
)
def test_invoke_model_bodies(doc: dict[str, object], expected: list[object]) -> None:
    parsed = parse("bedrock", f"/model/{BEDROCK_MODEL_PATH}/invoke", compact(doc), {})
    assert (parsed.api, parsed.model, parsed.stream, parsed.rewritable) == (
        "bedrock.invoke",
        BEDROCK_MODEL,
        False,
        False,
    )
    assert table(parsed) == expected


def test_invoke_stream() -> None:
    path = "/model/meta.llama3-70b-instruct-v1%3A0/invoke-with-response-stream"
    parsed = parse("bedrock", path, compact({"prompt": "x"}))
    assert (parsed.api, parsed.model, parsed.stream) == (
        "bedrock.invoke_stream",
        "meta.llama3-70b-instruct-v1:0",
        True,
    )


def test_unknown_invoke_body_is_unparsed() -> None:
    parsed = parse("bedrock", "/model/x/invoke", compact({"taskType": "TEXT_IMAGE"}))
    assert (parsed.parsed, parsed.unparsed_reason) == (False, "unrecognized model request body")


@pytest.mark.parametrize(
    ("headers", "signed"),
    [
        ({"Authorization": SIGV4}, True),
        ({"authorization": SIGV4, "x-amz-content-sha256": "abc"}, True),
        ({}, True),
        ({"Authorization": "Bearer ABSK..."}, False),
        ({"AUTHORIZATION": "bearer ABSK..."}, False),
    ],
)
def test_signed_body(headers: dict[str, str], signed: bool) -> None:
    assert signed_body(headers) is signed


@pytest.mark.parametrize(
    "path",
    ["/model/x/count-tokens", "/guardrail/g/version/1/apply", "/async-invoke", "/model/converse"],
)
def test_not_inference(path: str) -> None:
    parsed = parse("bedrock", path, compact(BEDROCK_CONVERSE))
    assert (parsed.api, parsed.unparsed_reason) == (None, "not an inference endpoint")
