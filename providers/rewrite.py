"""Rewriting request text in place: the strings at segment paths get new values and the body
is encoded again, every other field keeping its value.

JSON bodies come out compact (``separators=(",", ":")``), UTF-8, non-ASCII characters
unescaped, as the SDKs send them. A form body (Gemini's web app) keeps every other field
byte for byte; the JSON inside ``f.req`` and the JSON string inside that are re-encoded.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import formbody, jsonbody
from .companions import FORM_COMPANION_APIS
from .jsonbody import BodyError
from .shapes import ParsedRequest, SegmentPath
from .webapps import FORM_APIS


def rewrite_request(
    parsed_or_api: ParsedRequest | str,
    body: bytes,
    replacements: Mapping[SegmentPath, str],
) -> bytes:
    """``body`` with ``replacements`` (segment path -> new text) applied.

    Given a ``ParsedRequest``, refuses requests that were not parsed or are not
    rewritable (signed bodies: block those instead). Given an api id, trusts the caller.
    Raises ``ValueError`` naming the path when a path does not point at a string.
    """
    if isinstance(parsed_or_api, ParsedRequest):
        if not parsed_or_api.parsed or parsed_or_api.api is None:
            raise ValueError(
                "cannot rewrite a request whose text was not parsed "
                f"({parsed_or_api.unparsed_reason}); block it instead"
            )
        if not parsed_or_api.rewritable:
            raise ValueError(
                f"the body of this {parsed_or_api.api} request is signed and cannot be "
                "changed without breaking the signature; block it instead"
            )
        api = parsed_or_api.api
    else:
        api = parsed_or_api
    for path, text in replacements.items():
        if not isinstance(text, str):
            raise ValueError(f"the replacement for segment path {path!r} is not a string")
    if not replacements:
        return body
    try:
        if api in FORM_APIS or api in FORM_COMPANION_APIS:
            return _rewrite_form(body, replacements)
        doc: object = jsonbody.load_object(body)
        for path, text in replacements.items():
            doc = _set(doc, path, text)
        return jsonbody.encode(doc)
    except BodyError as exc:
        raise ValueError(f"cannot rewrite the {api} body: {exc.reason}") from None


def _set(doc: object, path: SegmentPath, text: str, shown: SegmentPath | None = None) -> object:
    try:
        return jsonbody.set_at(doc, path, text)
    except ValueError as exc:
        raise ValueError(
            f"segment path {shown or path!r} {exc}; rewrite only the paths parse_request reported"
        ) from None


def _rewrite_form(body: bytes, replacements: Mapping[SegmentPath, str]) -> bytes:
    by_field: dict[str, list[tuple[SegmentPath, str]]] = {}
    for path, text in replacements.items():
        if not path or not isinstance(path[0], str):
            raise ValueError(f"segment path {path!r} does not start with a form field name")
        by_field.setdefault(path[0], []).append((path, text))
    for name, items in by_field.items():
        doc = jsonbody.loads(formbody.field(body, name))
        for path, text in items:
            doc = _set(doc, path[1:], text, shown=path)
        body = formbody.replace_field(body, name, jsonbody.dumps(doc))
    return body
