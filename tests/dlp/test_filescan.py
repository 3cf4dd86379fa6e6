"""Uploaded files in the DLP worker pool: extracted and scanned in a worker, only counts
come back; unreadable files say why; a file that hangs its worker times out and the pool
recovers (the same bounds as prompt scans)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests import documents
from tests.dlp.jobs import hang_or_scan_file
from warden.dlp import DlpError, DlpProfile, DlpRunner, DlpTimeout
from warden.dlp.filescan import CHUNK_CHARS, OVERLAP, FileScan, _pieces
from warden.files import ExtractLimits

pytestmark = pytest.mark.timeout(180)

PROFILES = {
    "p": DlpProfile.model_validate(
        {"entities": {"AWS_ACCESS_KEY_ID": "block", "CREDIT_CARD": "mask"}}
    )
}
LIMITS = ExtractLimits()


@pytest.fixture
async def runner() -> AsyncIterator[DlpRunner]:
    # timeouts generous for a loaded 2-core machine, except where the timeout is the test
    r = DlpRunner(PROFILES, workers=1, timeout=60, file_timeout=60, file_job=hang_or_scan_file)
    await r.start()
    yield r
    await r.close()


async def test_a_document_is_extracted_and_scanned_in_a_worker(runner: DlpRunner) -> None:
    data = documents.xlsx(("key", documents.AWS_KEY), ("card", documents.CARD))
    scan = await runner.scan_file(data, "xlsx", "p", "files[0]", LIMITS)
    assert scan.blocked_types == {"AWS_ACCESS_KEY_ID"}
    assert {(f.entity_type, f.count, f.segment) for f in scan.findings} == {
        ("AWS_ACCESS_KEY_ID", 1, "files[0]"),
        ("CREDIT_CARD", 1, "files[0]"),
    }
    assert scan.chars > 0 and scan.unreadable is None
    # only counts cross the process boundary: no text, no replacements
    assert set(FileScan.__dataclass_fields__) == {
        "chars",
        "findings",
        "blocked_types",
        "unreadable",
    }


async def test_extract_only_without_a_profile(runner: DlpRunner) -> None:
    scan = await runner.scan_file(documents.pdf("plain"), "pdf", None, "files[0]", LIMITS)
    assert scan.chars >= 5 and scan.findings == ()


async def test_unreadable_files_say_why(runner: DlpRunner) -> None:
    scan = await runner.scan_file(documents.encrypted_pdf("x"), "pdf", "p", "files[0]", LIMITS)
    assert scan.unreadable is not None and "encrypted" in scan.unreadable
    bomb = await runner.scan_file(documents.zip_bomb_docx(), "docx", "p", "files[0]", LIMITS)
    assert bomb.unreadable is not None and "archive bomb" in bomb.unreadable


async def test_a_hanging_file_times_out_and_the_pool_recovers() -> None:
    r = DlpRunner(PROFILES, workers=1, timeout=60, file_timeout=2, file_job=hang_or_scan_file)
    await r.start()
    try:
        with pytest.raises(DlpTimeout, match="longer than 2 s"):
            await r.scan_file(b"sleep 60", "text", "p", "files[0]", LIMITS)
        # the stuck worker was killed; wait for its replacement to load Presidio (the 2 s
        # bound is for the job, not for a new worker's start on a loaded machine)
        await r.start()
        with pytest.raises(DlpError, match="died"):
            await r.scan_file(b"crash", "text", "p", "files[0]", LIMITS)
        await r.start()
        ok = await r.scan_file(documents.AWS_KEY.encode(), "text", "p", "files[0]", LIMITS)
        assert ok.blocked_types == {"AWS_ACCESS_KEY_ID"}
        assert r.in_flight == 0
    finally:
        await r.close()


def test_pieces_overlap_so_a_value_at_a_boundary_is_seen_whole() -> None:
    text = "x" * (CHUNK_CHARS - 10) + documents.AWS_KEY + "y" * CHUNK_CHARS
    pieces = _pieces(text, "files[0]")
    assert len(pieces) >= 2
    assert any(documents.AWS_KEY in p.text for p in pieces)
    assert all(len(p.text) <= CHUNK_CHARS for p in pieces)
    assert pieces[1].text.startswith(text[CHUNK_CHARS - OVERLAP : CHUNK_CHARS - OVERLAP + 10])
