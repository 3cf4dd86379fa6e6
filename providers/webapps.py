"""Request shapes of the LLM web apps: ChatGPT, Claude and Gemini (private APIs, best effort).

These are the endpoints the apps' own pages call; they change without notice, so an
unrecognized body is reported unparsed rather than guessed at. Answers always stream.

- ChatGPT: ``POST /backend-api/conversation`` and ``/backend-api/f/conversation`` (also
  ``/backend-anon/...`` for signed-out use). ``messages[].content.parts[]``: strings, and
  objects (``image_asset_pointer``, file references, ``audio_transcription``) every
  string of which is scanned; ``messages[].content.text``; ``messages[].metadata``
  (``attachments[]`` names and ids) every string scanned. The role in
  ``messages[].author.role``, ``model`` (``auto`` resolves through ``webmodels.py``).
- Claude: ``POST /api/organizations/{org}/chat_conversations/{conv}/completion`` and
  ``/retry_completion``. ``prompt``, ``attachments[].extracted_content`` (text the page
  extracted from an uploaded file), ``personalized_styles[]`` (the style's ``prompt`` and
  examples), ``tools[]`` (MCP tool definitions the page sends: names, descriptions,
  schemas) and ``sync_sources`` (connected documents), every string of the last three
  scanned; ``model`` when the user picked one (else ``claude-web:default``).
- Gemini: ``POST /_/BardChatUi/data/assistant.lamda.BardFrontendService/StreamGenerate``,
  a form body whose ``f.req`` field is the JSON ``[null, "<inner JSON>"]``; the prompt is
  ``inner[0][0]``, so its segment path is ``("f.req", 1, "<json>", 0, 0)`` (see
  ``shapes.JSON_STRING``). The model is named by the header
  ``x-goog-ext-525001261-jspb`` (``webmodels.gemini_web_model``).

Shapes as replayed by public clients: acheong08/ChatGPT (``src/revChatGPT/V1.py``),
st1vms/unofficial-claude-api (``claude_api/client.py``), HanaokaYuzu/Gemini-API
(``src/gemini_webapi/client.py``, ``constants.py``).
"""

from __future__ import annotations

from . import requestpath
from .adapter import Adapter, Extracted, Route
from .fields import (
    Segments,
    ShapeError,
    as_object,
    model_of,
    opt_list,
    opt_object,
    req_list,
    role_of,
)
from .jsonbody import BodyError, loads
from .requestpath import ANY
from .shapes import JSON_STRING, TextSegment
from .webmodels import chatgpt_model, claude_web_model, gemini_web_model

#: A request part read string by string (styles, MCP tools, object parts) may hold at
#: most this many strings in all; more and the body is not read (refused as unparsed).
MAX_PART_STRINGS = 20_000

CHATGPT_API = "chatgpt.conversation"
CLAUDE_API = "claude.completion"
GEMINI_WEB_API = "gemini_web.stream_generate"

#: The Gemini app's form field that holds the request.
GEMINI_WEB_FIELD = "f.req"

#: Apis whose body is form-encoded; the first step of a segment path is the field name.
FORM_APIS = frozenset({GEMINI_WEB_API})


def _chatgpt_route(segments: tuple[str, ...]) -> Route | None:
    for root in ("backend-api", "backend-anon"):
        for pattern in ((root, "conversation"), (root, "f", "conversation")):
            if requestpath.match(segments, pattern) is not None:
                return Route(CHATGPT_API, stream=True)
    return None


def _chatgpt_extract(found: Route, doc: dict[str, object]) -> Extracted:
    segments = Segments()
    for i, raw in enumerate(req_list(doc, "messages")):
        message = as_object(raw, "message")
        author = opt_object(message, "author")
        role = role_of(author) if author is not None else "user"
        content = opt_object(message, "content")
        if content is None:
            continue
        segments.add_field(content, "text", ("messages", i, "content"), role)
        for j, part in enumerate(opt_list(content, "parts") or ()):
            at = ("messages", i, "content", "parts", j)
            if isinstance(part, str):
                segments.add(at, role, part)
            elif isinstance(part, dict):  # image_asset_pointer, file refs: any text in them
                segments.add_strings(part, at, role, MAX_PART_STRINGS)
        metadata = opt_object(message, "metadata")
        if metadata is not None:  # attachments[] (names, ids), other client data
            segments.add_strings(metadata, ("messages", i, "metadata"), role, MAX_PART_STRINGS)
    return Extracted(segments.freeze(), model_of(doc), True)


def _claude_route(segments: tuple[str, ...]) -> Route | None:
    for action in ("completion", "retry_completion"):
        pattern = ("api", "organizations", ANY, "chat_conversations", ANY, action)
        if requestpath.match(segments, pattern) is not None:
            return Route(CLAUDE_API, stream=True)
    return None


def _claude_extract(found: Route, doc: dict[str, object]) -> Extracted:
    segments = Segments()
    segments.add_field(doc, "prompt", (), "user")
    for i, raw in enumerate(opt_list(doc, "attachments") or ()):
        attachment = as_object(raw, "attachment")
        segments.add_field(attachment, "extracted_content", ("attachments", i), "user")
    for name, role in (("personalized_styles", "system"), ("tools", "system")):
        value = opt_list(doc, name)
        if value is not None:
            segments.add_strings(value, (name,), role, MAX_PART_STRINGS)
    if "sync_sources" in doc:
        segments.add_strings(doc["sync_sources"], ("sync_sources",), "user", MAX_PART_STRINGS)
    return Extracted(segments.freeze(), model_of(doc), True)


_GEMINI_PATH = (
    "_",
    "bardchatui",
    "data",
    "assistant.lamda.bardfrontendservice",
    "streamgenerate",
)


def _gemini_route(segments: tuple[str, ...]) -> Route | None:
    if requestpath.match(segments, _GEMINI_PATH) is not None:
        return Route(GEMINI_WEB_API, stream=True)
    return None


def _gemini_extract(found: Route, doc: dict[str, object]) -> Extracted:
    outer = doc.get(GEMINI_WEB_FIELD)
    if not isinstance(outer, list) or len(outer) < 2 or not isinstance(outer[1], str):
        raise ShapeError("f.req is not [null, <JSON string>]")
    try:
        inner = loads(outer[1])
    except BodyError as exc:
        raise ShapeError(f"f.req inner request: {exc.reason}") from None
    first = inner[0] if isinstance(inner, list) and inner else None
    if not isinstance(first, list) or not first or not isinstance(first[0], str):
        raise ShapeError("f.req inner request has no prompt")
    segments = Segments()
    segments.add((GEMINI_WEB_FIELD, 1, JSON_STRING, 0, 0), "user", first[0])
    return Extracted(segments.freeze(), None, True)


#: At most this many file references are named in a record.
MAX_FILE_REFS = 8


def file_references(segments: tuple[TextSegment, ...]) -> tuple[str, ...]:
    """The files a ChatGPT message points at (``image_asset_pointer`` and other object
    parts' ``asset_pointer``, ``metadata.attachments[].id``), in order, without repeats,
    so that the conversation's record names the uploads it uses (ids, never content)."""
    refs: dict[str, None] = {}
    for s in segments:
        path = s.path
        if (
            path
            and path[0] == "messages"
            and (
                path[-1] == "asset_pointer"
                or (len(path) >= 4 and path[-3] == "attachments" and path[-1] == "id")
            )
        ):
            refs[s.text] = None
            if len(refs) >= MAX_FILE_REFS:
                break
    return tuple(refs)


CHATGPT = Adapter(
    _chatgpt_route, _chatgpt_extract, resolve_model=lambda model, _: chatgpt_model(model)
)
CLAUDE = Adapter(
    _claude_route, _claude_extract, resolve_model=lambda model, _: claude_web_model(model)
)
GEMINI = Adapter(
    _gemini_route,
    _gemini_extract,
    form_fields=(GEMINI_WEB_FIELD,),
    resolve_model=lambda _, headers: gemini_web_model(headers),
)
