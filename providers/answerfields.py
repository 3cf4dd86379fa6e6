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

A new answer format (the web apps' answers, WebSocket events) plugs in by adding its
rows here; the restorer has no per-provider code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

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


@dataclass(frozen=True, slots=True)
class AnswerShape:
    fields: tuple[AnswerField, ...]
    closes: tuple[OutputsEnd, ...]
    json_strings: tuple[Path, ...] = ()


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
}
