"""Where each provider's answers carry text a person or tool will act on: the one table the
pseudonym restorer (``dlp/restore.py``) reads, for streamed and whole answers.

A streamed answer is a sequence of JSON events (SSE ``data:``). Per api, ``ANSWER_SHAPES``
lists:

- ``fields``: each place an event carries a piece of an output. ``kind`` is ``text``
  (plain text deltas), ``json`` (deltas of a JSON document, i.e. tool-call arguments, whose
  strings may hold placeholders split across deltas and written with ``\\u`` escapes) or
  ``object`` (a whole JSON value, e.g. Gemini's ``functionCall.args``). ``path`` leads
  from the event to the string; ``*`` steps into every element of a list, whose
  ``index`` (else its position) names the output together with the ``key`` fields.
  ``tail`` builds the event that carries text still held when the output ends.
- ``closes``: the events that end outputs (so held text goes out before them).
- ``json_strings``: in whole documents (a non-streamed answer, a summary event such as
  Responses' ``.done``), the strings that hold a JSON document (tool-call arguments).

- ``patches``: text appended by JSON-patch-like operations whose path may be implied by
  the event before (ChatGPT's delta encoding, ``chatgpt_appends``): a function that finds
  the appended strings of an event, and says when an event starts a new message (what
  the outputs still hold goes out before it).

A new answer format plugs in by adding its rows here; the restorer has no per-provider
code. (Gemini's web app answers in length-prefixed frames of cumulative text, not events
of deltas: ``dlp/webrestore.py`` restores each frame's strings whole.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Path = tuple[str, ...]
#: (output key values, held text, the last event seen) -> (SSE event name, event document)
TailEvent = Callable[[tuple[object, ...], str, Mapping[str, object]], tuple[str | None, object]]

EACH = "*"


@dataclass(frozen=True, slots=True)
class AnswerField:
    name: str
    kind: Literal["text", "json", "object"]
    path: Path
    when: tuple[tuple[Path, str], ...] = ()  # (path, value) the event must hold
    key: tuple[Path, ...] = ()  # event fields naming the output, after the list indexes
    lists_in_key: int = 99  # how many of the path's list indexes name the output
    tail: TailEvent | None = None


@dataclass(frozen=True, slots=True)
class OutputsEnd:
    """An event ending the outputs of ``fields`` (all: ``("*",)``): those whose key is
    ``key``'s values, or, with ``flag``, the list elements where ``flag`` is not null."""

    fields: tuple[str, ...]
    when: tuple[tuple[Path, str], ...] = ()
    key: tuple[Path, ...] = ()
    flag: Path | None = None


#: (event document, memo kept across the stream's events) -> (appended strings as (output
#: key, holder, key in holder), whether the event starts a new message)
PatchLocator = Callable[
    [dict[str, Any], dict[str, object]], tuple[list[tuple[tuple[object, ...], Any, Any]], bool]
]


@dataclass(frozen=True, slots=True)
class PatchDeltas:
    field: AnswerField  # its name, kind (text) and tail event
    locate: PatchLocator


@dataclass(frozen=True, slots=True)
class AnswerShape:
    fields: tuple[AnswerField, ...]
    closes: tuple[OutputsEnd, ...]
    json_strings: tuple[Path, ...] = ()
    patches: PatchDeltas | None = None


def _chunk_meta(last: Mapping[str, object]) -> dict[str, object]:
    return {k: last[k] for k in ("id", "object", "created", "model") if k in last}


def _chat_text(
    key: tuple[object, ...], text: str, last: Mapping[str, object]
) -> tuple[None, object]:
    choice = {"index": key[0], "delta": {"content": text}, "finish_reason": None}
    return None, {**_chunk_meta(last), "choices": [choice]}


def _chat_args(
    key: tuple[object, ...], text: str, last: Mapping[str, object]
) -> tuple[None, object]:
    call = {"index": key[1], "function": {"arguments": text}}
    choice = {"index": key[0], "delta": {"tool_calls": [call]}, "finish_reason": None}
    return None, {**_chunk_meta(last), "choices": [choice]}


def _completion_text(
    key: tuple[object, ...], text: str, last: Mapping[str, object]
) -> tuple[None, object]:
    choice = {"index": key[0], "text": text, "finish_reason": None}
    return None, {**_chunk_meta(last), "choices": [choice]}


def _anthropic(delta_type: str, field: str) -> TailEvent:
    def tail(key: tuple[object, ...], text: str, last: Mapping[str, object]) -> tuple[str, object]:
        delta = {"type": delta_type, field: text}
        return "content_block_delta", {
            "type": "content_block_delta",
            "index": key[0],
            "delta": delta,
        }

    return tail


def _responses_text(
    key: tuple[object, ...], text: str, last: Mapping[str, object]
) -> tuple[str, object]:
    kind = "response.output_text.delta"
    item_id, output_index, content_index = key
    doc = {
        "type": kind,
        "item_id": item_id,
        "output_index": output_index,
        "content_index": content_index,
        "delta": text,
    }
    return kind, doc


def _responses_args(
    key: tuple[object, ...], text: str, last: Mapping[str, object]
) -> tuple[str, object]:
    kind = "response.function_call_arguments.delta"
    item_id, output_index = key
    return kind, {"type": kind, "item_id": item_id, "output_index": output_index, "delta": text}


def _gemini_text(
    key: tuple[object, ...], text: str, last: Mapping[str, object]
) -> tuple[None, object]:
    parts = [{"text": text}]
    return None, {"candidates": [{"index": key[0], "content": {"role": "model", "parts": parts}}]}


_TYPE: Path = ("type",)

_CHAT = AnswerShape(
    fields=(
        AnswerField("chat.text", "text", ("choices", EACH, "delta", "content"), tail=_chat_text),
        AnswerField(
            "chat.args",
            "json",
            ("choices", EACH, "delta", "tool_calls", EACH, "function", "arguments"),
            tail=_chat_args,
        ),
    ),
    closes=(OutputsEnd(("*",), flag=("choices", EACH, "finish_reason")),),
    json_strings=(("choices", EACH, "message", "tool_calls", EACH, "function", "arguments"),),
)

_COMPLETIONS = AnswerShape(
    fields=(
        AnswerField("completion.text", "text", ("choices", EACH, "text"), tail=_completion_text),
    ),
    closes=(OutputsEnd(("*",), flag=("choices", EACH, "finish_reason")),),
)

_ANTHROPIC = AnswerShape(
    fields=(
        AnswerField(
            "anthropic.text",
            "text",
            ("delta", "text"),
            when=((_TYPE, "content_block_delta"), (("delta", "type"), "text_delta")),
            key=(("index",),),
            tail=_anthropic("text_delta", "text"),
        ),
        AnswerField(
            "anthropic.args",
            "json",
            ("delta", "partial_json"),
            when=((_TYPE, "content_block_delta"), (("delta", "type"), "input_json_delta")),
            key=(("index",),),
            tail=_anthropic("input_json_delta", "partial_json"),
        ),
    ),
    closes=(
        OutputsEnd(
            ("anthropic.text", "anthropic.args"),
            when=((_TYPE, "content_block_stop"),),
            key=(("index",),),
        ),
        OutputsEnd(("*",), when=((_TYPE, "message_stop"),)),
    ),
)

_RESPONSES_TEXT_KEY: tuple[Path, ...] = (("item_id",), ("output_index",), ("content_index",))
_RESPONSES_ARGS_KEY: tuple[Path, ...] = (("item_id",), ("output_index",))
_RESPONSES = AnswerShape(
    fields=(
        AnswerField(
            "responses.text",
            "text",
            ("delta",),
            when=((_TYPE, "response.output_text.delta"),),
            key=_RESPONSES_TEXT_KEY,
            tail=_responses_text,
        ),
        AnswerField(
            "responses.args",
            "json",
            ("delta",),
            when=((_TYPE, "response.function_call_arguments.delta"),),
            key=_RESPONSES_ARGS_KEY,
            tail=_responses_args,
        ),
    ),
    closes=(
        OutputsEnd(
            ("responses.text",),
            when=((_TYPE, "response.output_text.done"),),
            key=_RESPONSES_TEXT_KEY,
        ),
        OutputsEnd(
            ("responses.args",),
            when=((_TYPE, "response.function_call_arguments.done"),),
            key=_RESPONSES_ARGS_KEY,
        ),
        OutputsEnd(("*",), when=((_TYPE, "response.completed"),)),
    ),
    json_strings=(
        ("arguments",),
        ("item", "arguments"),
        ("output", EACH, "arguments"),
        ("response", "output", EACH, "arguments"),
    ),
)

_GEMINI = AnswerShape(
    fields=(
        AnswerField(
            "gemini.text",
            "text",
            ("candidates", EACH, "content", "parts", EACH, "text"),
            lists_in_key=1,
            tail=_gemini_text,
        ),
        AnswerField(
            "gemini.args",
            "object",
            ("candidates", EACH, "content", "parts", EACH, "functionCall", "args"),
        ),
    ),
    closes=(OutputsEnd(("gemini.text",), flag=("candidates", EACH, "finishReason")),),
)


def _is_text_path(path: str) -> bool:
    """``/message/content/parts/<n>`` or ``/message/content/text``: the message's text."""
    head, _, last = path.rpartition("/")
    if head == "/message/content/parts":
        return last.isascii() and last.isdigit()
    return path == "/message/content/text"


def chatgpt_appends(
    doc: dict[str, Any], memo: dict[str, object]
) -> tuple[list[tuple[tuple[object, ...], Any, Any]], bool]:
    """The text ``append`` operations of one ChatGPT event (``{"p", "o", "v"}``, a bare
    ``{"v"}`` continuing the last path and operation, ``{"o": "patch", "v": [...]}``), as
    ``providers.webstreams.ChatGptWebStream`` reads them; and whether it starts a new
    message (``{"p": "", "o": "add"}``, or an old-form event with a whole ``message``)."""
    found: list[tuple[tuple[object, ...], Any, Any]] = []
    if not ("v" in doc or "o" in doc or "p" in doc):
        return found, isinstance(doc.get("message"), dict)
    new_message = False
    stack: list[dict[str, Any]] = [doc]
    budget = 100_000  # operations per event: a hostile event cannot make this loop long
    while stack and budget > 0:
        budget -= 1
        operation = stack.pop()
        path = operation.get("p", memo.get("p", ""))
        op = operation.get("o", memo.get("o", "append"))
        value = operation.get("v")
        if not isinstance(path, str) or not isinstance(op, str):
            continue
        if op == "patch" and isinstance(value, list):
            stack.extend(reversed([v for v in value if isinstance(v, dict)]))
            continue
        memo["p"], memo["o"] = path, op
        if path == "" and op in ("add", "replace"):
            new_message = True
        elif op == "append" and isinstance(value, str) and _is_text_path(path):
            found.append(((path,), operation, "v"))
    return found, new_message


def _chatgpt_tail(
    key: tuple[object, ...], text: str, last: Mapping[str, object]
) -> tuple[str, object]:
    return "delta", {"p": key[0], "o": "append", "v": text}


def _claude_completion(
    key: tuple[object, ...], text: str, last: Mapping[str, object]
) -> tuple[str, object]:
    return "completion", {"type": "completion", "completion": text, "stop_reason": None}


_CHATGPT_WEB = AnswerShape(
    fields=(),
    closes=(),
    patches=PatchDeltas(
        AnswerField("chatgpt.text", "text", ("v",), tail=_chatgpt_tail), chatgpt_appends
    ),
)

_CLAUDE_WEB = AnswerShape(
    fields=(
        *_ANTHROPIC.fields,
        AnswerField(
            "claude.thinking",
            "text",
            ("delta", "thinking"),
            when=((_TYPE, "content_block_delta"), (("delta", "type"), "thinking_delta")),
            key=(("index",),),
            tail=_anthropic("thinking_delta", "thinking"),
        ),
        AnswerField("claude.completion", "text", ("completion",), tail=_claude_completion),
    ),
    closes=(
        OutputsEnd(
            ("anthropic.text", "anthropic.args", "claude.thinking"),
            when=((_TYPE, "content_block_stop"),),
            key=(("index",),),
        ),
        OutputsEnd(("*",), when=((_TYPE, "message_stop"),)),
        OutputsEnd(("claude.completion",), flag=("stop_reason",)),
    ),
)

ANSWER_SHAPES: dict[str, AnswerShape] = {
    "openai.chat_completions": _CHAT,
    "azure.chat_completions": _CHAT,
    "openai.completions": _COMPLETIONS,
    "azure.completions": _COMPLETIONS,
    "openai.responses": _RESPONSES,
    "azure.responses": _RESPONSES,
    "anthropic.messages": _ANTHROPIC,
    "gemini.stream_generate_content": _GEMINI,
    "gemini.generate_content": _GEMINI,
    "chatgpt.conversation": _CHATGPT_WEB,
    "claude.completion": _CLAUDE_WEB,
}
