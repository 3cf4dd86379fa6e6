"""Amazon Bedrock runtime request shapes: Converse, ConverseStream, InvokeModel and
InvokeModelWithResponseStream on ``/model/{modelId}/...`` (the model id, often an ARN,
is percent-decoded).

Bodies signed with AWS Signature Version 4 are NOT rewritable: SigV4 signs the SHA-256
of the body (``x-amz-content-sha256`` / the canonical request), so changing one character
of a prompt makes Bedrock reject the request. Redaction must block such a request
instead of rewriting it. Only a request authenticated with a Bedrock API key
(``Authorization: Bearer ...``) carries no signature over the body and is rewritable.

Converse text: ``system[].text``, ``messages[].content[].text``, tool results' text and
guard-content text. InvokeModel bodies are the model's own format: the Anthropic Messages
shape (``anthropic_version``), a messages list (Amazon Nova, Mistral chat), or a single
``prompt`` (Llama, Mistral, Claude text completions), ``inputText`` (Titan), ``message``
(Cohere Command) or ``texts`` (Cohere Embed).
"""

from __future__ import annotations

from collections.abc import Mapping

from . import anthropic
from .adapter import Adapter, Extracted, Route
from .fields import Segments, ShapeError, as_object, opt_list, opt_object, req_list, role_of
from .shapes import SegmentPath

_ACTIONS = {
    "converse": ("bedrock.converse", False),
    "converse-stream": ("bedrock.converse_stream", True),
    "invoke": ("bedrock.invoke", False),
    "invoke-with-response-stream": ("bedrock.invoke_stream", True),
}


def route(segments: tuple[str, ...]) -> Route | None:
    if len(segments) < 3 or segments[0].lower() != "model":
        return None
    found = _ACTIONS.get(segments[-1].lower())
    if found is None:
        return None
    # An unencoded "/" in an ARN splits the id over several segments; rejoin them.
    return Route(found[0], model="/".join(segments[1:-1]), stream=found[1])


def signed_body(headers: Mapping[str, str]) -> bool:
    for name, value in headers.items():
        if name.lower() == "authorization":
            return not value.strip().lower().startswith("bearer ")
    return True  # no Authorization header: assume SigV4 (e.g. in the query string)


def _guard(segments: Segments, block: dict[str, object], path: SegmentPath, role: str) -> None:
    guard = opt_object(block, "guardContent")
    text = opt_object(guard, "text") if guard is not None else None
    if text is not None:
        segments.add_field(text, "text", (*path, "guardContent", "text"), role)


def _blocks(segments: Segments, blocks: list[object], path: SegmentPath, role: str) -> None:
    for j, raw in enumerate(blocks):
        block = as_object(raw, "content block")
        segments.add_field(block, "text", (*path, j), role)
        _guard(segments, block, (*path, j), role)
        result = opt_object(block, "toolResult")
        if result is not None:
            for k, raw_item in enumerate(opt_list(result, "content") or ()):
                item = as_object(raw_item, "tool result content")
                segments.add_field(item, "text", (*path, j, "toolResult", "content", k), "tool")


def _converse(doc: dict[str, object], *, allow_string_content: bool) -> Segments:
    segments = Segments()
    _blocks(segments, opt_list(doc, "system") or [], ("system",), "system")
    for i, raw in enumerate(req_list(doc, "messages")):
        message = as_object(raw, "message")
        role = role_of(message)
        content = message.get("content")
        if isinstance(content, str) and allow_string_content:
            segments.add(("messages", i, "content"), role, content)
        elif isinstance(content, list):
            _blocks(segments, content, ("messages", i, "content"), role)
        elif content is not None:
            raise ShapeError("message content is not a list")
    return segments


def _invoke(doc: dict[str, object]) -> Segments:
    if "anthropic_version" in doc:
        return anthropic.messages_segments(doc)
    if "messages" in doc:
        return _converse(doc, allow_string_content=True)
    segments = Segments()
    for key, role in (("prompt", "user"), ("inputText", "user"), ("message", "user")):
        segments.add_field(doc, key, (), role)
    texts = opt_list(doc, "texts")
    for i, text in enumerate(texts or ()):
        if not isinstance(text, str):
            raise ShapeError("texts holds a non-string")
        segments.add(("texts", i), "input", text)
    if not segments and texts is None:
        raise ShapeError("unrecognized model request body")
    return segments


def extract(found: Route, doc: dict[str, object]) -> Extracted:
    if found.api in ("bedrock.converse", "bedrock.converse_stream"):
        segments = _converse(doc, allow_string_content=False)
    else:
        segments = _invoke(doc)
    return Extracted(segments.freeze(), found.model, found.stream)


ADAPTER = Adapter(route, extract, signed_body=signed_body)
