"""File facts: the type comes from the bytes (a renamed file is still what it is), size and
SHA-256 are of the bytes sent, and the kinds policy names are the sniffer's."""

from __future__ import annotations

import hashlib

import pytest

from tests import documents
from warden.files import file_facts, sniff
from warden.files.facts import decode_text

PDF = documents.pdf("hello")
DOCX = documents.docx("hello")
XLSX = documents.xlsx(("a", 1))
PPTX = documents.pptx("hello")


@pytest.mark.parametrize(
    ("data", "name", "declared", "kind"),
    [
        (PDF, "notes.txt", "text/plain", "pdf"),  # renamed: the bytes say PDF
        (b"junk before\n" + PDF, None, None, "pdf"),  # %PDF- within the first KiB
        (DOCX, "report.pdf", "application/pdf", "docx"),
        (XLSX, "x.bin", None, "xlsx"),
        (PPTX, None, None, "pptx"),
        (b"PK\x03\x04 not really a zip", "a.docx", None, "archive"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "old.doc", None, "ole"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "x.txt", None, "image"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 20, None, None, "image"),
        (b"RIFF\0\0\0\0WEBPVP8 ", None, None, "image"),
        (b"\x1f\x8b\x08\0" + b"\0" * 20, "x.csv", None, "archive"),
        (b"plain words", None, None, "text"),
        (b"# Title\n", "README.md", None, "markdown"),
        (b"a,b\n1,2\n", "t.csv", None, "csv"),
        (b"a,b\n1,2\n", None, "text/csv; charset=utf-8", "csv"),
        (b'{"a": 1}', None, None, "json"),
        (b"\xef\xbb\xbf[1]", None, None, "json"),
        ("hé".encode("utf-16"), "x.txt", None, "text"),
        (b"\x00\x01\x02binary", "x.txt", "text/plain", "binary"),
        (b"\xfb\xfc\xfd not utf-8 at all \x80", None, None, "binary"),
    ],
)
def test_sniffed_from_the_bytes(
    data: bytes, name: str | None, declared: str | None, kind: str
) -> None:
    assert sniff(data, name, declared)[0] == kind


def test_a_sample_cut_inside_a_character_is_still_text() -> None:
    assert decode_text("é".encode() * 3 + "é".encode()[:1]) == "ééé"
    assert decode_text(b"\x80abc") is None


def test_facts_are_of_the_bytes() -> None:
    facts = file_facts(PDF, "q3.txt", "text/plain")
    assert (facts.kind, facts.media_type, facts.declared_type) == (
        "pdf",
        "application/pdf",
        "text/plain",
    )
    assert facts.size == len(PDF) and facts.sha256 == hashlib.sha256(PDF).hexdigest()


def test_an_announcement_has_no_hash_and_a_kind_from_its_name() -> None:
    facts = file_facts(None, "q3.xlsx", None, 1234)
    assert (facts.kind, facts.size, facts.sha256) == ("xlsx", 1234, None)
    assert file_facts(None, "no-suffix", None).kind == "binary"
