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

Claude's app sends ``completion`` events whose ``completion`` field is the next piece of
text, or Anthropic Messages events (``content_block_delta`` ...) in newer versions.
"""

from __future__ import annotations

from .apistreams import anthropic_event
from .shapes import StreamEvent
from .sse import SseEvent
from .streambase import SseStreamParser, event_name, json_object, sub_object


def _child(node: object, token: str) -> object:
    if isinstance(node, dict):
        return node.get(token)
    if isinstance(node, list) and token.isascii() and token.isdigit() and int(token) < len(node):
        return node[int(token)]
    return None


def _put(node: object, step: str, value: object) -> None:
    if isinstance(node, dict):
        node[step] = value
    elif isinstance(node, list):
        if step in ("-", str(len(node))):
            node.append(value)
        elif step.isascii() and step.isdigit() and int(step) < len(node):
            node[int(step)] = value


class ChatGptWebStream(SseStreamParser):
    def __init__(self) -> None:
        super().__init__()
        self._doc: dict[str, object] | None = None
        self._last_path = ""
        self._last_op = "append"
        self._message_id: object = None
        self._full = ""

    @property
    def full_text(self) -> str:
        """The latest full text of the assistant's current message."""
        return self._full

    def _on_event(self, event: SseEvent) -> StreamEvent | None:
        doc = json_object(event.data)
        if doc is None:  # e.g. ``data: "v1"`` announcing the delta encoding
            return StreamEvent(None, None, event.event) if event.event != "message" else None
        if "v" in doc or "o" in doc or "p" in doc:
            self._patch(doc)
        elif isinstance(doc.get("message"), dict):
            self._doc = doc
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
            return
        if self._doc is None or not path.startswith("/"):
            return
        tokens = [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]
        parent: object = self._doc
        for token in tokens[:-1]:
            parent = _child(parent, token)
        last = tokens[-1]
        current = _child(parent, last)
        if op == "append":
            if isinstance(current, str) and isinstance(value, str):
                _put(parent, last, current + value)
            elif isinstance(current, list) and isinstance(value, list):
                current.extend(value)
            elif isinstance(current, list):
                current.append(value)
        elif op in ("add", "replace"):
            _put(parent, last, value)
        elif op == "truncate" and isinstance(current, str | list) and isinstance(value, int):
            _put(parent, last, current[:value])

    def _added_text(self) -> str | None:
        message = sub_object(self._doc, "message") if self._doc is not None else None
        author = sub_object(message, "author") if message is not None else None
        if message is None or author is None or author.get("role") != "assistant":
            return None
        content = sub_object(message, "content")
        parts = content.get("parts") if content is not None else None
        if isinstance(parts, list):
            text = "".join(p for p in parts if isinstance(p, str))
        else:
            raw = content.get("text") if content is not None else None
            text = raw if isinstance(raw, str) else ""
        message_id = message.get("id")
        if message_id == self._message_id and text.startswith(self._full):
            added = text[len(self._full) :]
        else:
            added = text
        self._message_id, self._full = message_id, text
        return added or None


class ClaudeWebStream(SseStreamParser):
    def _on_event(self, event: SseEvent) -> StreamEvent | None:
        doc = json_object(event.data)
        if doc is None:
            return None
        completion = doc.get("completion")
        if isinstance(completion, str):
            return StreamEvent(completion or None, None, event_name(event, doc))
        text, usage = anthropic_event(doc, self._usage)
        return StreamEvent(text, usage, event_name(event, doc))
