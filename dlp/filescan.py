"""The DLP worker's job for one uploaded file: extract its text, scan it, count findings.

It runs in the DLP worker pool (``pool.DlpRunner.scan_file``) beside the prompt scans,
with the same fairness, in-flight bounds and timeout handling (a job that overruns has
its worker killed). Only counts go back to the gateway process: entity types and how
many, per file, and the blocked types; never the file's text or the replacements a
prompt scan would make (a file is not rewritten: it is let through, recorded, or
refused).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from warden.files.extract import ExtractLimits, Unreadable, extract_text
from warden.files.facts import FileKind
from warden.providers import TextSegment

from .plan import FindingCount, Scanner

__all__ = ["CHUNK_CHARS", "FileScan", "scan_file"]

#: Extracted text is scanned in pieces of this many characters (Presidio and the NER
#: model work per text; pieces keep each call's memory small). A piece overlaps the
#: next by ``OVERLAP`` characters so a value cut at a boundary is still seen whole.
CHUNK_CHARS = 32_768
OVERLAP = 256


@dataclass(frozen=True, slots=True)
class FileScan:
    """What the scan of one file found: ``chars`` of text, ``findings`` (types and counts
    under the file's label), ``blocked_types`` (types the profile blocks), or why the
    text could not be had (``unreadable``: then nothing was scanned)."""

    chars: int
    findings: tuple[FindingCount, ...] = ()
    blocked_types: frozenset[str] = frozenset()
    unreadable: str | None = None


def _pieces(text: str, label: str) -> tuple[TextSegment, ...]:
    if len(text) <= CHUNK_CHARS:
        return (TextSegment((label,), "user", text),) if text else ()
    step = CHUNK_CHARS - OVERLAP
    return tuple(
        TextSegment((label, i), "user", text[start : start + CHUNK_CHARS])
        for i, start in enumerate(range(0, len(text), step))
    )


def scan_file(
    scanner: Scanner | None,
    data: bytes,
    kind: FileKind,
    label: str,
    limits: ExtractLimits,
) -> FileScan:
    """Extract and (with a ``scanner``) scan one file. Overlapping pieces may count a
    value twice; counts are per type and file, so a finding is never missed, at worst
    counted once more."""
    try:
        text = extract_text(data, kind, limits)
    except Unreadable as exc:
        return FileScan(0, unreadable=exc.reason)
    if scanner is None or not text:
        return FileScan(len(text))
    result = scanner.scan(_pieces(text, label))
    per_type: Counter[str] = Counter()
    for finding in result.findings:
        per_type[finding.entity_type] += finding.count
    counts = tuple(FindingCount(t, n, label) for t, n in sorted(per_type.items()))
    return FileScan(len(text), counts, result.blocked_types)
