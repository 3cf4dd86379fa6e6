"""Anthropic Messages API request shape (``POST /v1/messages``), also used by Bedrock invoke.

Text: ``system`` (a string or ``text`` blocks) and each message's ``content`` (a string or
blocks): ``text`` blocks, ``tool_result`` content (a string or ``text`` blocks) and
plain-text ``document`` sources. ``thinking`` blocks are left alone: they carry a signature
the API verifies. Images, tool inputs and base64 documents are not text here.
"""

from __future__ import annotations

from . import requestpath
from .adapter import Adapter, Extracted, Route
from .fields import (
    Segments,
    as_object,
    content_parts,
    model_of,
    opt_object,
    req_list,
    role_of,
    stream_of,
)
from .shapes import SegmentPath


def _text_blocks(segments: Segments, value: object, path: SegmentPath, role: str) -> None:
    """A string, or a list of blocks of which ``text`` blocks are read."""
    for j, block in content_parts(segments, value, path, role, "content", "content block"):
        if block.get("type") == "text":
            segments.add_field(block, "text", (*path, j), role)


def _document(segments: Segments, block: dict[str, object], path: SegmentPath, role: str) -> None:
    source = opt_object(block, "source")
    if source is None:
        return
    if source.get("type") == "text":
        segments.add_field(source, "data", (*path, "source"), role)
    elif source.get("type") == "content":
        _text_blocks(segments, source.get("content"), (*path, "source", "content"), role)


def _content(segments: Segments, value: object, path: SegmentPath, role: str) -> None:
    parts = content_parts(segments, value, path, role, "message content", "content block")
    for j, block in parts:
        kind = block.get("type")
        if kind == "text":
            segments.add_field(block, "text", (*path, j), role)
        elif kind == "tool_result":
            _text_blocks(segments, block.get("content"), (*path, j, "content"), "tool")
        elif kind == "document":
            _document(segments, block, (*path, j), role)


def messages_segments(doc: dict[str, object]) -> Segments:
    segments = Segments()
    _text_blocks(segments, doc.get("system"), ("system",), "system")
    for i, raw in enumerate(req_list(doc, "messages")):
        message = as_object(raw, "message")
        _content(segments, message.get("content"), ("messages", i, "content"), role_of(message))
    return segments


def extract_messages(doc: dict[str, object]) -> Extracted:
    return Extracted(messages_segments(doc).freeze(), model_of(doc), stream_of(doc))


def route(segments: tuple[str, ...]) -> Route | None:
    if requestpath.match(segments, ("v1", "messages")) is not None:
        return Route("anthropic.messages")
    return None


def extract(found: Route, doc: dict[str, object]) -> Extracted:
    return extract_messages(doc)


ADAPTER = Adapter(route, extract)
