"""Token usage as the providers report it, in whole (non-streamed) JSON answers and in the
usage objects that stream events carry.

Counts are the provider's own (``estimated=False``). Input counts include prompt-cache
reads and writes where the provider reports them separately (Anthropic), output counts
include reasoning tokens where reported separately (Gemini ``thoughtsTokenCount``): both
are tokens the person sent or received and are billed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from . import jsonbody
from .jsonbody import BodyError
from .shapes import Usage

UsageReader = Callable[[Mapping[str, object]], Usage | None]

#: No real answer reports more (the largest context windows hold a few million tokens). A
#: larger figure is not taken: added to the 64-bit quota counters, 2**64 from a hostile
#: upstream made every later save of the counters fail with OverflowError.
MAX_TOKEN_COUNT = 2**31 - 1


def _count(obj: Mapping[str, object], key: str) -> int | None:
    value = obj.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKEN_COUNT:
        return value
    return None


def _total(*counts: int | None) -> int | None:
    present = [c for c in counts if c is not None]
    return sum(present) if present else None


def _usage(input_tokens: int | None, output_tokens: int | None) -> Usage | None:
    if input_tokens is None and output_tokens is None:
        return None
    return Usage(input_tokens, output_tokens, False)


def openai_chat_usage(usage: Mapping[str, object]) -> Usage | None:
    """Chat completions, legacy completions and embeddings: ``prompt_tokens`` ..."""
    return _usage(_count(usage, "prompt_tokens"), _count(usage, "completion_tokens"))


def openai_responses_usage(usage: Mapping[str, object]) -> Usage | None:
    return _usage(_count(usage, "input_tokens"), _count(usage, "output_tokens"))


def anthropic_usage(usage: Mapping[str, object]) -> Usage | None:
    # input_tokens counts only tokens after the last cache breakpoint.
    prompt = _total(
        _count(usage, "input_tokens"),
        _count(usage, "cache_creation_input_tokens"),
        _count(usage, "cache_read_input_tokens"),
    )
    return _usage(prompt, _count(usage, "output_tokens"))


def gemini_usage(metadata: Mapping[str, object]) -> Usage | None:
    answer = _total(
        _count(metadata, "candidatesTokenCount"), _count(metadata, "thoughtsTokenCount")
    )
    return _usage(_count(metadata, "promptTokenCount"), answer)


def bedrock_usage(usage: Mapping[str, object]) -> Usage | None:
    """Converse ``usage`` (also Amazon Nova's InvokeModel answers)."""
    return _usage(_count(usage, "inputTokens"), _count(usage, "outputTokens"))


def bedrock_invocation_metrics(metrics: Mapping[str, object]) -> Usage | None:
    """``amazon-bedrock-invocationMetrics`` of InvokeModel streams."""
    return _usage(_count(metrics, "inputTokenCount"), _count(metrics, "outputTokenCount"))


def _nested(doc: Mapping[str, object], key: str, reader: UsageReader) -> Usage | None:
    value = doc.get(key)
    return reader(value) if isinstance(value, dict) else None


def _bedrock_invoke(doc: Mapping[str, object]) -> Usage | None:
    """InvokeModel answers are the model's own format; try the known ones in turn."""
    return (
        _nested(doc, "usage", anthropic_usage)
        or _nested(doc, "usage", bedrock_usage)
        or _usage(_count(doc, "prompt_token_count"), _count(doc, "generation_token_count"))
        or _titan(doc)
    )


def _titan(doc: Mapping[str, object]) -> Usage | None:
    results = doc.get("results")
    output = None
    if isinstance(results, list):
        output = _total(*(_count(r, "tokenCount") for r in results if isinstance(r, dict)))
    return _usage(_count(doc, "inputTextTokenCount"), output)


_READERS: dict[str, UsageReader] = {
    "openai.chat_completions": lambda d: _nested(d, "usage", openai_chat_usage),
    "openai.completions": lambda d: _nested(d, "usage", openai_chat_usage),
    "openai.embeddings": lambda d: _nested(d, "usage", openai_chat_usage),
    "azure.chat_completions": lambda d: _nested(d, "usage", openai_chat_usage),
    "azure.completions": lambda d: _nested(d, "usage", openai_chat_usage),
    "azure.embeddings": lambda d: _nested(d, "usage", openai_chat_usage),
    "openai.responses": lambda d: _nested(d, "usage", openai_responses_usage),
    "azure.responses": lambda d: _nested(d, "usage", openai_responses_usage),
    "anthropic.messages": lambda d: _nested(d, "usage", anthropic_usage),
    "gemini.generate_content": lambda d: _nested(d, "usageMetadata", gemini_usage),
    "gemini.stream_generate_content": lambda d: _nested(d, "usageMetadata", gemini_usage),
    "gemini.embed_content": lambda d: _nested(d, "usageMetadata", gemini_usage),
    "bedrock.converse": lambda d: _nested(d, "usage", bedrock_usage),
    "bedrock.invoke": _bedrock_invoke,
}


def parse_usage(api: str, body: bytes) -> Usage | None:
    """The usage a whole JSON answer of ``api`` reports, or ``None`` (never raises).

    A Gemini stream that arrived in one piece is a JSON array of answers; the last one
    that reports usage holds the totals.
    """
    reader = _READERS.get(api)
    if reader is None:
        return None
    try:
        doc = jsonbody.loads_answer(jsonbody.decode_utf8(body))
    except BodyError:
        return None
    if isinstance(doc, list) and api.startswith("gemini."):
        found = (reader(item) for item in reversed(doc) if isinstance(item, dict))
        return next((u for u in found if u is not None), None)
    return reader(doc) if isinstance(doc, dict) else None
