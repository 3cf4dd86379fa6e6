"""Documents the tests and the benchmark write themselves (no binary fixtures): PDF with
reportlab (and pypdf's writer for encryption), DOCX with python-docx, XLSX with openpyxl,
PPTX with python-pptx, and the hostile ones (a ZIP bomb dressed as a DOCX, a corrupt
PDF)."""

from __future__ import annotations

import io
import zipfile

#: Values the DLP profiles find: a Visa test number (Luhn-valid) and AWS's documented
#: example access key id (blocked by the demo profile).
CARD = "4111 1111 1111 1111"
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"


def pdf(*lines: str, pages: int = 1) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A4)
    for _ in range(pages):
        y = 800
        for line in lines:
            c.drawString(40, y, line)
            y -= 14
            if y < 40:
                c.showPage()
                y = 800
        c.showPage()
    c.save()
    return out.getvalue()


def encrypted_pdf(*lines: str, password: str = "s3cret") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf(*lines))))
    writer.encrypt(user_password=password, owner_password=password, algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def corrupt_pdf() -> bytes:
    """A PDF header, then a cut-off body with no cross-reference table or trailer."""
    whole = pdf("quarterly numbers")
    return whole[: len(whole) // 3].replace(b"endobj", b"endXbj")


def docx(*paragraphs: str) -> bytes:
    import docx as python_docx

    document = python_docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def xlsx(*rows: tuple[object, ...]) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def pptx(*texts: str) -> bytes:
    import pptx as python_pptx
    from pptx.util import Inches

    deck = python_pptx.Presentation()
    for text in texts:
        slide = deck.slides.add_slide(deck.slide_layouts[5])
        box = slide.shapes.add_textbox(Inches(1), Inches(2), Inches(6), Inches(1))
        box.text_frame.text = text
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def zip_bomb_docx(unpacked_mib: int = 64) -> bytes:
    """A DOCX (it holds word/document.xml) with one more entry of ``unpacked_mib`` MiB of
    zeros, which deflate shrinks about a thousand times."""
    out = io.BytesIO()
    chunk = b"\0" * (1024 * 1024)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
        with archive.open("word/media/filler.bin", "w", force_zip64=True) as entry:
            for _ in range(unpacked_mib):
                entry.write(chunk)
    return out.getvalue()
