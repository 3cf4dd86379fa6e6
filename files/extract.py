"""Text out of an uploaded file, within bounds, or a clear reason why not.

Plain text, Markdown, CSV and JSON are decoded; PDF is read with pypdf, DOCX with
python-docx, XLSX with openpyxl (read-only, values only) and PPTX with python-pptx.
Everything here is CPU-bound and runs in the DLP worker processes (``filescan``), never
on the event loop; the pool's timeout bounds its time (a stuck worker is killed).

What a file can do to its reader is bounded before the library sees it:

- Office files are ZIP archives: before opening one, its central directory is checked
  (``check_archive``): at most ``max_entries`` entries, their declared sizes summing to
  at most ``max_unpacked_bytes``, no entry expanding more than ``MAX_RATIO`` times, no
  encrypted entry. Python's zipfile stops each entry at its declared size and checks its
  CRC, so a member cannot unpack to more than the directory says.
- pypdf bounds each stream's decoded size itself (75 MB) and its object counts.
- The extracted text stops at ``max_chars``; a file with more text is refused rather than
  half-checked.

``Unreadable`` carries a fixed sentence (never file content) for the audit record and
the user: an encrypted PDF, a malformed file, an archive bomb, too much text.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from .facts import OFFICE_KINDS, TEXT_KINDS, FileKind, decode_text, zip_entries

__all__ = ["ExtractLimits", "Unreadable", "check_archive", "extract_text"]

#: An entry that expands more than this many times is a bomb, not a document (XML in a
#: real DOCX/XLSX compresses 5-20 times; a sheet of one repeated value ~100 times).
MAX_RATIO: Final = 250
#: Below this size a ratio says nothing (tiny entries compress oddly).
RATIO_FLOOR: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ExtractLimits:
    """Bounds on one file's extraction (``dlp.files`` in the config)."""

    max_chars: int = 2_000_000
    max_unpacked_bytes: int = 256 * 1024 * 1024
    max_entries: int = 10_000


class Unreadable(Exception):
    """The file's text cannot be had (and so cannot be checked); ``reason`` is fixed text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Text:
    """Text pieces gathered up to ``limit`` characters; one more raises ``Unreadable``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.pieces: list[str] = []

    def add(self, text: str | None) -> None:
        if not text:
            return
        self.size += len(text) + 1
        if self.size > self.limit:
            raise Unreadable(
                f"the file holds more than {self.limit} characters of text, more than can "
                "be checked"
            )
        self.pieces.append(text)

    def joined(self) -> str:
        return "\n".join(self.pieces)


def check_archive(data: bytes, limits: ExtractLimits) -> None:
    """Refuse a ZIP that would unpack to too much (see the module docstring)."""
    infos = zip_entries(data)
    if infos is None:
        raise Unreadable("the file is a damaged ZIP archive")
    if len(infos) > limits.max_entries:
        raise Unreadable(f"the archive has more than {limits.max_entries} entries")
    total = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise Unreadable("the file is encrypted")
        total += info.file_size
        if total > limits.max_unpacked_bytes:
            raise Unreadable(
                f"the archive unpacks to more than {limits.max_unpacked_bytes} bytes "
                "(an archive bomb?)"
            )
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise Unreadable(
                f"an entry of the archive expands more than {MAX_RATIO} times (an archive bomb?)"
            )


def extract_text(data: bytes, kind: FileKind, limits: ExtractLimits) -> str:
    """The text of a file of ``kind`` (one of ``INSPECTED_KINDS``); ``Unreadable`` when it
    cannot be had. Library errors become ``Unreadable("... is malformed")``."""
    out = _Text(limits.max_chars)
    if kind in TEXT_KINDS:
        text = decode_text(data)
        if text is None:
            raise Unreadable("the file is not valid text")
        out.add(text)
        return out.joined()
    if kind in OFFICE_KINDS:
        check_archive(data, limits)
    reader = _READERS.get(kind)
    if reader is None:
        raise Unreadable(f"text cannot be extracted from a {kind} file")
    try:
        for piece in reader(data):
            out.add(piece)
    except Unreadable:
        raise
    except MemoryError:
        raise Unreadable("the file needs too much memory to read") from None
    except RecursionError:
        raise Unreadable(f"the {kind.upper()} file is nested too deeply") from None
    except Exception as exc:  # a library's error on a malformed file (many types)
        logging.getLogger(__name__).debug("extraction failed: %s", type(exc).__name__)
        raise Unreadable(f"the {kind.upper()} file is malformed") from None
    return out.joined()


def _pdf(data: bytes) -> Iterator[str]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        raise Unreadable("the PDF is encrypted, so its content cannot be checked")
    for page in reader.pages:
        yield page.extract_text()


def _docx(data: bytes) -> Iterator[str]:
    """Every paragraph of the body (tables, text boxes and content controls included:
    their text sits in ``w:p`` paragraphs too), then headers and footers. One walk over
    python-docx's parsed tree: its ``paragraph.text`` per paragraph is several times
    slower on long documents (bench/uploads.py)."""
    import docx
    from docx.oxml.ns import qn

    paragraph_tag, text_tag = qn("w:p"), qn("w:t")
    document = docx.Document(io.BytesIO(data))
    parts = [document.element.body]
    for section in document.sections:
        parts.extend(part._element for part in (section.header, section.footer))
    for element in parts:
        for paragraph in element.iter(paragraph_tag):
            yield "".join(t.text or "" for t in paragraph.iter(text_tag))


def _xlsx(data: bytes) -> Iterator[str]:
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        for sheet in book.worksheets:
            yield sheet.title
            for row in sheet.iter_rows(values_only=True):
                cells = [str(v) for v in row if v is not None]
                if cells:
                    yield "\t".join(cells)
    finally:
        book.close()


def _pptx(data: bytes) -> Iterator[str]:
    import pptx

    presentation = pptx.Presentation(io.BytesIO(data))
    for slide in presentation.slides:
        for shape in slide.shapes:
            if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
                yield shape.text_frame.text
            if getattr(shape, "has_table", False) and shape.has_table:
                for row in shape.table.rows:
                    yield "\t".join(cell.text for cell in row.cells)
        if slide.has_notes_slide:
            yield (
                slide.notes_slide.notes_text_frame.text
                if slide.notes_slide.notes_text_frame
                else ""
            )


_READERS = {"pdf": _pdf, "docx": _docx, "xlsx": _xlsx, "pptx": _pptx}
