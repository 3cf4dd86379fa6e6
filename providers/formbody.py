"""Form-encoded request bodies (``application/x-www-form-urlencoded``): reading one field and
replacing it while every other byte of the body stays as the client sent it."""

from __future__ import annotations

from urllib.parse import quote_plus, unquote_plus

from .jsonbody import BodyError, decode_utf8


def _unquote(raw: str) -> str:
    try:
        return unquote_plus(raw, errors="strict")
    except UnicodeDecodeError:
        raise BodyError("form body is malformed") from None


def _index(pairs: list[str], name: str) -> int:
    found = [i for i, pair in enumerate(pairs) if _unquote(pair.partition("=")[0]) == name]
    if not found:
        raise BodyError(f"form field {name} is missing")
    if len(found) > 1:
        raise BodyError(f"form field {name} is repeated")
    return found[0]


def field(body: bytes, name: str) -> str:
    """The decoded value of the one field called ``name``; ``BodyError`` if absent or repeated."""
    pairs = decode_utf8(body).split("&")
    return _unquote(pairs[_index(pairs, name)].partition("=")[2])


def replace_field(body: bytes, name: str, value: str) -> bytes:
    """``body`` with the value of field ``name`` replaced by ``value`` (form-encoded)."""
    pairs = decode_utf8(body).split("&")
    i = _index(pairs, name)
    raw_key = pairs[i].partition("=")[0]
    pairs[i] = f"{raw_key}={quote_plus(value, safe='')}"
    return "&".join(pairs).encode("utf-8")
