"""An upload in a real browser: Debian's Chromium attaches a file in a ChatGPT-shaped page
(announce, cross-origin PUT of the bytes to the blob host, confirm), through the gateway,
after signing in at the portal.

A clean PDF arrives at the blob host unchanged; a PDF holding an AWS key is stopped at the
blob PUT, and the page reads the gateway's block page (the refusal carries CORS headers for
the app's origin, else the browser would hide it from the page) with the reason; the
audit trail has both files, attributed to the signed-in person. Upstream: our own fixture
(tests/e2e/upload_fixture.py; aimock has no ChatGPT backend). Needs what test_browser.py
needs (chromium, certutil, playwright).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import FilePayload, sync_playwright

from tests import documents
from tests.e2e.test_browser import (
    CERTUTIL,
    CHROMIUM,
    WAIT_MS,
    audit_records,
    signed_in_page,
    start_browser_bed,
)
from tests.e2e.test_identity import Bed
from tests.e2e.upload_fixture import FILE_ID, UploadFixture
from tests.peers import Aimock

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BLOB_HOST = "sdmntprwestus.oaiusercontent.com"


@pytest.fixture
def bed(aimock: Aimock, tmp_path: Path) -> Iterator[tuple[Bed, UploadFixture]]:
    if not CHROMIUM.exists() or CERTUTIL is None:
        pytest.fail(
            "the browser e2e needs Debian's chromium and certutil: "
            "apt-get install chromium libnss3-tools"
        )
    fixture = UploadFixture()
    fixture.start()
    b = start_browser_bed(
        tmp_path,
        aimock,
        fixture,  # type: ignore[arg-type]  # it has .url, all start_browser_bed reads
        {
            "unsafe_testing": {
                "route_catalog_hosts_to": aimock.url,
                "routes": {"chatgpt.com": fixture.url, BLOB_HOST: fixture.url},
            },
            "dlp": {
                "profiles_file": str(ROOT / "packaging" / "demo" / "dlp-profiles.yaml"),
                "default_profile": "secrets",
                "workers": 1,
                "timeout_s": 60,  # generous: a loaded 2-core CI machine
            },
        },
    )
    yield b, fixture
    b.warden.stop()
    b.idp.stop()
    fixture.stop()


def test_a_browser_upload_is_inspected_and_a_blocked_one_shows_why(
    bed: tuple[Bed, UploadFixture], tmp_path: Path
) -> None:
    b, fixture = bed
    clean = documents.pdf("the quarterly plan")
    secret = documents.pdf(f"deploy with key {documents.AWS_KEY}")
    with sync_playwright() as pw, signed_in_page(pw, b, tmp_path) as page:
        seen: list[str] = []  # what the page logged or failed to fetch, for a failure
        page.on("console", lambda m: seen.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: seen.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: seen.append(f"failed: {r.url} {r.failure}"))
        results = []
        for name, data in (("plan.pdf", clean), ("deploy.pdf", secret)):
            page.evaluate("document.getElementById('result').textContent = ''")
            payload: FilePayload = {"name": name, "mimeType": "application/pdf", "buffer": data}
            page.set_input_files("#file", files=[payload])
            page.click("#attach")
            try:
                page.wait_for_function(
                    "document.getElementById('result').textContent.length > 0",
                    timeout=WAIT_MS * 4,
                )
            except Exception:
                got = [(r.method, r.host, r.path[:60]) for r in fixture.received]
                raise AssertionError(f"no result for {name}: {seen} {got}") from None
            results.append(page.text_content("#result") or "")

    assert results[0] == f"uploaded {FILE_ID}"
    blocked = results[1]
    assert blocked.startswith("403\n"), blocked
    assert "Blocked by your organisation" in blocked and "AWS_ACCESS_KEY_ID" in blocked
    assert documents.AWS_KEY not in blocked
    assert fixture.arrived(clean) and not fixture.arrived(secret)

    files = {
        f["sha256"]: (r.outcome, r.principal.subject if r.principal else None, f["verdict"])
        for r in audit_records(b.warden)
        for f in r.to_dict().get("files", ())
        if f["sha256"]
    }
    assert files[hashlib.sha256(clean).hexdigest()] == ("allowed", "carol", "allowed")
    assert files[hashlib.sha256(secret).hexdigest()] == ("blocked", "carol", "blocked")
