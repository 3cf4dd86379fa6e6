"""Stream parsers for the provider APIs: OpenAI chat and Responses, Anthropic, Gemini.

- OpenAI chat (and legacy completions, Azure): ``choices[].delta.content`` (``choices[]
  .text`` for completions); the final chunk's ``usage`` when the request asked for it
  (``stream_options.include_usage``).
- Responses: ``response.output_text.delta`` and ``response.refusal.delta``; the usage of
  ``response.completed`` / ``.incomplete`` / ``.failed``.
- Anthropic: ``content_block_delta`` with a ``text_delta``; usage from ``message_start``
  (input) and ``message_delta`` (output, cumulative).
- Gemini: each chunk is a whole ``GenerateContentResponse``; text of candidates' parts
  (thought summaries excluded), cumulative ``usageMetadata``. The stream is SSE with
  ``alt=sse`` and a JSON array otherwise; the parser tells them apart by the first byte.
"""

from __future__ import annotations

from .conversations import clean_id
from .jsonarray import JsonArrayDecoder
from .responses import anthropic_usage, gemini_usage, openai_chat_usage, openai_responses_usage
from .shapes import StreamEvent, Usage
from .sse import SseEvent
from .streambase import (
    DEFAULT_MAX_EVENT_BYTES,
    SseStreamParser,
    StreamParser,
    UsageTotals,
    event_name,
    json_object,
    sub_object,
)


def _text(parts: list[str]) -> str | None:
    joined = "".join(parts)
    return joined or None


class OpenAIChatStream(SseStreamParser):
    def _on_event(self, event: SseEvent) -> StreamEvent | None:
        doc = json_object(event.data)
        if doc is None:
            return None
        parts: list[str] = []
        choices = doc.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            if not isinstance(choice, dict):
                continue
            delta = sub_object(choice, "delta")
            content = delta.get("content") if delta is not None else choice.get("text")
            if isinstance(content, str):
                parts.append(content)
        raw_usage = sub_object(doc, "usage")
        usage = self._usage.merge(openai_chat_usage(raw_usage) if raw_usage else None)
        name = event_name(event, doc) or _str(doc.get("object"))
        return StreamEvent(_text(parts), usage, name)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


class ResponsesStream(SseStreamParser):
    _TEXT = frozenset({"response.output_text.delta", "response.refusal.delta"})
    _FINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})

    def _on_event(self, event: SseEvent) -> StreamEvent | None:
        doc = json_object(event.data)
        if doc is None:
            return None
        kind = doc.get("type")
        text = _str(doc.get("delta")) if kind in self._TEXT else None
        usage = None
        answer_id = None
        if kind in self._FINAL:
            response = sub_object(doc, "response")
            raw_usage = sub_object(response, "usage") if response is not None else None
            usage = self._usage.merge(openai_responses_usage(raw_usage) if raw_usage else None)
        elif kind == "response.created":
            response = sub_object(doc, "response")
            answer_id = clean_id(response.get("id")) if response is not None else None
        return StreamEvent(text or None, usage, event_name(event, doc), answer_id)


def anthropic_event(doc: dict[str, object], totals: UsageTotals) -> tuple[str | None, Usage | None]:
    """Text and running usage of one Anthropic streaming event (also Bedrock, Claude web)."""
    kind = doc.get("type")
    if kind == "content_block_delta":
        delta = sub_object(doc, "delta")
        if delta is not None and delta.get("type") == "text_delta":
            return _str(delta.get("text")) or None, None
    elif kind == "message_start":
        message = sub_object(doc, "message")
        raw = sub_object(message, "usage") if message is not None else None
        return None, totals.merge(anthropic_usage(raw) if raw else None)
    elif kind == "message_delta":
        raw = sub_object(doc, "usage")
        return None, totals.merge(anthropic_usage(raw) if raw else None)
    return None, None


class AnthropicStream(SseStreamParser):
    def _on_event(self, event: SseEvent) -> StreamEvent | None:
        doc = json_object(event.data)
        if doc is None:
            return None
        text, usage = anthropic_event(doc, self._usage)
        return StreamEvent(text, usage, event_name(event, doc))


def gemini_chunk(doc: dict[str, object], totals: UsageTotals) -> StreamEvent:
    parts: list[str] = []
    candidates = doc.get("candidates")
    for candidate in candidates if isinstance(candidates, list) else ():
        content = sub_object(candidate, "content") if isinstance(candidate, dict) else None
        raw_parts = content.get("parts") if content is not None else None
        for part in raw_parts if isinstance(raw_parts, list) else ():
            if isinstance(part, dict) and part.get("thought") is not True:
                text = part.get("text")
                if isinstance(text, str):
                    parts.append(text)
    metadata = sub_object(doc, "usageMetadata")
    usage = totals.merge(gemini_usage(metadata) if metadata else None)
    return StreamEvent(_text(parts), usage, None)


class _GeminiSse(SseStreamParser):
    def __init__(self, totals: UsageTotals, max_event_bytes: int) -> None:
        super().__init__(max_event_bytes)
        self._usage = totals

    def _on_event(self, event: SseEvent) -> StreamEvent | None:
        doc = json_object(event.data)
        return gemini_chunk(doc, self._usage) if doc is not None else None


class GeminiStream(StreamParser):
    """SSE (``alt=sse``) or a streamed JSON array, decided by the first non-blank byte."""

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._usage = UsageTotals()
        self._limit = max_event_bytes
        self._sse: _GeminiSse | None = None
        self._array: JsonArrayDecoder | None = None
        self._blank = 0  # bytes of leading white space seen so far (they are not kept)
        self._too_large = False

    @property
    def broken(self) -> bool:
        if self._array is not None:
            return self._array.broken
        return self._sse.broken if self._sse is not None else self._too_large

    @property
    def too_large(self) -> bool:
        if self._array is not None:
            return self._array.too_large
        return self._sse.too_large if self._sse is not None else self._too_large

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        if self._sse is None and self._array is None:
            # Only this chunk is looked at: leading white space means nothing in either
            # form, so it is counted (and bounded), not kept.
            head = chunk.lstrip(b" \t\r\n")
            if not head:
                self._blank += len(chunk)
                self._too_large = self._blank > self._limit
                return []
            chunk = head
            if head.startswith(b"["):
                self._array = JsonArrayDecoder(self._limit)
            else:
                self._sse = _GeminiSse(self._usage, self._limit)
        if self._sse is not None:
            return self._sse.feed(chunk)
        assert self._array is not None
        return self._chunks(self._array.feed(chunk))

    def close(self) -> list[StreamEvent]:
        if self._sse is not None:
            return self._sse.close()
        if self._array is not None:
            return self._chunks(self._array.close())
        return []

    def _chunks(self, items: list[object]) -> list[StreamEvent]:
        return [gemini_chunk(item, self._usage) for item in items if isinstance(item, dict)]
