"""``warden policy check``: validation problems and lint findings of a policy document.

Findings: ``invalid``/``yaml``/``duplicate-id``/``unknown-dlp-profile`` (errors: the
document cannot be loaded), ``unreachable-rule`` (after a catch-all of the same layer),
``shadowed-rule`` (an earlier rule of the same layer matches everything it matches),
``unknown-model`` (a model pattern matching no known model: a warning), ``no-tenants``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .document import Match, PolicyDocument, Rule
from .globs import glob_covers, globs_overlap
from .loader import PolicyError, iter_rules, load_policy, reference_issues
from .models import KNOWN_MODELS

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Finding:
    severity: Severity
    code: str
    path: str
    message: str
    rule_id: str | None = None

    def __str__(self) -> str:
        rule = f" [{self.rule_id}]" if self.rule_id else ""
        return f"{self.severity}: {self.path}{rule}: {self.message} ({self.code})"


def check(
    document: PolicyDocument | str | Mapping[str, Any],
    known_models: Collection[str] | None = None,
) -> list[Finding]:
    """Every finding for ``document`` (text, mapping or validated), errors first.

    ``known_models``: globs or names of the models to accept; default ``KNOWN_MODELS``.
    """
    if not isinstance(document, PolicyDocument):
        try:
            document = load_policy(document)
        except PolicyError as exc:
            return [Finding("error", i.code, i.path, i.message) for i in exc.issues]
    findings = [Finding("error", i.code, i.path, i.message) for i in reference_issues(document)]
    findings += _layer_findings(document)
    findings += _model_findings(document, tuple(known_models or KNOWN_MODELS))
    if not document.tenants:
        findings.append(
            Finding(
                "warning", "no-tenants", "tenants", "no tenant has a policy: every flow is blocked"
            )
        )
    return sorted(findings, key=lambda f: f.severity != "error")


def _layer_findings(doc: PolicyDocument) -> list[Finding]:
    layers: dict[str, list[tuple[str, str, Rule]]] = {}
    for layer, path, i, rule in iter_rules(doc):
        layers.setdefault(layer, []).append((rule.id or f"{layer}/{i}", f"{path}[{i - 1}]", rule))
    findings = []
    for rules in layers.values():
        for j, (jid, jpath, later) in enumerate(rules):
            for iid, _, earlier in rules[:j]:
                # Enforced rules run in a pass of their own before the others, so an
                # ordinary rule never hides an enforced one.
                if later.enforce and not earlier.enforce:
                    continue
                if _catch_all(earlier.match):
                    findings.append(
                        Finding(
                            "warning",
                            "unreachable-rule",
                            jpath,
                            f"never applies: rule {iid} earlier in this layer matches everything",
                            jid,
                        )
                    )
                    break
                if _covers(earlier.match, later.match):
                    findings.append(
                        Finding(
                            "warning",
                            "shadowed-rule",
                            jpath,
                            f"never applies: rule {iid} before it matches every request it matches",
                            jid,
                        )
                    )
                    break
    return findings


def _model_findings(doc: PolicyDocument, known: tuple[str, ...]) -> list[Finding]:
    found: list[Finding] = []

    def look(patterns: tuple[str, ...] | None, path: str, rule_id: str | None) -> None:
        for k, pattern in enumerate(patterns or ()):
            if not any(globs_overlap(pattern, m) for m in known):
                found.append(
                    Finding(
                        "warning",
                        "unknown-model",
                        f"{path}[{k}]",
                        f"{pattern!r} matches no known model (a typo? see policy/models.py)",
                        rule_id,
                    )
                )

    look(doc.defaults.models, "defaults.models", None)
    for tid, tenant in doc.tenants.items():
        look(tenant.models, f"tenants.{tid}.models", None)
    for layer, path, i, rule in iter_rules(doc):
        look(rule.match.model, f"{path}[{i - 1}].match.model", rule.id or f"{layer}/{i}")
    return found


def _catch_all(m: Match) -> bool:
    return not m.model_dump(exclude_none=True)


def _covers(general: Match, specific: Match) -> bool:
    """Whether every request ``specific`` matches is matched by ``general``."""
    if general.kind is not None and general.kind != specific.kind:
        return False
    for name in ("provider", "service", "host", "api", "model", "entities"):
        g, s = getattr(general, name), getattr(specific, name)
        if g is None:
            continue
        if s is None or not all(any(glob_covers(gp, sp) for gp in g) for sp in s):
            return False
    for lo in ("min_bytes", "min_segments"):
        g, s = getattr(general, lo), getattr(specific, lo)
        if g is not None and (s is None or s < g):
            return False
    for hi in ("max_bytes", "max_segments"):
        g, s = getattr(general, hi), getattr(specific, hi)
        if g is not None and (s is None or s > g):
            return False
    return True
