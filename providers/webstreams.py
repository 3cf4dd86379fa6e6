"""Stream parsers for the web apps' answers: ChatGPT and Claude (private formats, best effort).

ChatGPT sends server-sent events in one of two forms. The older one repeats the whole
message each time (``{"message": {"author": {"role": "assistant"}, "content": {"parts":
[...]}}}``). The newer one (after ``event: delta_encoding`` / ``data: "v1"``) sends the
message once and then JSON-patch-like operations: ``{"p": "/message/content/parts/0",
"o": "append", "v": "text"}``, ``{"v": "more"}`` (same path and operation as before) and
``{"o": "patch", "v": [operations]}``. Either way the parser rebuilds the latest full
text of the assistant's message (``full_text``) and reports what each event added; when a
new message starts, or the text changes other than by growing, the event's text is the
whole new text.

Linear time: a string that ``append`` operations grow is kept as a list of pieces
(``_Text``), and an append to the last text part of the current assistant message is
reported as it is, without rebuilding the text. Any other change rebuilds the text once;
that work is counted, and a stream that makes the parser do more than ``_WORK_FACTOR``
times its own size in rebuilding, or grows a message's text past ``max_event_bytes``,
marks the parser ``too_large`` (the answer is cut: fail closed).

Claude's app sends ``completion`` events whose ``completion`` field is the next piece of
text, or Anthropic Messages events (``content_block_delta`` ...) in newer versions, with
events of its own: ``message_limit`` (the account's rate-limit window: no text),
``content_block_delta`` with ``thinking_delta`` (``delta.thinking``) and
``thinking_summary_delta`` (``delta.summary.summary``). ``message_start.message.model`` is
empty and no event carries usage: the text the answer streams (thinking included, as it is
billed as output) is reported so that the caller can estimate the usage and mark it so.
"""

from __future__ import annotations

from .apistreams import anthropic_event
from .shapes import StreamEvent
from .sse import DEFAULT_MAX_EVENT_BYTES, SseEvent
from .streambase import SseStreamParser, event_name, json_object, sub_object

#: Rebuilding a message's text may cost at most this many times the bytes received.
_WORK_FACTOR = 16
_WORK_SLACK = 1024 * 1024


class _Text:
    """A string grown by appends: its pieces, joined only when it is read."""

    __slots__ = ("pieces", "size")

    def __init__(self, first: str) -> None:
        self.pieces = [first]
        self.size = len(first)

    def append(self, more: str) -> None:
        self.pieces.append(more)
        self.size += len(more)

    def __str__(self) -> str:
        if len(self.pieces) > 1:
            self.pieces = ["".join(self.pieces)]
        return self.pieces[0]


def _plain(value: object) -> object:
    return str(value) if isinstance(value, _Text) else value


def _child(node: object, token: str) -> object:
    if isinstance(node, dict):
        return node.get(token)
    if isinstance(node, list) and token.isascii() and token.isdigit() and int(token) < len(node):
        return node[int(token)]
    return None


def _index(node: list[object], token: str) -> int | None:
    return int(token) if token.isascii() and token.isdigit() and int(token) < len(node) else None


def _put(node: object, step: str, value: object) -> None:
    if isinstance(node, dict):
        node[step] = value
    elif isinstance(node, list):
        if step in ("-", str(len(node))):
            node.append(value)
        elif step.isascii() and step.isdigit() and int(step) < len(node):
            node[int(step)] = value


class ChatGptWebStream(SseStreamParser):
    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        super().__init__(max_event_bytes)
        self._limit = max_event_bytes
        self._doc: dict[str, object] | None = None
        self._last_path = ""
        self._last_op = "append"
        self._message_id: object = None
        self._full = _Text("")
        self._appended: list[str] = []  # appends to the message's last text part
        self._rebuild = False  # something else changed: the text must be rebuilt
        self._received = 0
        self._work = 0
        self._over = False

    @property
    def full_text(self) -> str:
        """The latest full text of the assistant's current message."""
        return str(self._full)

    @property
    def too_large(self) -> bool:
        return self._over or super().too_large

    @property
    def broken(self) -> bool:
        return self._over or super().broken

    def _on_event(self, event: SseEvent) -> StreamEvent | None:
        if self._over:
            return None
        self._received += len(event.data)
        self._appended, self._rebuild = [], False
        doc = json_object(event.data)
        if doc is None:  # e.g. ``data: "v1"`` announcing the delta encoding
            return StreamEvent(None, None, event.event) if event.event != "message" else None
        if "v" in doc or "o" in doc or "p" in doc:
            self._patch(doc)
        elif isinstance(doc.get("message"), dict):
            self._doc = doc
            self._rebuild = True
        return StreamEvent(self._added_text(), None, event_name(event, doc))

    def _patch(self, operation: dict[str, object]) -> None:
        path = operation.get("p", self._last_path)
        op = operation.get("o", self._last_op)
        value = operation.get("v")
        if not isinstance(path, str) or not isinstance(op, str):
            return
        if op == "patch" and isinstance(value, list):
            for inner in value:
                if isinstance(inner, dict):
                    self._patch(inner)
            return
        self._last_path, self._last_op = path, op
        self._apply(path, op, value)

    def _apply(self, path: str, op: str, value: object) -> None:
        if path == "":
            if op in ("add", "replace") and isinstance(value, dict):
                self._doc = value
                self._rebuild = True
            return
        if self._doc is None or not path.startswith("/"):
            return
        tokens = [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]
        parent: object = self._doc
        for token in tokens[:-1]:
            parent = _child(parent, token)
        last = tokens[-1]
        current = _child(parent, last)
        if op == "append" and isinstance(value, str) and isinstance(current, str | _Text):
            if isinstance(current, str):
                current = _Text(current)
                _put(parent, last, current)
            current.append(value)
            if self._is_last_text_part(parent, last):
                self._appended.append(value)
                return
        elif op == "append":
            if isinstance(current, list) and isinstance(value, list):
                current.extend(value)
            elif isinstance(current, list):
                current.append(value)
        elif op in ("add", "replace"):
            _put(parent, last, value)
        elif (
            op == "truncate" and isinstance(current, str | _Text | list) and isinstance(value, int)
        ):
            _put(parent, last, _plain(current)[:value])  # type: ignore[index]
        self._rebuild = True

    def _is_last_text_part(self, parent: object, token: str) -> bool:
        message = sub_object(self._doc, "message") if self._doc is not None else None
        content = sub_object(message, "content") if message is not None else None
        parts = content.get("parts") if content is not None else None
        return (
            parent is parts and isinstance(parts, list) and _index(parts, token) == len(parts) - 1
        )

    def _added_text(self) -> str | None:
        message = sub_object(self._doc, "message") if self._doc is not None else None
        author = sub_object(message, "author") if message is not None else None
        if message is None or author is None or author.get("role") != "assistant":
            return None
        message_id = message.get("id")
        if message_id == self._message_id and not self._rebuild:
            added = "".join(self._appended)  # the common case: text grew at its end
            self._full.append(added)
        else:
            text = self._text_of(message)
            full = str(self._full)
            self._work += len(text) + len(full)
            # What the client has not been shown yet: a patch that only renamed the message
            # or changed something else adds nothing (reporting the whole text again per
            # such event would multiply a hostile stream's size).
            added = text[len(full) :] if text.startswith(full) else text
            self._message_id, self._full = message_id, _Text(text)
        if (
            self._full.size > self._limit
            or self._work > _WORK_FACTOR * self._received + _WORK_SLACK
        ):
            self._over = True  # fail closed: see the module doc
            return None
        return added or None

    @staticmethod
    def _text_of(message: dict[str, object]) -> str:
        content = sub_object(message, "content")
        parts = content.get("parts") if content is not None else None
        if isinstance(parts, list):
            return "".join(str(p) for p in parts if isinstance(p, str | _Text))
        raw = _plain(content.get("text")) if content is not None else None
        return raw if isinstance(raw, str) else ""


def _claude_thinking(doc: dict[str, object]) -> str | None:
    """The thinking text a Claude app event adds (``thinking_delta``,
    ``thinking_summary_delta``)."""
    delta = sub_object(doc, "delta") if doc.get("type") == "content_block_delta" else None
    if delta is None:
        return None
    if delta.get("type") == "thinking_delta":
        thinking = delta.get("thinking")
        return thinking if isinstance(thinking, str) and thinking else None
    if delta.get("type") == "thinking_summary_delta":
        summary = sub_object(delta, "summary")
        text = summary.get("summary") if summary is not None else None
        return text if isinstance(text, str) and text else None
    return None


class ClaudeWebStream(SseStreamParser):
    def _on_event(self, event: SseEvent) -> StreamEvent | None:
        doc = json_object(event.data)
        if doc is None:
            return None
        completion = doc.get("completion")
        if isinstance(completion, str):
            return StreamEvent(completion or None, None, event_name(event, doc))
        thinking = _claude_thinking(doc)
        if thinking is not None:
            return StreamEvent(thinking, None, event_name(event, doc))
        text, usage = anthropic_event(doc, self._usage)
        return StreamEvent(text, usage, event_name(event, doc))
