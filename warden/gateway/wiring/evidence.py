"""Sealed evidence in a running gateway: where the keys are, and the start-up check.

Investigators' public keys are configuration, kept per tenant in an age recipients file
(``<audit.evidence.recipients_dir>/<tenant>.txt``, default under the audit folder)
rather than in the policy: the policy says *which flows* are captured, and is written by
whoever owns rules; the keys say *who can read them*, and are managed by the security
team with ``warden evidence add-recipient``. A policy that asks for evidence of a tenant
without keys does not start.
"""

from __future__ import annotations

from pathlib import Path

from warden.addons.evidence import EvidenceCapture
from warden.audit.evidence import EvidenceError
from warden.audit.evidence_store import EvidenceSealer, recipients_file
from warden.config import Config
from warden.policy.engine import CompiledPolicy, Layer


def recipients_dir(config: Config) -> Path:
    configured = config.audit.evidence.recipients_dir
    if configured is None:
        return config.audit_dir / "evidence-recipients"
    return configured if configured.is_absolute() else config.state_dir / configured


def _captures(layers: list[Layer]) -> bool:
    return any(rule.evidence for layer in layers for rule in layer.rules)


def capturing_tenants(policy: CompiledPolicy) -> list[str]:
    """Tenants for which some rule (their own, or a default) may capture evidence."""
    found = []
    for tenant_id, t in policy.tenants.items():
        layers = [
            *t.head,
            *t.departments.values(),
            *(layer for _, layer in t.groups),
            *(layer for _, _, layer in t.roles),
            *t.users.values(),
        ]
        if _captures(layers):
            found.append(tenant_id)
    return sorted(found)


def missing_keys(sealer: EvidenceSealer, tenants: list[str]) -> list[str]:
    """One sentence per tenant whose evidence could not be sealed."""
    problems = []
    for tenant in tenants:
        try:
            if not sealer.recipients(tenant):
                problems.append(
                    f"tenant {tenant!r}: a rule has 'evidence: capture' but "
                    f"{recipients_file(sealer.recipients_dir, tenant)} lists no investigator "
                    f"key; add one with `warden evidence add-recipient --tenant {tenant} age1…`"
                    " (or remove 'evidence: capture')"
                )
        except EvidenceError as exc:
            problems.append(f"tenant {tenant!r}: {exc.message} ({exc.fix})")
    return problems


def build_evidence(config: Config, db_path: Path, policy: CompiledPolicy) -> EvidenceCapture:
    """The capture stages' shared state; `SystemExit` naming every tenant without keys."""
    sealer = EvidenceSealer(db_path, recipients_dir(config), config.audit.evidence.max_bytes)
    problems = missing_keys(sealer, capturing_tenants(policy))
    if problems:
        raise SystemExit(
            "warden: sealed evidence cannot be captured:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    return EvidenceCapture(sealer)
