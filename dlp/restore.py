"""Restoring pseudonyms in answers: placeholders the model repeats (``<PERSON_1>``) become
the original values again before the user sees them, in plain JSON answers and in
streamed ones, where a placeholder may arrive split across events (``<PER`` + ``SON_1>``).

- ``PseudonymRestorer``: one text stream. ``feed(delta)`` returns what can be shown now;
  it holds back only a tail that is a proper prefix of one of the vault's placeholders,
  and so never more than the longest placeholder minus one character. ``flush()``
  returns what is held when the stream ends.
- ``SseRestorer``: raw SSE bytes of a streamed answer (OpenAI chat and completions,
  OpenAI Responses, Anthropic messages, Gemini ``alt=sse``). One engine for every api:
  ``providers.answerfields.ANSWER_SHAPES`` says where each api's events carry text
  deltas, tool-call argument deltas (JSON text: ``argstream.JsonTextRestorer``, which
  follows placeholders across deltas and ``\\u`` escapes) and whole tool-call objects, and
  which events end an output. Each output (choice, tool call, content block, output
  item) has its own restorer; text held when an output ends goes out in an extra delta
  event just before the event that ends it (just after it when that event is a last
  chunk carrying a delta of its own: OpenAI's ``finish_reason``, Gemini's
  ``finishReason``). Gemini's JSON-array stream (without ``alt=sse``) is restored the
  same way, element by element, and written out again as one JSON array (``[``, the
  elements joined by ``,\\r\\n`` as Gemini does, ``]``). Every other string of an event
  is restored whole
  (JSON-aware for the table's ``json_strings``: Responses' ``.done`` arguments). An
  event is re-serialized only when it changed; others pass through byte for byte,
  comments and ``id:`` lines too.
- ``restore_json_response``: every string of a non-streamed JSON answer, tool-call
  arguments (JSON in a string) JSON-aware.

Linear time and bounded: lines come from ``providers.sse.SseLines`` (which never rescans
what it holds), and an event larger than ``max_event_bytes`` (config
``streams.max_event_bytes``) raises ``StreamTooLarge`` out of ``feed``: the caller cuts the
answer there (fail closed) instead of passing it on unrestored or holding it unbounded.

Placeholders are restored only if they are in the flow's vault: ``<EMAIL_ADDRESS_1>`` of
a value that was redacted (not pseudonymized) stays as it is.

Over 400 lines: restoring in JSON and in each stream shape shares one placeholder matcher
and its split-across-events state.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from warden.providers.answerfields import ANSWER_SHAPES, EACH, AnswerField, AnswerShape, Path
from warden.providers.jsonarray import JsonArrayDecoder
from warden.providers.sse import DEFAULT_MAX_EVENT_BYTES, SseLines, StreamTooLarge

from .argstream import JsonTextRestorer, restore_json_text
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


def _walk(
    node: object, path: Path, indexes: tuple[int, ...] = ()
) -> Iterator[tuple[tuple[int, ...], dict[str, Any], str]]:
    """Every (list indexes, holder, key) that ``path`` reaches in ``node`` (``*``: every
    element of a list; an element's ``index`` field, else its position, is its index)."""
    for i, step in enumerate(path):
        if step == EACH:
            if not isinstance(node, list):
                return
            for pos, item in enumerate(node):
                index = item.get("index", pos) if isinstance(item, dict) else pos
                if not isinstance(index, int):
                    index = pos  # a hostile upstream's odd index (a list, an object): position
                yield from _walk(item, path[i + 1 :], (*indexes, index))
            return
        if not isinstance(node, dict):
            return
        if i == len(path) - 1:
            if step in node:
                yield indexes, node, step
            return
        node = node.get(step)


def _value(doc: object, path: Path) -> object:
    for step in path:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(step)
    return doc


def _restore_json_strings(doc: object, shape: AnswerShape, vault: PseudonymVault) -> bool:
    """Tool-call arguments (a JSON document in a string) restored JSON-aware, in place."""
    changed = False
    for path in shape.json_strings:
        for _, holder, key in list(_walk(doc, path)):
            text = holder[key]
            if isinstance(text, str):
                new = restore_json_text(text, vault)
                changed |= new != text
                holder[key] = new
    return changed


def _dumps(doc: object) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def _encode(doc: object) -> bytes:
    """``doc`` as compact JSON bytes. A lone surrogate an upstream sent (JSON ``\\ud800``)
    goes back out as the same escape: UTF-8 cannot carry it."""
    return _dumps(doc).encode("utf-8", "backslashreplace")


def _hashable(value: object) -> object:
    """An output's key part: ids are strings or numbers; anything else an upstream sent
    (a list, an object) is keyed by its JSON text."""
    return value if value is None or isinstance(value, int | float | str) else _dumps(value)


def restore_json_response(api: str | None, body: bytes, vault: PseudonymVault | None) -> bytes:
    """A non-streamed JSON answer (any api: every string in it) with the vault's
    placeholders restored. ``body`` is content-decoded; it comes back unchanged, byte for
    byte, when it is not JSON or holds no placeholder of the vault."""
    if not vault or (b"<" not in body and b"\\u003" not in body.lower()):
        return body
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body
    shape = ANSWER_SHAPES.get(api or "")
    changed = _restore_json_strings(doc, shape, vault) if shape is not None else False
    doc, plain = _restore_strings(doc, vault)
    return _encode(doc) if changed or plain else body


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
                    out.append(b"data: " + _encode(doc) + self.eol)
                    written = True
                continue
            out.append(raw)
        return b"".join(out)


def _synthetic(name: str | None, doc: object, eol: bytes) -> bytes:
    head = b"event: " + name.encode() + eol if name else b""
    return head + b"data: " + _encode(doc) + eol + eol


class _Outputs:
    """One restorer per open output of a streamed answer, keyed by (field name, *key)."""

    def __init__(self, vault: PseudonymVault) -> None:
        self._vault = vault
        self._open: dict[
            tuple[object, ...], tuple[AnswerField, PseudonymRestorer | JsonTextRestorer]
        ] = {}

    def feed(self, field: AnswerField, key: tuple[object, ...], text: str) -> str:
        entry = self._open.get(key)
        if entry is None:
            restorer = (
                JsonTextRestorer(self._vault)
                if field.kind == "json"
                else PseudonymRestorer(self._vault)
            )
            entry = self._open[key] = (field, restorer)
        return entry[1].feed(text)

    def close(
        self, names: tuple[str, ...], prefix: tuple[object, ...] | None
    ) -> list[tuple[AnswerField, tuple[object, ...], str]]:
        """Ends the outputs of ``names`` (``*``: all) whose key starts with ``prefix``
        (``None``: any); what they held, with their field and key values."""
        ended = []
        for key in list(self._open):
            field, restorer = self._open[key]
            if "*" not in names and field.name not in names:
                continue
            if prefix is not None and key[1 : 1 + len(prefix)] != prefix:
                continue
            del self._open[key]
            held = restorer.flush()
            if held:
                ended.append((field, key[1:], held))
        return ended


#: An output a document ended: its field, its key and the text it still held.
type _Ended = tuple[AnswerField, tuple[object, ...], str]


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
        shape = ANSWER_SHAPES.get(api)
        if shape is None or api not in STREAM_APIS:
            raise ValueError(f"no streamed-answer restorer for api {api!r}; see STREAM_APIS")
        self._shape = shape
        self._vault = vault or PseudonymVault()
        self._outputs = _Outputs(self._vault)
        self._limit = max_event_bytes
        self._splitter = SseLines(max_event_bytes)
        self._lines: list[bytes] = []  # the lines of the event not yet ended
        self._event_size = 0
        self._form: str | None = None  # "sse" or "json", from the first non-blank byte
        self._closed = False
        self._eol = b"\n"
        self._last: dict[str, Any] = {}  # the last event's document (tail events copy ids)
        self._memo: dict[str, object] = {}  # the shape's ``patches`` state across events
        self._passthrough = False
        #: Gemini without ``alt=sse`` streams one JSON array: its elements are restored like
        #: events and written out again as ``[`` element ``,`` element … ``]``.
        self._array: JsonArrayDecoder | None = None
        self._elements = 0
        self._array_closed = False

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
                if head[:1] != b"[":
                    self._passthrough = True  # one JSON object: not a stream form we know
                    return chunk
                self._array = JsonArrayDecoder(self._limit)
                # white space before the array goes on as it came, whatever the chunking
                lead = chunk[: len(chunk) - len(head)]
                return lead + self._array_feed(head)
        if self._array is not None:
            return self._array_feed(chunk)
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

    def _array_feed(self, chunk: bytes) -> bytes:
        assert self._array is not None
        docs: list[object] = []
        for element in self._array.feed(chunk):
            if isinstance(element, dict):
                self._feed_fields(element)
                self._last = element
                before, after = self._ended(element)
                _restore_json_strings(element, self._shape, self._vault)
                element, _ = _restore_strings(element, self._vault)
                docs += [*self._tail_docs(before), element, *self._tail_docs(after)]
            else:
                docs.append(element)
        if self._array.too_large:
            raise StreamTooLarge(self._limit)
        out = self._elements_bytes(docs)
        if self._array.done and not self._array_closed:
            out += self._array_end()
        return out

    def _elements_bytes(self, docs: list[object]) -> bytes:
        out = []
        for doc in docs:
            out.append((b"[" if self._elements == 0 else b",\r\n") + _encode(doc))
            self._elements += 1
        return b"".join(out)

    def _array_end(self) -> bytes:
        """The tails of outputs still open, then the array's end."""
        self._array_closed = True
        out = self._elements_bytes(self._tail_docs(self._outputs.close(("*",), None)))
        return out + (b"]" if self._elements else b"[]")

    def _tail_docs(self, ended: list[_Ended]) -> list[object]:
        return [field.tail(key, text, self._last)[1] for field, key, text in ended if field.tail]

    def close(self) -> bytes:
        if self._closed:
            return b""
        self._closed = True
        if self._array is not None:
            self._array.close()
            return b"" if self._array_closed or self._array.broken else self._array_end()
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
        starts, changed = self._feed_patches(doc)
        changed |= self._feed_fields(doc)
        self._last = doc
        before, after = self._ended_outputs(doc)
        before = starts + before
        changed |= _restore_json_strings(doc, self._shape, self._vault)
        _, plain = _restore_strings(doc, self._vault)
        return before + (event.with_data(doc) if changed or plain else raw) + after

    def _feed_patches(self, doc: dict[str, Any]) -> tuple[bytes, bool]:
        """Appended text of a patch-encoded event (``AnswerShape.patches``) through its
        output's restorer; the tails of every output first when the event starts a new
        message."""
        patches = self._shape.patches
        if patches is None:
            return b"", False
        found, starts = patches.locate(doc, self._memo)
        flushed = self._flush_events() if starts else b""
        changed = False
        for key, holder, name in found:
            value = holder[name]
            new = self._outputs.feed(patches.field, (patches.field.name, *key), value)
            if new != value:
                holder[name] = new
                changed = True
        return flushed, changed

    def _feed_fields(self, doc: dict[str, Any]) -> bool:
        changed = False
        for field in self._shape.fields:
            if not all(_value(doc, path) == value for path, value in field.when):
                continue
            for indexes, holder, name in list(_walk(doc, field.path)):
                value = holder[name]
                if field.kind == "object":
                    holder[name], c = _restore_strings(value, self._vault)
                    changed |= c
                    continue
                if not isinstance(value, str):
                    continue
                key = (
                    field.name,
                    *indexes[: field.lists_in_key],
                    *(_hashable(_value(doc, k)) for k in field.key),
                )
                new = self._outputs.feed(field, key, value)
                if new != value:
                    holder[name] = new
                    changed = True
        return changed

    def _ended_outputs(self, doc: dict[str, Any]) -> tuple[bytes, bytes]:
        """Tail events of the outputs ``doc`` ends: those to send before it (an event
        that only ends outputs) and after it (a last chunk that carries a delta of its
        own and says it is the last one, as OpenAI's and Gemini's do)."""
        before, after = self._ended(doc)
        return b"".join(self._tails(before)), b"".join(self._tails(after))

    def _ended(self, doc: dict[str, Any]) -> tuple[list[_Ended], list[_Ended]]:
        """The outputs ``doc`` ends, with their held text: (before it, after it)."""
        before: list[_Ended] = []
        after: list[_Ended] = []
        for end in self._shape.closes:
            if not all(_value(doc, path) == value for path, value in end.when):
                continue
            if end.flag is not None:
                for indexes, holder, name in list(_walk(doc, end.flag)):
                    if holder[name] is not None:
                        after += self._outputs.close(end.fields, indexes)
            else:
                prefix = tuple(_value(doc, k) for k in end.key) if end.key else None
                before += self._outputs.close(end.fields, prefix)
        return before, after

    def _flush_events(self) -> bytes:
        return b"".join(self._tails(self._outputs.close(("*",), None)))

    def _tails(self, ended: list[_Ended]) -> list[bytes]:
        out = []
        for field, key, text in ended:
            if field.tail is not None:
                name, doc = field.tail(key, text, self._last)
                out.append(_synthetic(name, doc, self._eol))
        return out


#: Apis whose streamed answers ``SseRestorer`` can restore.
STREAM_APIS = frozenset(
    {
        "openai.chat_completions",
        "azure.chat_completions",
        "openai.completions",
        "azure.completions",
        "openai.responses",
        "azure.responses",
        "anthropic.messages",
        "gemini.stream_generate_content",
        "chatgpt.conversation",
        "claude.completion",
    }
)
