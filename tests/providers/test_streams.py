from __future__ import annotations

import pytest

from warden.providers.apistreams import (
    AnthropicStream,
    GeminiStream,
    OpenAIChatStream,
    ResponsesStream,
)
from warden.providers.bedrockstream import BedrockStream
from warden.providers.streams import STREAMING_APIS, StreamParser, stream_parser_for
from warden.providers.webstreams import ChatGptWebStream, ClaudeWebStream


@pytest.mark.parametrize(
    ("api", "parser_type"),
    [
        ("openai.chat_completions", OpenAIChatStream),
        ("openai.completions", OpenAIChatStream),
        ("azure.chat_completions", OpenAIChatStream),
        ("azure.completions", OpenAIChatStream),
        ("openai.responses", ResponsesStream),
        ("azure.responses", ResponsesStream),
        ("anthropic.messages", AnthropicStream),
        ("gemini.stream_generate_content", GeminiStream),
        ("bedrock.converse_stream", BedrockStream),
        ("bedrock.invoke_stream", BedrockStream),
        ("chatgpt.conversation", ChatGptWebStream),
        ("claude.completion", ClaudeWebStream),
    ],
)
def test_parser_for_api(api: str, parser_type: type[StreamParser]) -> None:
    parser = stream_parser_for(api)
    assert type(parser) is parser_type
    assert parser is not stream_parser_for(api)  # a fresh parser per answer
    assert api in STREAMING_APIS


@pytest.mark.parametrize(
    "api",
    [
        "openai.embeddings",
        "gemini.generate_content",
        "gemini.embed_content",
        "bedrock.converse",
        "nope",
        "",
    ],
)
def test_no_parser(api: str) -> None:
    assert stream_parser_for(api) is None
