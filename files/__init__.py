"""Uploaded files: what a file is (sniffed from its bytes), its facts for the audit record
(name, type, size, SHA-256) and its text, extracted within bounds (``extract``).

Pure domain code: no mitmproxy, no network, nothing of ours; light to import (the
document libraries load only when a file of theirs is read, in the DLP workers).
Modules: ``facts`` (``sniff``, ``file_facts``, the kinds policy names) and ``extract``
(``extract_text``, ``ExtractLimits``, ``Unreadable``).
"""

from .extract import ExtractLimits, Unreadable, check_archive, extract_text
from .facts import FILE_KINDS, INSPECTED_KINDS, TEXT_KINDS, FileFacts, FileKind, file_facts, sniff

__all__ = [
    "FILE_KINDS",
    "INSPECTED_KINDS",
    "TEXT_KINDS",
    "ExtractLimits",
    "FileFacts",
    "FileKind",
    "Unreadable",
    "check_archive",
    "extract_text",
    "file_facts",
    "sniff",
]
