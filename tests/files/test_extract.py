"""Text extraction: each supported type gives its text; encrypted, malformed and bomb files
fail with a fixed reason (never their content), within the bounds."""

from __future__ import annotations

import io
import zipfile

import pytest

from tests import documents
from tests.documents import AWS_KEY, CARD
from warden.files import ExtractLimits, Unreadable, check_archive, extract_text, sniff

LIMITS = ExtractLimits()


def _text(data: bytes, limits: ExtractLimits = LIMITS) -> str:
    return extract_text(data, sniff(data)[0], limits)


@pytest.mark.parametrize(
    "data",
    [
        documents.pdf(f"card {CARD}", f"key {AWS_KEY}"),
        documents.docx(f"card {CARD}", f"key {AWS_KEY}"),
        documents.xlsx(("card", CARD), ("key", AWS_KEY)),
        documents.pptx(f"card {CARD}", f"key {AWS_KEY}"),
        f"card {CARD}\nkey {AWS_KEY}\n".encode(),
        f'{{"card": "{CARD}", "key": "{AWS_KEY}"}}'.encode(),
    ],
    ids=["pdf", "docx", "xlsx", "pptx", "text", "json"],
)
def test_each_type_gives_its_text(data: bytes) -> None:
    text = _text(data)
    assert CARD in text and AWS_KEY in text


def test_docx_tables_are_read() -> None:
    import docx

    document = docx.Document()
    document.add_table(rows=1, cols=2).rows[0].cells[1].text = AWS_KEY
    out = io.BytesIO()
    document.save(out)
    assert AWS_KEY in _text(out.getvalue())


def test_an_encrypted_pdf_is_unreadable() -> None:
    with pytest.raises(Unreadable, match="encrypted") as caught:
        _text(documents.encrypted_pdf(f"card {CARD}"))
    assert CARD not in caught.value.reason


def test_a_corrupt_pdf_is_unreadable() -> None:
    with pytest.raises(Unreadable, match="malformed"):
        _text(documents.corrupt_pdf())


@pytest.mark.parametrize("kind", ["docx", "xlsx", "pptx", "pdf"])
def test_random_bytes_of_a_type_are_malformed_not_a_crash(kind: str) -> None:
    with pytest.raises(Unreadable):
        extract_text(b"PK\x03\x04" + bytes(range(256)) * 4, kind, LIMITS)  # type: ignore[arg-type]


def test_a_zip_bomb_docx_is_refused_before_it_is_unpacked() -> None:
    bomb = documents.zip_bomb_docx(64)
    assert sniff(bomb)[0] == "docx" and len(bomb) < 1024 * 1024
    with pytest.raises(Unreadable, match="archive bomb"):
        _text(bomb)


def test_many_small_entries_past_the_unpacked_bound_are_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", "<w:document/>")
        for i in range(20):
            archive.writestr(f"word/media/{i}.xml", "x" * 100_000)
    small = ExtractLimits(max_unpacked_bytes=1_000_000)
    with pytest.raises(Unreadable, match="unpacks to more than 1000000 bytes"):
        check_archive(out.getvalue(), small)
    with pytest.raises(Unreadable, match="more than 5 entries"):
        check_archive(out.getvalue(), ExtractLimits(max_entries=5))


def test_an_encrypted_zip_entry_is_refused() -> None:
    data = bytearray(documents.docx("x"))
    # set the "encrypted" flag bit of every central directory entry
    pos = data.find(b"PK\x01\x02")
    while pos != -1:
        data[pos + 8] |= 0x1
        pos = data.find(b"PK\x01\x02", pos + 4)
    with pytest.raises(Unreadable, match="encrypted"):
        check_archive(bytes(data), LIMITS)


def test_more_text_than_the_bound_is_refused_not_half_checked() -> None:
    with pytest.raises(Unreadable, match="more than 1000 characters"):
        _text(b"word " * 1000, ExtractLimits(max_chars=1000))
    with pytest.raises(Unreadable, match="more than 1000 characters"):
        _text(documents.xlsx(*[("word " * 20,)] * 100), ExtractLimits(max_chars=1000))


def test_images_and_archives_have_no_text_reader() -> None:
    with pytest.raises(Unreadable, match="cannot be extracted from a image"):
        extract_text(b"\x89PNG\r\n\x1a\n", "image", LIMITS)
