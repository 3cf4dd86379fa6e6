"""Worker jobs for the pool tests (importable by name in spawned workers)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from warden.dlp.filescan import FileScan
from warden.dlp.plan import ScanResult
from warden.dlp.pool import scan_file_in_worker, scan_in_worker
from warden.files import ExtractLimits, FileKind
from warden.providers import TextSegment


def crash_or_scan(
    profile_id: str, segments: tuple[TextSegment, ...], scope: str | None = None
) -> ScanResult:
    """Dies on a segment saying "crash", sleeps on one saying "sleep N", waits for a file
    to exist on one saying "wait PATH" (the test says when the job may end), else scans."""
    text = segments[0].text
    if text == "crash":
        os._exit(3)
    if text.startswith("wait "):
        go = Path(text.split()[1])
        while not go.exists():
            time.sleep(0.01)
    if text.startswith("sleep "):
        time.sleep(float(text.split()[1]))
    if text == "raise":
        raise RuntimeError("engine bug with secret text")
    return scan_in_worker(profile_id, segments, scope)


def hang_or_scan_file(
    profile_id: str | None, data: bytes, kind: FileKind, label: str, limits: ExtractLimits
) -> FileScan:
    """Sleeps on a file saying "sleep N", dies on one saying "crash", else the real job."""
    if data.startswith(b"sleep "):
        time.sleep(float(data.split()[1]))
    if data == b"crash":
        os._exit(3)
    return scan_file_in_worker(profile_id, data, kind, label, limits)


def failing_lifeline(parent_pid: int) -> None:
    """A worker start that fails (the lifeline runs first in each worker)."""
    raise RuntimeError("this worker cannot start")
