"""OpenAI API request shapes: chat completions, responses, embeddings, legacy completions.

Text is what a person, a system prompt or a tool put into the request: message content
(strings or ``text``/``refusal`` parts), tool-call arguments the client sends back,
``prediction`` content, Responses ``instructions``, input items and prompt-template
variables, embedding inputs and completion prompts. Images, audio and files are not text
here. Token-id arrays (embeddings, legacy completions) carry no readable text and give no
segments.
"""

from __future__ import annotations

from collections.abc import Callable

from . import requestpath
from .adapter import Adapter, Extracted, Route
from .fields import (
    Segments,
    ShapeError,
    as_object,
    content_parts,
    model_of,
    opt_list,
    opt_object,
    req_list,
    role_of,
    stream_of,
)
from .shapes import SegmentPath


def _content(segments: Segments, value: object, path: SegmentPath, role: str) -> None:
    """Chat content: a string, or a list of parts of which ``text``/``refusal`` are text."""
    parts = content_parts(segments, value, path, role, "message content", "content part")
    for j, part in parts:
        kind = part.get("type")
        if kind in ("text", "input_text", "output_text"):
            segments.add_field(part, "text", (*path, j), role)
        elif kind == "refusal":
            segments.add_field(part, "refusal", (*path, j), role)


def extract_chat(doc: dict[str, object]) -> Extracted:
    segments = Segments()
    for i, raw in enumerate(req_list(doc, "messages")):
        message = as_object(raw, "message")
        role = role_of(message)
        _content(segments, message.get("content"), ("messages", i, "content"), role)
        for k, raw_call in enumerate(opt_list(message, "tool_calls") or ()):
            function = opt_object(as_object(raw_call, "tool call"), "function")
            if function is not None:
                path: SegmentPath = ("messages", i, "tool_calls", k, "function")
                segments.add_field(function, "arguments", path, "assistant")
    prediction = opt_object(doc, "prediction")
    if prediction is not None:
        _content(segments, prediction.get("content"), ("prediction", "content"), "user")
    return Extracted(segments.freeze(), model_of(doc), stream_of(doc))


def _input_item(segments: Segments, item: dict[str, object], i: int) -> None:
    kind = item.get("type")
    if kind in (None, "message"):
        role = role_of(item)
        _content(segments, item.get("content"), ("input", i, "content"), role)
    elif kind in ("function_call_output", "custom_tool_call_output"):
        _content(segments, item.get("output"), ("input", i, "output"), "tool")
    elif kind == "function_call":
        segments.add_field(item, "arguments", ("input", i), "assistant")
    elif kind == "custom_tool_call":
        segments.add_field(item, "input", ("input", i), "assistant")


def extract_responses(doc: dict[str, object]) -> Extracted:
    segments = Segments()
    segments.add_field(doc, "instructions", (), "system")
    items = content_parts(segments, doc.get("input"), ("input",), "user", "input", "input item")
    for i, item in items:
        _input_item(segments, item, i)
    prompt = opt_object(doc, "prompt")
    variables = opt_object(prompt, "variables") if prompt is not None else None
    for name, variable in (variables or {}).items():
        if isinstance(variable, str):
            segments.add(("prompt", "variables", name), "user", variable)
    return Extracted(segments.freeze(), model_of(doc), stream_of(doc))


def _strings(segments: Segments, doc: dict[str, object], key: str, role: str) -> None:
    """A string, or a list of strings; token ids (ints, lists of ints) give no text."""
    value = doc.get(key)
    if isinstance(value, str):
        segments.add((key,), role, value)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, str):
                segments.add((key, i), role, item)
            elif not isinstance(item, int | list):
                raise ShapeError(f"{key} holds neither strings nor token ids")
    elif value is not None:
        raise ShapeError(f"{key} is neither a string nor a list")


def extract_embeddings(doc: dict[str, object]) -> Extracted:
    segments = Segments()
    if doc.get("input") is None:
        raise ShapeError("missing input")
    _strings(segments, doc, "input", "input")
    return Extracted(segments.freeze(), model_of(doc), False)


def extract_completions(doc: dict[str, object]) -> Extracted:
    segments = Segments()
    _strings(segments, doc, "prompt", "user")
    segments.add_field(doc, "suffix", (), "user")
    return Extracted(segments.freeze(), model_of(doc), stream_of(doc))


#: Body readers by the part of the api id after the family ("openai.<kind>").
EXTRACTORS: dict[str, Callable[[dict[str, object]], Extracted]] = {
    "chat_completions": extract_chat,
    "responses": extract_responses,
    "embeddings": extract_embeddings,
    "completions": extract_completions,
}

_ROUTES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("v1", "chat", "completions"), "openai.chat_completions"),
    (("v1", "responses"), "openai.responses"),
    (("v1", "embeddings"), "openai.embeddings"),
    (("v1", "completions"), "openai.completions"),
)


def route(segments: tuple[str, ...]) -> Route | None:
    for pattern, api in _ROUTES:
        if requestpath.match(segments, pattern) is not None:
            return Route(api)
    return None


def extract(found: Route, doc: dict[str, object]) -> Extracted:
    return EXTRACTORS[found.api.split(".", 1)[1]](doc)


ADAPTER = Adapter(route, extract)
