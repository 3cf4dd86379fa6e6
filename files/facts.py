"""File facts: what an uploaded file is (sniffed from its bytes), how big, its SHA-256.

The type is decided by the bytes, never by the name or the declared type alone: a
``.txt`` that starts with ``%PDF-`` is a PDF, a ``report.pdf`` that is a ZIP of Word
parts is a DOCX. Name and declared type only refine text (Markdown, CSV, JSON are all
text). Every kind has a short name that policy uses (``blocked_types: [pdf, archive]``):

========== ========================================================================
kind       what
========== ========================================================================
text       UTF-8 (or UTF-16 with a byte order mark) text without NUL bytes
markdown   text named ``.md``/``.markdown`` or declared ``text/markdown``
csv        text named ``.csv``/``.tsv`` or declared ``text/csv``
json       text named ``.json``/``.jsonl`` or declared JSON, or that starts with { or [
pdf        ``%PDF-`` within the first KiB
docx       a ZIP holding ``word/document.xml``
xlsx       a ZIP holding ``xl/workbook.xml``
pptx       a ZIP holding ``ppt/presentation.xml``
image      PNG, JPEG, GIF, WebP, BMP, TIFF
archive    ZIP (other), gzip, bzip2, xz, 7-Zip, RAR, tar
ole        legacy Office and other OLE2 compound files (.doc, .xls, .ppt, .msg)
binary     anything else
========== ========================================================================

Text is extracted from the first eight kinds (``INSPECTED_KINDS``); the others are
recorded and decided by policy (``uploads.unreadable``). Reading the ZIP directory to
tell DOCX from XLSX costs one pass over the central directory, bounded by its size.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from typing import Final, Literal, get_args

type FileKind = Literal[
    "text",
    "markdown",
    "csv",
    "json",
    "pdf",
    "docx",
    "xlsx",
    "pptx",
    "image",
    "archive",
    "ole",
    "binary",
]

FILE_KINDS: Final[tuple[FileKind, ...]] = get_args(FileKind.__value__)
TEXT_KINDS: Final[frozenset[FileKind]] = frozenset({"text", "markdown", "csv", "json"})
OFFICE_KINDS: Final[frozenset[FileKind]] = frozenset({"docx", "xlsx", "pptx"})
#: The kinds whose text is extracted and scanned.
INSPECTED_KINDS: Final[frozenset[FileKind]] = TEXT_KINDS | OFFICE_KINDS | {"pdf"}

MEDIA_TYPES: Final[dict[FileKind, str]] = {
    "text": "text/plain",
    "markdown": "text/markdown",
    "csv": "text/csv",
    "json": "application/json",
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "image": "image/*",
    "archive": "application/zip",
    "ole": "application/x-ole-storage",
    "binary": "application/octet-stream",
}

#: How much of a file is looked at to tell text from binary.
TEXT_SAMPLE: Final = 64 * 1024
#: A ZIP's central directory with more entries than this is not looked into (an
#: archive of 65,535 one-byte files is a classic way to exhaust a reader).
MAX_SNIFF_ENTRIES: Final = 20_000

_IMAGES: Final = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)
_ARCHIVES: Final = (
    (b"\x1f\x8b", "application/gzip"),
    (b"BZh", "application/x-bzip2"),
    (b"\xfd7zXZ\x00", "application/x-xz"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"Rar!\x1a\x07", "application/vnd.rar"),
)
_OLE: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_SUFFIXES: Final[dict[str, FileKind]] = {
    "md": "markdown",
    "markdown": "markdown",
    "csv": "csv",
    "tsv": "csv",
    "json": "json",
    "jsonl": "json",
}
_DECLARED: Final[dict[str, FileKind]] = {
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/csv": "csv",
    "text/tab-separated-values": "csv",
    "application/json": "json",
    "application/x-ndjson": "json",
}


@dataclass(frozen=True, slots=True)
class FileFacts:
    """What the audit record says of one file: never its content."""

    name: str | None
    kind: FileKind
    media_type: str
    declared_type: str | None
    size: int
    sha256: str | None  # None for an announcement (the bytes come in another request)
    partial: bool = False


def sniff(
    data: bytes, name: str | None = None, declared: str | None = None
) -> tuple[FileKind, str]:
    """The kind and media type of ``data`` (see the module's table)."""
    head = data[:1024]
    if b"%PDF-" in head:
        return "pdf", MEDIA_TYPES["pdf"]
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        kind = _zip_kind(data)
        return kind, MEDIA_TYPES[kind]
    if data.startswith(_OLE):
        return "ole", MEDIA_TYPES["ole"]
    for magic, media in _IMAGES:
        if data.startswith(magic):
            return "image", media
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image", "image/webp"
    for magic, media in _ARCHIVES:
        if data.startswith(magic):
            return "archive", media
    if len(data) > 262 and data[257:262] == b"ustar":
        return "archive", "application/x-tar"
    if not _looks_like_text(data[:TEXT_SAMPLE]):
        return "binary", MEDIA_TYPES["binary"]
    kind = _text_kind(data, name, declared)
    return kind, MEDIA_TYPES[kind]


def zip_entries(data: bytes) -> list[zipfile.ZipInfo] | None:
    """The entries of a ZIP's central directory (names, sizes, flags; nothing is
    unpacked), or ``None`` for bytes that are no readable ZIP. A client chooses these bytes,
    so every way ``zipfile`` fails on a damaged directory counts as "not readable":
    ``BadZipFile`` (no or a bad end record), ``EOFError``/``OSError`` (truncated reads),
    ``ValueError`` (impossible offsets or sizes), ``NotImplementedError`` (a multi-disk
    or otherwise unsupported archive)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        return None


def _zip_kind(data: bytes) -> FileKind:
    infos = zip_entries(data)
    if infos is None or len(infos) > MAX_SNIFF_ENTRIES:
        return "archive"
    names = {info.filename for info in infos}
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "ppt/presentation.xml" in names:
        return "pptx"
    return "archive"


def decode_text(data: bytes) -> str | None:
    """``data`` as text (UTF-8, or UTF-16/32 with a byte order mark); ``None`` if it is
    not. A sample cut in the middle of a character still counts as UTF-8."""
    for bom, codec in (
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                return None
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 3 and exc.reason == "unexpected end of data":
            return data[: exc.start].decode("utf-8")
        return None


def _looks_like_text(sample: bytes) -> bool:
    return decode_text(sample) is not None


def _text_kind(data: bytes, name: str | None, declared: str | None) -> FileKind:
    if declared:
        kind = _DECLARED.get(declared.partition(";")[0].strip().lower())
        if kind is not None:
            return kind
    if name and "." in name:
        kind = _SUFFIXES.get(name.rsplit(".", 1)[1].strip().lower())
        if kind is not None:
            return kind
    start = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if start[:1] in (b"{", b"["):
        return "json"
    return "text"


def file_facts(
    data: bytes | None,
    name: str | None,
    declared: str | None,
    declared_size: int | None = None,
    *,
    partial: bool = False,
) -> FileFacts:
    """The facts of one file: sniffed type, size and SHA-256 of ``data``; for an
    announcement (``data is None``) the declared size and a type from the name only."""
    if data is None:
        kind: FileKind = _announced_kind(name, declared)
        return FileFacts(
            name, kind, declared or MEDIA_TYPES[kind], declared, declared_size or 0, None
        )
    kind, media = sniff(data, name, declared)
    digest = hashlib.sha256(data).hexdigest()
    return FileFacts(name, kind, media, declared, len(data), digest, partial)


_SUFFIX_KINDS: Final[dict[str, FileKind]] = {
    **_SUFFIXES,
    "txt": "text",
    "pdf": "pdf",
    "docx": "docx",
    "xlsx": "xlsx",
    "pptx": "pptx",
    "png": "image",
    "jpg": "image",
    "jpeg": "image",
    "gif": "image",
    "webp": "image",
    "zip": "archive",
    "gz": "archive",
    "7z": "archive",
    "rar": "archive",
    "doc": "ole",
    "xls": "ole",
    "ppt": "ole",
}


def _announced_kind(name: str | None, declared: str | None) -> FileKind:
    """An announced file's kind by its name (the bytes are not here yet): used to refuse
    a blocked type early; the bytes are sniffed again when they come."""
    if name and "." in name:
        kind = _SUFFIX_KINDS.get(name.rsplit(".", 1)[1].strip().lower())
        if kind is not None:
            return kind
    if declared:
        for kind, media in MEDIA_TYPES.items():
            if media == declared:
                return kind
    return "binary"
