"""Decoding untrusted JSON bodies safely, and reading or replacing a string at a segment path.

Decoding refuses what a lenient parser would guess at, because the upstream server might
guess differently and then see text we never inspected: bodies that are not UTF-8,
bodies over ``MAX_BODY_BYTES``, and objects with a repeated key (Python keeps the last
value, some servers the first). Nesting deeper than the interpreter's recursion limit is
refused too instead of crashing the caller.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from .shapes import JSON_STRING, SegmentPath

#: Larger request bodies are not parsed (images inline as base64 stay well below this).
MAX_BODY_BYTES = 32 * 1024 * 1024


class BodyError(ValueError):
    """A body that cannot be decoded. ``reason`` is a fixed phrase without body content."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _DuplicateKeyError(Exception):
    pass


def _object_without_repeats(pairs: list[tuple[str, object]]) -> dict[str, object]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateKeyError
    return obj


# One decoder for every body: json.loads with a hook builds a new decoder on each call.
_DECODER = json.JSONDecoder(object_pairs_hook=_object_without_repeats)


def loads(text: str) -> object:
    """``json.loads`` for untrusted text; raises ``BodyError``."""
    return _decode(_DECODER.decode, text)


def loads_answer(text: str) -> object:
    """``json.loads`` for a provider's answer, read for its usage only; raises ``BodyError``.

    Unlike requests, answers are not checked for repeated keys: nothing we read from them
    is inspected for policy, and a repeat could only change a usage count, where we take
    the last value as the client's own JSON parser does. The plain C decoder is several
    times faster on the per-answer path.
    """
    return _decode(json.loads, text)


def _decode(decode: Callable[[str], object], text: str) -> object:
    try:
        return decode(text)
    except _DuplicateKeyError:
        raise BodyError("duplicate JSON key") from None
    except RecursionError:
        raise BodyError("body nesting too deep") from None
    except (ValueError, TypeError):
        raise BodyError("body is not valid JSON") from None


def decode_utf8(body: bytes) -> str:
    if len(body) > MAX_BODY_BYTES:
        raise BodyError("body too large")
    if not body:
        raise BodyError("empty body")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError("body is not valid UTF-8") from None


def load_object(body: bytes) -> dict[str, object]:
    """The JSON object a request body holds; raises ``BodyError``."""
    doc = loads(decode_utf8(body))
    if not isinstance(doc, dict):
        raise BodyError("body is not a JSON object")
    return doc


def dumps(doc: object) -> str:
    """Compact JSON as the SDKs send it, non-ASCII characters as they are; all ``\\u``
    escapes if a lone surrogate (a client's ``\\ud800``) has no UTF-8 form, so that the
    text can always be encoded again (a form field, an outer JSON level)."""
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(doc, ensure_ascii=True, separators=(",", ":"))
    return text


def encode(doc: object) -> bytes:
    """``dumps`` as UTF-8; falls back to ``\\u`` escapes for lone surrogates (not UTF-8)."""
    try:
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(doc, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _step(node: object, key: str | int) -> object:
    if isinstance(node, dict) and isinstance(key, str) and key in node:
        return node[key]
    if (
        isinstance(node, list)
        and isinstance(key, int)
        and not isinstance(key, bool)
        and 0 <= key < len(node)
    ):
        return node[key]
    raise LookupError


def get_at(doc: object, path: SegmentPath) -> object:
    """The value at ``path`` (``JSON_STRING`` steps decode); ``LookupError`` if absent."""
    node = doc
    for key in path:
        if key == JSON_STRING and isinstance(node, str):
            try:
                node = loads(node)
            except BodyError:
                raise LookupError from None
        else:
            node = _step(node, key)
    return node


def set_at(doc: object, path: SegmentPath, text: str) -> object:
    """``doc`` with the string at ``path`` replaced by ``text``; returns the new root.

    Containers are changed in place; a ``JSON_STRING`` level is decoded, changed and
    serialized again with ``dumps``. Raises ``ValueError`` if ``path`` does not lead to a
    string.
    """
    if not path:
        if not isinstance(doc, str):
            raise ValueError("does not point at a string")
        return text
    key, rest = path[0], path[1:]
    if key == JSON_STRING and isinstance(doc, str):
        try:
            inner = loads(doc)
        except BodyError:
            raise ValueError("does not point at a JSON string") from None
        return dumps(set_at(inner, rest, text))
    try:
        child = _step(doc, key)
    except LookupError:
        raise ValueError("does not exist in the body") from None
    new_child = set_at(child, rest, text)
    if isinstance(doc, dict | list):
        doc[key] = new_child  # type: ignore[index]  # _step checked key against doc
    return doc
