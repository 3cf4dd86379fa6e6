"""multipart/form-data bodies (RFC 7578) read in one linear pass, within fixed bounds.

The Files APIs (OpenAI ``POST /v1/files`` and ``/v1/uploads/{id}/parts``, Anthropic
``POST /v1/files``) and Claude's web upload send a file as one part of a multipart body.
This reader finds the parts by searching for the delimiter with ``bytes.find`` (linear in
the body), reads each part's header block (at most ``MAX_PART_HEADER_BYTES``), and gives
each part's name, file name and declared type with a view of its bytes (no copy).

It never raises anything but ``MultipartError`` on what a client sent, and refuses rather
than guesses: a body without its closing delimiter, more than ``MAX_PARTS`` parts, a part
without a ``Content-Disposition: form-data`` name, or a boundary that RFC 2046 does not
allow is an error with a fixed reason (never a value from the body).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote

__all__ = ["MAX_PARTS", "FormPart", "MultipartError", "boundary_of", "parse_form"]

#: More parts than any SDK or web app sends (OpenAI's upload: 2 fields and the file).
MAX_PARTS: Final = 64
#: A part's header block; real ones are under 300 bytes.
MAX_PART_HEADER_BYTES: Final = 8 * 1024

# RFC 2046 5.1.1: 1 to 70 characters of this set, not ending with a space.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_PARAM = re.compile(
    r';\s*([A-Za-z0-9_*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))', re.ASCII | re.DOTALL
)


class MultipartError(ValueError):
    """The body is not multipart/form-data this reader accepts; ``reason`` is fixed text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class FormPart:
    """One part: its form field ``name``, the ``filename`` a file part carries (``None``
    for a plain field), the declared ``content_type`` (lower case, no parameters) and its
    bytes."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def _params(header_value: str) -> dict[str, str]:
    """``; a=b; c="d"`` parameters of a header value, names lower-cased; ``filename*``
    (RFC 5987 ``UTF-8''...``) is decoded into ``filename``."""
    out: dict[str, str] = {}
    for m in _PARAM.finditer(header_value):
        name = m.group(1).lower()
        value = m.group(2) if m.group(2) is not None else m.group(3)
        if m.group(2) is not None:
            value = re.sub(r"\\(.)", r"\1", value)
        if name.endswith("*"):
            charset, _, rest = value.partition("'")
            _, _, encoded = rest.partition("'")
            try:
                value = unquote(encoded, encoding=charset or "utf-8", errors="strict")
            except (LookupError, UnicodeDecodeError):
                continue
            name = name[:-1]
            out[name] = value  # the extended form wins over the plain one
        else:
            out.setdefault(name, value)
    return out


def boundary_of(content_type: str | None) -> str | None:
    """The boundary of a ``multipart/form-data`` Content-Type, or ``None`` when the type
    is another one or its boundary is missing or not allowed by RFC 2046."""
    if not content_type:
        return None
    main, _, rest = content_type.partition(";")
    if main.strip().lower() != "multipart/form-data":
        return None
    boundary = _params(";" + rest).get("boundary")
    if boundary is None or not _BOUNDARY.fullmatch(boundary):
        return None
    return boundary


def _headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.split(b"\r\n"):
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise MultipartError("a part header line is not 'Name: value'")
        headers[name.decode("latin-1").lower()] = value.strip().decode("utf-8", "replace")
    return headers


def _part(headers: dict[str, str], data: bytes) -> FormPart:
    disposition = headers.get("content-disposition")
    if disposition is None:
        raise MultipartError("a part has no Content-Disposition")
    kind, _, rest = disposition.partition(";")
    if kind.strip().lower() != "form-data":
        raise MultipartError("a part's Content-Disposition is not form-data")
    params = _params(";" + rest)
    name = params.get("name")
    if name is None:
        raise MultipartError("a part has no field name")
    declared = headers.get("content-type")
    media = declared.partition(";")[0].strip().lower() or None if declared else None
    return FormPart(name, params.get("filename"), media, data)


def parse_form(body: bytes, boundary: str) -> tuple[FormPart, ...]:
    """The parts of a multipart/form-data ``body`` delimited by ``boundary``."""
    if not _BOUNDARY.fullmatch(boundary):
        raise MultipartError("the multipart boundary is not valid")
    delimiter = b"--" + boundary.encode("ascii")
    # The first delimiter may follow a preamble; every later one follows a CRLF.
    start = 0 if body.startswith(delimiter) else body.find(b"\r\n" + delimiter)
    if start < 0:
        raise MultipartError("the body has no multipart delimiter")
    if start > 0:
        start += 2
    inner = b"\r\n" + delimiter
    parts: list[FormPart] = []
    pos = start + len(delimiter)
    while True:
        if body.startswith(b"--", pos):
            return tuple(parts)  # close delimiter; an epilogue after it is ignored
        # transport padding (RFC 2046: linear white space) then CRLF
        line_end = body.find(b"\r\n", pos, pos + 256)
        if line_end < 0 or body[pos:line_end].strip(b" \t"):
            raise MultipartError("a multipart delimiter is not followed by a line break")
        if len(parts) == MAX_PARTS:
            raise MultipartError(f"the body has more than {MAX_PARTS} parts")
        head_start = line_end + 2
        if body.startswith(b"\r\n", head_start):
            head_end, data_start = head_start, head_start + 2  # a part without headers
        else:
            head_end = body.find(b"\r\n\r\n", head_start, head_start + MAX_PART_HEADER_BYTES)
            if head_end < 0:
                raise MultipartError("a part's headers do not end within the bound")
            data_start = head_end + 4
        next_delim = body.find(inner, data_start)
        if next_delim < 0:
            raise MultipartError("the body ends before its closing delimiter")
        headers = _headers(body[head_start:head_end])
        parts.append(_part(headers, body[data_start:next_delim]))
        pos = next_delim + len(inner)
