"""Resident memory of a process of the test bed, from /proc (Linux): now and at its peak."""

from __future__ import annotations

from pathlib import Path


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def rss_bytes(pid: int) -> int:
    return _status_kib(pid, "VmRSS") * 1024


def peak_rss_bytes(pid: int) -> int:
    """The highest RSS since the process started or since ``reset_peak``."""
    return _status_kib(pid, "VmHWM") * 1024


def reset_peak(pid: int) -> None:
    """Start the peak over from the current RSS (``clear_refs`` 5, Linux 4.0 and later)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
