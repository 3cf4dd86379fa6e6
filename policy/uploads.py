"""Upload policy: which files may leave, per tenant and department (``uploads:``).

```yaml
defaults:
  uploads:
    action: scan            # scan (default): extract the text and scan it with DLP;
                            # allow: record the file's facts only; block: no uploads
    max_bytes: 52428800     # a larger file is refused (default: no bound but the proxy's)
    blocked_types: [archive, ole, binary]   # kinds (files/facts.py) that are refused
    allowed_types: [pdf, docx, text]        # if given: only these kinds pass
    unreadable: block       # a file whose text cannot be had (encrypted, malformed,
                            # a bomb, too much text, a chunk of a larger file, a kind
                            # without text extraction): block (default) or allow
    findings: record        # entities found that the DLP profile does not block:
                            # record (default: in the audit record) or block
tenants:
  acme:
    uploads: {max_bytes: 10485760}
    departments:
      finance: {uploads: {findings: block}}
```

A key left out inherits the layer above (department → tenant → defaults → the
built-ins above). Images are recorded but not read (no OCR): block them by type where
that matters. Decisions are pure: ``upload_rules`` resolves the settings for a person,
``judge_file`` says whether one file may go before its text is read, and
``judge_scan`` after.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from warden import files

if TYPE_CHECKING:
    from .engine import CompiledPolicy

__all__ = [
    "FILE_KINDS",
    "FileVerdict",
    "UploadRules",
    "UploadSettings",
    "judge_file",
    "judge_scan",
    "upload_rules",
]

#: The kinds a policy may name: those ``warden.files`` sniffs from a file's bytes.
FILE_KINDS: Final = files.FILE_KINDS
UploadAction = Literal["scan", "allow", "block"]


def _kinds(value: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [v for v in value if v not in FILE_KINDS]
    if unknown:
        raise ValueError(
            f"unknown file type(s) {', '.join(map(repr, unknown))}; the types are "
            f"{', '.join(FILE_KINDS)}"
        )
    return value


Kinds = Annotated[tuple[Annotated[str, Field(min_length=1, max_length=32)], ...], Field()]


class UploadSettings(BaseModel):
    """``uploads:`` of the defaults, a tenant or a department (see the module doc)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: UploadAction | None = None
    max_bytes: int | None = Field(None, ge=1)
    blocked_types: Kinds | None = None
    allowed_types: Kinds | None = None
    unreadable: Literal["block", "allow"] | None = None
    findings: Literal["record", "block"] | None = None

    @field_validator("blocked_types", "allowed_types")
    @classmethod
    def _known(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if v is None else _kinds(v)

    @model_validator(mode="after")
    def _not_both(self) -> UploadSettings:
        both = set(self.blocked_types or ()) & set(self.allowed_types or ())
        if both:
            raise ValueError(
                f"type(s) {', '.join(sorted(both))} are in both blocked_types and "
                "allowed_types; keep each in one list"
            )
        return self


@dataclass(frozen=True, slots=True)
class UploadRules:
    """The upload settings that apply to one person, resolved; ``layer`` names where each
    decision comes from (for the rule id in the record)."""

    action: UploadAction = "scan"
    max_bytes: int | None = None
    blocked_types: frozenset[str] = frozenset()
    allowed_types: frozenset[str] | None = None
    unreadable: Literal["block", "allow"] = "block"
    findings: Literal["record", "block"] = "record"
    layer: str = "defaults"


@dataclass(frozen=True, slots=True)
class FileVerdict:
    """A refusal of one file: ``rule_id`` (``<layer>/uploads/<setting>``) and a reason
    written for the person who uploaded it (policy words and file facts only)."""

    rule_id: str
    reason: str


def _merge(rules: UploadRules, s: UploadSettings | None, layer: str) -> UploadRules:
    if s is None:
        return rules
    return UploadRules(
        s.action or rules.action,
        s.max_bytes if s.max_bytes is not None else rules.max_bytes,
        frozenset(s.blocked_types) if s.blocked_types is not None else rules.blocked_types,
        frozenset(s.allowed_types) if s.allowed_types is not None else rules.allowed_types,
        s.unreadable or rules.unreadable,
        s.findings or rules.findings,
        layer,
    )


def upload_rules(policy: CompiledPolicy, tenant: str | None, department: str | None) -> UploadRules:
    """The upload rules for a person of ``tenant`` and ``department`` (remembered per
    policy version: the same few pairs come again and again; bounded)."""
    key = (policy.version, tenant, department)
    found = _remembered.get(key)
    if found is None:
        found = _rules(policy, tenant, department)
        if len(_remembered) >= MAX_REMEMBERED:
            _remembered.clear()
        _remembered[key] = found
    return found


#: How many (policy version, tenant, department) resolutions are remembered.
MAX_REMEMBERED: Final = 1024
_remembered: dict[tuple[str, str | None, str | None], UploadRules] = {}


def _rules(policy: CompiledPolicy, tenant: str | None, department: str | None) -> UploadRules:
    doc = policy.document
    rules = _merge(UploadRules(), doc.defaults.uploads, "defaults")
    tp = doc.tenants.get(tenant) if tenant is not None else None
    if tp is None:
        return rules
    rules = _merge(rules, tp.uploads, f"tenant:{tenant}")
    dept = tp.departments.get(department) if department is not None else None
    if dept is not None:
        rules = _merge(rules, dept.uploads, f"tenant:{tenant}/dept:{department}")
    return rules


def _size(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def judge_file(
    rules: UploadRules, kind: str, size: int, *, announced: bool = False
) -> FileVerdict | None:
    """Whether a file of ``kind`` and ``size`` is refused before its text is read; for an
    announcement (``announced``: the kind is a guess from the name) an unknown kind
    (``binary``) is not judged by type, as the bytes are sniffed when they come."""
    where = f"{rules.layer}/uploads"
    if rules.action == "block":
        return FileVerdict(
            f"{where}/action", "Uploading files to AI services is turned off by policy."
        )
    if rules.max_bytes is not None and size > rules.max_bytes:
        return FileVerdict(
            f"{where}/max_bytes",
            f"The file is {_size(size)}; files up to {_size(rules.max_bytes)} may be uploaded.",
        )
    if announced and kind == "binary":
        return None
    if kind in rules.blocked_types:
        return FileVerdict(
            f"{where}/blocked_types", f"Files of type {kind} may not be uploaded to AI services."
        )
    if rules.allowed_types is not None and kind not in rules.allowed_types:
        allowed = ", ".join(sorted(rules.allowed_types)) or "none"
        return FileVerdict(
            f"{where}/allowed_types",
            f"Files of type {kind} may not be uploaded; allowed types: {allowed}.",
        )
    return None


def judge_scan(
    rules: UploadRules,
    unreadable: str | None,
    blocked_types: frozenset[str],
    found_types: frozenset[str],
) -> FileVerdict | None:
    """Whether a file is refused after extraction and scan: its text could not be had
    (``unreadable``: the reason), the profile blocks a type found, or the policy blocks
    any finding."""
    where = f"{rules.layer}/uploads"
    if unreadable is not None:
        if rules.unreadable == "allow":
            return None
        return FileVerdict(
            f"{where}/unreadable",
            f"The file could not be checked for sensitive data: {unreadable}.",
        )
    if blocked_types:
        types = ", ".join(sorted(blocked_types))
        return FileVerdict(
            "dlp/blocked", f"The file contains {types}, which must not be sent to AI services."
        )
    if found_types and rules.findings == "block":
        types = ", ".join(sorted(found_types))
        return FileVerdict(
            f"{where}/findings",
            f"The file contains {types}; files with sensitive data may not be uploaded.",
        )
    return None
