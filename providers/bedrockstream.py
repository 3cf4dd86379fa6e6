"""Stream parser for Bedrock's ConverseStream and InvokeModelWithResponseStream answers.

Both are AWS event streams (``eventstream.py``). ConverseStream messages are named by
their ``:event-type`` header: ``contentBlockDelta`` carries ``delta.text``, ``metadata``
carries ``usage.inputTokens/outputTokens``. InvokeModelWithResponseStream sends ``chunk``
messages whose payload is ``{"bytes": "<base64 of the model's own event>"}``: Anthropic
events (``content_block_delta`` ...), Amazon Nova events in Converse form, or one-field
text chunks (``outputText`` Titan, ``generation`` Llama, ``outputs[].text`` Mistral,
``completion`` Claude text completions); the last one adds
``amazon-bedrock-invocationMetrics`` with the token counts. ``exception`` messages give
an event named by ``:exception-type`` and no text.

A message with a wrong CRC is dropped; a broken prelude breaks the parser (see
``eventstream.py``).
"""

from __future__ import annotations

import base64
import binascii

from .apistreams import anthropic_event
from .eventstream import EventStreamDecoder, EventStreamMessage
from .responses import bedrock_invocation_metrics, bedrock_usage
from .shapes import StreamEvent, Usage
from .sse import DEFAULT_MAX_EVENT_BYTES
from .streambase import StreamParser, UsageTotals, json_object, sub_object

_TEXT_FIELDS = ("outputText", "generation", "completion")


class BedrockStream(StreamParser):
    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._decoder = EventStreamDecoder(max_event_bytes)
        self._usage = UsageTotals()

    @property
    def broken(self) -> bool:
        return self._decoder.broken

    @property
    def too_large(self) -> bool:
        return self._decoder.too_large

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        return self._events(self._decoder.feed(chunk))

    def close(self) -> list[StreamEvent]:
        return self._events(self._decoder.close())

    def _events(self, messages: list[EventStreamMessage]) -> list[StreamEvent]:
        out = []
        for message in messages:
            try:
                event = self._event(message)
            except Exception:  # noqa: S112 - a payload we cannot read yields no event
                continue
            if event is not None:
                out.append(event)
        return out

    def _event(self, message: EventStreamMessage) -> StreamEvent | None:
        kind = message.headers.get(":message-type", "event")
        if kind == "exception" or kind == "error":
            name = message.headers.get(":exception-type") or message.headers.get(":error-code")
            return StreamEvent(None, None, name if isinstance(name, str) else kind)
        event_type = message.headers.get(":event-type")
        if not isinstance(event_type, str):
            return None
        doc = json_object(message.payload.decode("utf-8", errors="replace"))
        if doc is None:
            return None
        if event_type == "chunk":
            return self._chunk(doc)
        text, usage = self._converse(event_type, sub_object(doc, event_type) or doc)
        return StreamEvent(text, usage, event_type)

    def _converse(self, event_type: str, doc: dict[str, object]) -> tuple[str | None, Usage | None]:
        if event_type == "contentBlockDelta":
            delta = sub_object(doc, "delta")
            text = delta.get("text") if delta is not None else None
            return (text or None) if isinstance(text, str) else None, None
        if event_type == "metadata":
            raw = sub_object(doc, "usage")
            return None, self._usage.merge(bedrock_usage(raw) if raw else None)
        return None, None

    def _chunk(self, wrapper: dict[str, object]) -> StreamEvent | None:
        encoded = wrapper.get("bytes")
        if not isinstance(encoded, str):
            return None
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return None
        doc = json_object(raw.decode("utf-8", errors="replace"))
        if doc is None:
            return None
        text, usage, name = self._model_event(doc)
        metrics = sub_object(doc, "amazon-bedrock-invocationMetrics")
        if metrics is not None:
            usage = self._usage.merge(bedrock_invocation_metrics(metrics)) or usage
        return StreamEvent(text, usage, name)

    def _model_event(self, doc: dict[str, object]) -> tuple[str | None, Usage | None, str]:
        kind = doc.get("type")
        if isinstance(kind, str):  # Anthropic's own events
            text, usage = anthropic_event(doc, self._usage)
            return text, usage, kind
        for event_type in ("contentBlockDelta", "metadata"):  # Amazon Nova
            inner = sub_object(doc, event_type)
            if inner is not None:
                text, usage = self._converse(event_type, inner)
                return text, usage, event_type
        return _plain_text(doc), None, "chunk"


def _plain_text(doc: dict[str, object]) -> str | None:
    for key in _TEXT_FIELDS:
        value = doc.get(key)
        if isinstance(value, str):
            return value or None
    outputs = doc.get("outputs")
    if isinstance(outputs, list):
        texts = [
            o["text"] for o in outputs if isinstance(o, dict) and isinstance(o.get("text"), str)
        ]
        return "".join(texts) or None
    return None
