"""Worker jobs for the pool tests (importable by name in spawned workers)."""

from __future__ import annotations

import os
import time

from warden.dlp.plan import ScanResult
from warden.dlp.pool import scan_in_worker
from warden.providers import TextSegment


def crash_or_scan(profile_id: str, segments: tuple[TextSegment, ...]) -> ScanResult:
    """Dies on a segment saying "crash", sleeps on one saying "sleep N", else scans."""
    text = segments[0].text
    if text == "crash":
        os._exit(3)
    if text.startswith("sleep "):
        time.sleep(float(text.split()[1]))
    if text == "raise":
        raise RuntimeError("engine bug with secret text")
    return scan_in_worker(profile_id, segments)
