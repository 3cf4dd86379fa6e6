"""Which stream parser reads the streamed answers of which api (``stream_parser_for``).

The parsers themselves live in ``apistreams.py``, ``bedrockstream.py`` and
``webstreams.py``; ``StreamParser`` (``streambase.py``) is their common interface.
"""

from __future__ import annotations

from collections.abc import Callable

from .apistreams import AnthropicStream, GeminiStream, OpenAIChatStream, ResponsesStream
from .bedrockstream import BedrockStream
from .geminiframes import GeminiWebStream
from .sse import DEFAULT_MAX_EVENT_BYTES
from .streambase import StreamParser
from .webstreams import ChatGptWebStream, ClaudeWebStream

__all__ = ["STREAMING_APIS", "StreamParser", "stream_parser_for"]

_PARSERS: dict[str, Callable[[int], StreamParser]] = {
    "openai.chat_completions": OpenAIChatStream,
    "openai.completions": OpenAIChatStream,
    "azure.chat_completions": OpenAIChatStream,
    "azure.completions": OpenAIChatStream,
    "openai.responses": ResponsesStream,
    "azure.responses": ResponsesStream,
    "anthropic.messages": AnthropicStream,
    "gemini.stream_generate_content": GeminiStream,
    "bedrock.converse_stream": BedrockStream,
    "bedrock.invoke_stream": BedrockStream,
    "chatgpt.conversation": ChatGptWebStream,
    "claude.completion": ClaudeWebStream,
    "gemini_web.stream_generate": GeminiWebStream,
}

#: Apis whose answers can stream and that have a parser.
STREAMING_APIS = frozenset(_PARSERS)


def stream_parser_for(
    api: str, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
) -> StreamParser | None:
    """A new parser for one streamed answer of ``api``, holding at most ``max_event_bytes``
    of one line, event or message; ``None`` when the api's answers do not stream."""
    factory = _PARSERS.get(api)
    return factory(max_event_bytes) if factory is not None else None
