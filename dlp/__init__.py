"""DLP: what in a prompt is sensitive and what it becomes. Presidio engine set-up per DLP
profile (``engine``), recognizers for secrets, personal data and a tenant's own terms
(``recognizers``), the pre-scan that keeps them fast (``prescan``), redaction operators
and the pseudonym vault (``operators``), redaction plans (``plan``), the worker pool that
keeps all of it off the event loop (``pool``), and pseudonym restoring in answers
(``restore``; the web apps' answers: ``webrestore``). It never sees the network; it
imports ``warden.providers`` only.
"""

from . import _offline  # noqa: F401  (first: keeps Presidio off the network)
from .engine import Detector, Finding
from .errors import DlpBusy, DlpError, DlpTimeout, ProfileError
from .operators import PseudonymVault
from .plan import FindingCount, Scanner, ScanResult, segment_label
from .pool import DlpRunner
from .profiles import DlpProfile, default_profile, load_profiles, load_profiles_yaml
from .restore import (
    STREAM_APIS,
    PseudonymRestorer,
    SseRestorer,
    restore_json_response,
)
from .webrestore import (
    GeminiFrameRestorer,
    restore_answer_body,
    restore_streamed_answer,
    restores_stream,
)

__all__ = [
    "STREAM_APIS",
    "Detector",
    "DlpBusy",
    "DlpError",
    "DlpProfile",
    "DlpRunner",
    "DlpTimeout",
    "Finding",
    "FindingCount",
    "GeminiFrameRestorer",
    "ProfileError",
    "PseudonymRestorer",
    "PseudonymVault",
    "ScanResult",
    "Scanner",
    "SseRestorer",
    "default_profile",
    "load_profiles",
    "load_profiles_yaml",
    "restore_answer_body",
    "restore_json_response",
    "restore_streamed_answer",
    "restores_stream",
    "segment_label",
]
