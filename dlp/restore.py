"""Restoring pseudonyms in answers: placeholders the model repeats (``<PERSON_1>``) become
the original values again before the user sees them, in plain JSON answers and in
streamed ones, where a placeholder may arrive split across events (``<PER`` + ``SON_1>``).

- ``PseudonymRestorer``: one text stream. ``feed(delta)`` returns what can be shown now;
  it holds back only a tail that is a proper prefix of one of the vault's placeholders,
  and so never more than the longest placeholder minus one character. ``flush()``
  returns what is held when the stream ends.
- ``SseRestorer``: raw SSE bytes of a streamed answer (OpenAI chat and completions,
  OpenAI Responses, Anthropic messages, Gemini ``alt=sse``). Each event's ``data:`` JSON
  is decoded, its text deltas go through one ``PseudonymRestorer`` per output (choice,
  content block, output item), and the event is re-serialized only when it changed. Text
  held at the end of an output is sent before that output's closing event (folded into
  the finishing chunk for OpenAI chat, as an extra delta event for Anthropic and
  Responses). Other events pass through byte for byte, comments and ``id:`` lines too.
- ``restore_json_response``: every string of a non-streamed JSON answer.

Linear time and bounded: lines come from ``providers.sse.SseLines`` (which never rescans
what it holds), and an event larger than ``max_event_bytes`` (config
``streams.max_event_bytes``) raises ``StreamTooLarge`` out of ``feed``: the caller cuts the
answer there (fail closed) instead of passing it on unrestored or holding it unbounded.

Placeholders are restored only if they are in the flow's vault: ``<EMAIL_ADDRESS_1>`` of
a value that was redacted (not pseudonymized) stays as it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from warden.providers.sse import DEFAULT_MAX_EVENT_BYTES, SseLines, StreamTooLarge

from .operators import PLACEHOLDER, PseudonymVault

__all__ = ["STREAM_APIS", "PseudonymRestorer", "SseRestorer", "restore_json_response"]


class PseudonymRestorer:
    """Placeholders -> original values in one text stream (see the module doc)."""

    def __init__(self, vault: PseudonymVault) -> None:
        self._vault = vault
        self._held = ""
        self._longest = vault.longest
        self._prefixes = frozenset(p[:i] for p in vault for i in range(1, len(p)))

    @property
    def held(self) -> int:
        """How many characters are held back now."""
        return len(self._held)

    def feed(self, delta: str) -> str:
        if not self._prefixes:
            return delta
        text = self._held + delta
        cut = self._hold_from(text)
        self._held = text[cut:]
        return restore_text(text[:cut], self._vault)

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held  # a proper prefix of a placeholder: nothing in it to restore

    def _hold_from(self, text: str) -> int:
        # Only a tail shorter than the longest placeholder can still become one, and a
        # placeholder holds one "<", at its start: only the last "<" can begin the tail.
        i = text.rfind("<", max(0, len(text) - self._longest + 1))
        if i >= 0 and text[i:] in self._prefixes:
            return i
        return len(text)


def restore_text(text: str, vault: PseudonymVault) -> str:
    """``text`` with every complete placeholder of ``vault`` replaced by its value."""
    if "<" not in text or not vault:
        return text

    def value(m: re.Match[str]) -> str:
        original = vault.original(m.group(0))
        return m.group(0) if original is None else original

    return PLACEHOLDER.sub(value, text)


def _restore_strings(node: Any, vault: PseudonymVault) -> tuple[Any, bool]:
    """``node`` with every string restored; also says whether anything changed."""
    if isinstance(node, str):
        new = restore_text(node, vault)
        return new, new != node
    if isinstance(node, list):
        changed = False
        for i, item in enumerate(node):
            node[i], c = _restore_strings(item, vault)
            changed |= c
        return node, changed
    if isinstance(node, dict):
        changed = False
        for key, item in node.items():
            node[key], c = _restore_strings(item, vault)
            changed |= c
        return node, changed
    return node, False


def _dumps(doc: object) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def restore_json_response(api: str | None, body: bytes, vault: PseudonymVault | None) -> bytes:
    """A non-streamed JSON answer (any api: every string in it) with the vault's
    placeholders restored. ``body`` is content-decoded; it comes back unchanged, byte for
    byte, when it is not JSON or holds no placeholder of the vault."""
    del api  # every string is restored, whatever the API's shape
    if not vault or b"<" not in body:
        return body
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body
    doc, changed = _restore_strings(doc, vault)
    return _dumps(doc).encode("utf-8") if changed else body


# --- SSE --------------------------------------------------------------------------------

_LINE_END = re.compile(rb"\r\n|\r|\n")

Emit = list[bytes]


class _Event:
    """One SSE event as its raw lines (each with its line ending) and its decoded data."""

    __slots__ = ("data", "eol", "lines", "name")

    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines
        m = _LINE_END.search(lines[0]) if lines else None
        self.eol = m.group(0) if m else b"\n"
        self.name = ""
        data: list[str] = []
        for raw in lines:
            line = _LINE_END.sub(b"", raw).decode("utf-8", errors="replace")
            field, colon, value = line.partition(":")
            if colon and value.startswith(" "):
                value = value[1:]
            if field == "data":
                data.append(value)
            elif field == "event":
                self.name = value
        self.data: str | None = "\n".join(data) if data else None

    def with_data(self, doc: object) -> bytes:
        """The event's bytes with its data replaced by ``doc`` (one ``data:`` line where
        the first one was; other lines as they were)."""
        out: list[bytes] = []
        written = False
        for raw in self.lines:
            if raw.startswith(b"data:") or raw.startswith(b"data\r") or raw.startswith(b"data\n"):
                if not written:
                    out.append(b"data: " + _dumps(doc).encode("utf-8") + self.eol)
                    written = True
                continue
            out.append(raw)
        return b"".join(out)


def _synthetic(name: str | None, doc: object, eol: bytes) -> bytes:
    head = b"event: " + name.encode() + eol if name else b""
    return head + b"data: " + _dumps(doc).encode("utf-8") + eol + eol


class _Streams:
    """One ``PseudonymRestorer`` per output of a streamed answer."""

    def __init__(self, vault: PseudonymVault) -> None:
        self._vault = vault
        self._open: dict[object, PseudonymRestorer] = {}

    def feed(self, key: object, text: str) -> str:
        restorer = self._open.get(key)
        if restorer is None:
            restorer = self._open[key] = PseudonymRestorer(self._vault)
        return restorer.feed(text)

    def flush(self, key: object) -> str:
        restorer = self._open.pop(key, None)
        return restorer.flush() if restorer is not None else ""

    def flush_all(self) -> dict[object, str]:
        held = {key: r.flush() for key, r in self._open.items()}
        self._open.clear()
        return {key: text for key, text in held.items() if text}


class SseRestorer:
    """Restores pseudonyms in the raw SSE bytes of one streamed answer of ``api``.

    ``feed(chunk)`` returns the bytes to pass on now (whole events only: a partial event
    is held until its end arrives); ``close()`` returns the rest at the end of the
    stream. ``feed(b"")`` means the end too, as mitmproxy's stream hook signals it.
    ``feed`` raises ``StreamTooLarge`` for an event over ``max_event_bytes``."""

    def __init__(
        self,
        api: str,
        vault: PseudonymVault | None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    ) -> None:
        handler = _HANDLERS.get(api)
        if handler is None:
            raise ValueError(f"no streamed-answer restorer for api {api!r}; see STREAM_APIS")
        self._vault = vault or PseudonymVault()
        self._handle: Callable[[SseRestorer, _Event, dict[str, Any], Emit], bool] = handler
        self._streams = _Streams(self._vault)
        self._limit = max_event_bytes
        self._splitter = SseLines(max_event_bytes)
        self._lines: list[bytes] = []  # the lines of the event not yet ended
        self._event_size = 0
        self._form: str | None = None  # "sse" or "json", from the first non-blank byte
        self._closed = False
        self._eol = b"\n"
        self._last_chunk: dict[str, Any] = {}  # OpenAI chat: id/model of the last chunk
        self._passthrough = False

    def feed(self, chunk: bytes) -> bytes:
        if not chunk:
            return self.close()
        if not self._vault or self._closed or self._passthrough:
            return chunk
        if self._form is None:
            head = chunk.lstrip()
            if not head:
                return chunk  # white space before the first event: nothing to restore
            self._form = "json" if head[:1] in (b"[", b"{") else "sse"
            if self._form == "json":
                # a JSON array stream (Gemini without alt=sse): passed on as it is
                # (placeholders stay visible; nothing leaks)
                self._passthrough = True
                return chunk
        out: list[bytes] = []
        for line in self._splitter.feed(chunk):
            self._lines.append(line)
            self._event_size += len(line)
            if self._event_size > self._limit:
                self._lines, self._event_size = [], 0
                raise StreamTooLarge(self._limit)
            if line in (b"\n", b"\r\n", b"\r"):
                out.append(self._event(self._lines))
                self._lines, self._event_size = [], 0
        return b"".join(out)

    def close(self) -> bytes:
        if self._closed:
            return b""
        self._closed = True
        if not self._vault or self._passthrough:
            return b""
        lines, rest = self._splitter.close()
        held = b"".join(self._lines) + b"".join(lines) + rest
        self._lines, self._event_size = [], 0
        return self._flush_events() + held

    def _event(self, lines: list[bytes]) -> bytes:
        raw = b"".join(lines)
        event = _Event(lines)
        self._eol = event.eol
        if event.data is None:
            return raw
        if event.data.strip() == "[DONE]":
            return self._flush_events() + raw
        try:
            doc = json.loads(event.data)
        except ValueError:
            return raw
        if not isinstance(doc, dict):
            return raw
        before: Emit = []
        changed = self._handle(self, event, doc, before)
        return b"".join(before) + (event.with_data(doc) if changed else raw)

    def _flush_events(self) -> bytes:
        held = self._streams.flush_all()
        return b"".join(self._tail_event(key, text) for key, text in held.items())

    def _tail_event(self, key: object, text: str) -> bytes:
        kind, *ids = key if isinstance(key, tuple) else (key,)
        if kind == "chat":
            doc = {
                **self._last_chunk,
                "choices": [{"index": ids[0], "delta": {"content": text}, "finish_reason": None}],
            }
            return _synthetic(None, doc, self._eol)
        if kind == "completion":
            doc = {
                **self._last_chunk,
                "choices": [{"index": ids[0], "text": text, "finish_reason": None}],
            }
            return _synthetic(None, doc, self._eol)
        if kind == "anthropic":
            return _synthetic("content_block_delta", _anthropic_delta(ids[0], text), self._eol)
        if kind == "responses":
            item_id, output_index, content_index = ids
            doc = {
                "type": "response.output_text.delta",
                "item_id": item_id,
                "output_index": output_index,
                "content_index": content_index,
                "delta": text,
            }
            return _synthetic("response.output_text.delta", doc, self._eol)
        doc = {
            "candidates": [
                {"index": ids[0], "content": {"role": "model", "parts": [{"text": text}]}}
            ]
        }
        return _synthetic(None, doc, self._eol)

    # --- per-API handlers: restore the event in place, put extra events into ``before``

    def _openai_chat(self, event: _Event, doc: dict[str, Any], before: Emit) -> bool:
        return self._openai(doc, "chat")

    def _openai_completions(self, event: _Event, doc: dict[str, Any], before: Emit) -> bool:
        return self._openai(doc, "completion")

    def _openai(self, doc: dict[str, Any], kind: str) -> bool:
        self._last_chunk = {k: doc[k] for k in ("id", "object", "created", "model") if k in doc}
        choices = doc.get("choices")
        changed = False
        for pos, choice in enumerate(choices if isinstance(choices, list) else ()):
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", pos)
            key = (kind, index)
            if kind == "chat":
                holder = choice.get("delta")
                field = "content"
            else:
                holder, field = choice, "text"
            if not isinstance(holder, dict):
                continue
            text = holder.get(field)
            new = self._streams.feed(key, text) if isinstance(text, str) else None
            if choice.get("finish_reason") is not None:
                tail = self._streams.flush(key)
                if tail:
                    new = (new or "") + tail
            if new is not None and new != text:
                holder[field] = new
                changed = True
        return changed

    def _anthropic(self, event: _Event, doc: dict[str, Any], before: Emit) -> bool:
        kind = doc.get("type")
        index = doc.get("index")
        if kind == "content_block_delta":
            delta = doc.get("delta")
            if isinstance(delta, dict) and delta.get("type") == "text_delta":
                text = delta.get("text")
                if isinstance(text, str):
                    new = self._streams.feed(("anthropic", index), text)
                    delta["text"] = new
                    return new != text
            return False
        if kind == "content_block_stop":
            tail = self._streams.flush(("anthropic", index))
            if tail:
                before.append(
                    _synthetic("content_block_delta", _anthropic_delta(index, tail), event.eol)
                )
            return False
        if kind == "message_stop":
            before.append(self._flush_events())
            return False
        _, changed = _restore_strings(doc, self._vault)
        return changed

    def _responses(self, event: _Event, doc: dict[str, Any], before: Emit) -> bool:
        kind = doc.get("type")
        key = ("responses", doc.get("item_id"), doc.get("output_index"), doc.get("content_index"))
        if kind == "response.output_text.delta":
            text = doc.get("delta")
            if isinstance(text, str):
                new = self._streams.feed(key, text)
                doc["delta"] = new
                return new != text
            return False
        if kind == "response.output_text.done":
            tail = self._streams.flush(key)
            if tail:
                extra: dict[str, Any] = {"type": "response.output_text.delta"}
                for k in ("item_id", "output_index", "content_index"):
                    if k in doc:
                        extra[k] = doc[k]
                extra["delta"] = tail
                if "sequence_number" in doc:
                    extra["sequence_number"] = doc["sequence_number"]
                before.append(_synthetic("response.output_text.delta", extra, event.eol))
        _, changed = _restore_strings(doc, self._vault)
        return changed

    def _gemini(self, event: _Event, doc: dict[str, Any], before: Emit) -> bool:
        candidates = doc.get("candidates")
        changed = False
        for pos, candidate in enumerate(candidates if isinstance(candidates, list) else ()):
            if not isinstance(candidate, dict):
                continue
            key = ("gemini", candidate.get("index", pos))
            content = candidate.get("content")
            parts = content.get("parts") if isinstance(content, dict) else None
            last_text: dict[str, Any] | None = None
            for part in parts if isinstance(parts, list) else ():
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    text = part["text"]
                    part["text"] = self._streams.feed(key, text)
                    changed |= part["text"] != text
                    last_text = part
            if candidate.get("finishReason") is not None:
                tail = self._streams.flush(key)
                if tail:
                    if last_text is None:
                        candidate.setdefault("content", {"role": "model"}).setdefault(
                            "parts", []
                        ).append({"text": tail})
                    else:
                        last_text["text"] += tail
                    changed = True
        return changed


def _anthropic_delta(index: object, text: str) -> dict[str, Any]:
    return {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "text_delta", "text": text},
    }


_HANDLERS: dict[str, Callable[[SseRestorer, _Event, dict[str, Any], Emit], bool]] = {
    "openai.chat_completions": SseRestorer._openai_chat,
    "azure.chat_completions": SseRestorer._openai_chat,
    "openai.completions": SseRestorer._openai_completions,
    "azure.completions": SseRestorer._openai_completions,
    "openai.responses": SseRestorer._responses,
    "azure.responses": SseRestorer._responses,
    "anthropic.messages": SseRestorer._anthropic,
    "gemini.stream_generate_content": SseRestorer._gemini,
}

#: Apis whose streamed answers ``SseRestorer`` can restore.
STREAM_APIS = frozenset(_HANDLERS)
