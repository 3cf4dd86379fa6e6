"""Redaction plans: from the findings in a request's text segments to what the request
becomes (``ScanResult``): new text per segment path, entity counts per segment for the
audit record, the entity types that block the request, and the flow's pseudonym vault.

``Scanner`` is the whole in-process pipeline for one profile (detect, then plan); the pool
(``pool.py``) runs one ``Scanner`` per profile in each worker. ``plan`` itself is a pure
function of the findings and the rules.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from warden.providers import JSON_STRING, TextSegment
from warden.providers.shapes import SegmentPath

from .engine import Detector, Finding
from .operators import Numbering, PseudonymVault, hash_tag, mask
from .profiles import MASK_KEEP_LAST, DlpProfile, EntityRule


@dataclass(frozen=True, slots=True)
class FindingCount:
    """How many values of one type one segment held; never the values."""

    entity_type: str
    count: int
    segment: str


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What to do with one request.

    ``replacements``: segment path -> new text, only for segments that change (empty when
    the request is blocked). ``findings``: counts per type and segment label, for the
    audit record. ``blocked_types``: entity types whose action is ``block`` that were
    found; non-empty means the request must not go out. ``vault``: the pseudonyms to
    restore in the answer, ``None`` when nothing was pseudonymized.
    """

    replacements: dict[SegmentPath, str]
    findings: tuple[FindingCount, ...]
    blocked_types: frozenset[str]
    vault: PseudonymVault | None

    @property
    def blocked(self) -> bool:
        return bool(self.blocked_types)

    @property
    def changed(self) -> bool:
        return bool(self.replacements)


def segment_label(path: SegmentPath) -> str:
    """``("messages", 0, "content")`` -> ``messages[0].content``; a step into a JSON
    document held in a string reads ``<json>``."""
    out = ""
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        elif step == JSON_STRING:
            out += "<json>"
        else:
            out += f".{step}" if out else step
    return out


def plan(
    segments: Sequence[TextSegment],
    findings: Sequence[Sequence[Finding]],
    rules: Mapping[str, EntityRule],
    *,
    hash_key: bytes | None = None,
    hash_length: int = 8,
) -> ScanResult:
    """The ``ScanResult`` for ``segments`` given ``findings[i]`` in ``segments[i].text``
    (non-overlapping, as ``Detector.detect`` returns them)."""
    counts: list[FindingCount] = []
    blocked: set[str] = set()
    for segment, found in zip(segments, findings, strict=True):
        label = segment_label(segment.path)
        per_type = Counter(f.entity_type for f in found)
        counts.extend(FindingCount(t, n, label) for t, n in sorted(per_type.items()))
        blocked.update(t for t in per_type if rules[t].action == "block")
    if blocked:
        return ScanResult({}, tuple(counts), frozenset(blocked), None)

    numbering = Numbering(s.text for s in segments)
    vault = PseudonymVault()
    replacements: dict[SegmentPath, str] = {}
    for segment, found in zip(segments, findings, strict=True):
        if not found:
            continue
        text = segment.text
        parts: list[str] = []
        pos = 0
        for f in sorted(found, key=lambda f: f.start):
            value = text[f.start : f.end]
            parts.append(text[pos : f.start])
            parts.append(
                _replace(
                    f.entity_type,
                    value,
                    rules[f.entity_type],
                    numbering,
                    vault,
                    hash_key,
                    hash_length,
                )
            )
            pos = f.end
        parts.append(text[pos:])
        new_text = "".join(parts)
        if new_text != text:
            replacements[segment.path] = new_text
    return ScanResult(replacements, tuple(counts), frozenset(), vault if vault else None)


def _replace(
    entity_type: str,
    value: str,
    rule: EntityRule,
    numbering: Numbering,
    vault: PseudonymVault,
    hash_key: bytes | None,
    hash_length: int,
) -> str:
    action = rule.action
    if action == "mask":
        keep_last = rule.keep_last
        if keep_last is None:
            keep_last = MASK_KEEP_LAST.get(entity_type, 0)
        return mask(value, rule.keep_first, keep_last, rule.mask_char)
    if action == "hash":
        if hash_key is None:
            raise ValueError(f"{entity_type} is to be hashed but the profile has no hash key")
        return hash_tag(entity_type, value, hash_key, hash_length)
    placeholder = numbering.placeholder(entity_type, value)
    if action == "pseudonymize":
        vault.add(placeholder, value)
    return placeholder


class Scanner:
    """The in-process pipeline of one profile: ``scan(segments) -> ScanResult``."""

    def __init__(self, profile: DlpProfile, hash_key: bytes | None = None) -> None:
        if profile.uses("hash") and not hash_key:
            raise ValueError(
                "the profile hashes values but no hash key was given; configure the tenant's "
                "DLP hash key"
            )
        self.profile = profile
        self.detector = Detector(profile)
        self._hash_key = hash_key

    def scan(self, segments: Sequence[TextSegment], scope: str | None = None) -> ScanResult:
        """``scope``: whom the scan is for (the principal); see ``Detector.detect``."""
        findings = [self.detector.detect(s.text, scope) for s in segments]
        return plan(
            segments,
            findings,
            self.detector.rules,
            hash_key=self._hash_key,
            hash_length=self.profile.hash_length,
        )
