"""``warden policy explain``: the decision for one principal and model, and the rule path
that produced it (``trace``: every rule looked at, and why it did or did not apply).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..providers.catalog import Catalog
from .engine import CompiledPolicy, PolicyDecision, decide
from .facts import Kind, PrincipalFacts, RequestFacts
from .models import likely_destination
from .rules import DLP_NOT_YET


def explain(
    policy: CompiledPolicy,
    tenant: str,
    user: str | None,
    model: str | None,
    host: str | None = None,
    department: str | None = None,
    groups: Sequence[str] = (),
    *,
    roles: Sequence[str] = (),
    api: str | None = None,
    kind: Kind | None = None,
    body_bytes: int = 1000,
    segments: int = 1,
    entities: Sequence[str] | None = None,
    catalog: Catalog | None = None,
) -> str:
    """The decision and every rule looked at, in order; ``entities=None``: before DLP."""
    note = None
    if host is None:
        provider, service, host, guessed = likely_destination(model)
        note = f"no --host given: assuming {host} for this model"
    else:
        svc = (catalog or Catalog.default()).match(host)
        if svc is None:
            provider, service, guessed = "unknown", "unknown", "api"
            note = f"{host} is not in the LLM catalog: the gateway would not intercept it"
        else:
            provider, service, guessed = svc.provider, svc.id, svc.kind
    principal = PrincipalFacts(tenant, user, department, tuple(groups), tuple(roles))
    request = RequestFacts(
        provider,
        service,
        host,
        kind or guessed,
        api,
        model,
        True,
        body_bytes,
        segments,
        frozenset(entities) if entities is not None else None,
    )
    decision, steps = trace(policy, principal, request)
    t = policy.tenants.get(tenant)
    held = ", ".join(t.roles_of(principal)) if t else ""
    lines = [
        f"decision:  {decision.action.upper()}",
        f"rule:      {decision.rule_id}",
        f"reason:    {decision.reason}",
        f"policy:    {decision.policy_version}",
        f"logging:   {decision.logging}",
    ]
    if decision.evidence:
        lines.append("evidence:  capture (sealed to the tenant's investigators)")
    if decision.dlp_profile:
        lines.append(f"dlp:       {decision.dlp_profile}")
    if decision.coach_message:
        lines.append(f"coach:     {decision.coach_message} (every {decision.coach_period_s} s)")
    if decision.dlp_pending:
        lines.append("pending:   rules depending on DLP findings; pass --entities to decide them")
    lines += [
        "",
        f"principal: tenant={tenant} user={user or '(anonymous)'} "
        f"department={department or '-'} groups=[{', '.join(groups)}] roles=[{held}]",
        f"request:   provider={provider} service={service} host={host} kind={request.kind} "
        f"api={api or '-'} model={model or '-'} "
        f"entities={'(DLP not run)' if entities is None else '[' + ', '.join(entities) + ']'}",
    ]
    if note:
        lines.append(f"note:      {note}")
    lines += ["", "path:      " + " → ".join(decision.matched_path)]
    layer = None
    for step in steps:
        name = step.layer + (" (enforced rules)" if step.enforced else "")
        if name != layer:
            lines.append(f"  {name}")
            layer = name
        mark = {"match": "MATCH", "pending": "wait ", "skip": "skip "}[step.outcome]
        why = f"  ({step.why})" if step.why else ""
        lines.append(f"    {mark} {step.rule_id} → {step.action}{why}")
    if decision.rule_id.endswith(("/default", "/models", "/unparsed", "/anonymous")) or (
        decision.rule_id.startswith("policy/")
        or "/side_calls/" in decision.rule_id
        or "/companion_calls/" in decision.rule_id
    ):
        lines.append(f"  built-in: {decision.rule_id} → {decision.action}")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class TraceStep:
    """One rule looked at while deciding: its layer, whether it matched, and why not."""

    layer: str
    rule_id: str
    action: str
    enforced: bool
    outcome: str  # "match", "pending" or "skip"
    why: str | None


def trace(
    policy: CompiledPolicy, principal: PrincipalFacts, request: RequestFacts
) -> tuple[PolicyDecision, list[TraceStep]]:
    """``decide`` plus every rule examined on the way, for ``explain`` (not the hot path)."""
    decision = decide(policy, principal, request)
    steps: list[TraceStep] = []
    t = policy.tenants.get(principal.tenant or "")
    if t is None or decision.rule_id in (t.anonymous.rule_id, t.unparsed.rule_id):
        return decision, steps
    if "/side_calls/" in decision.rule_id or "/companion_calls/" in decision.rule_id:
        return decision, steps  # decided by the side_calls setting, before any rule
    layers = t.layers_for(principal)
    order = [(layer, True) for layer in layers] + [(layer, False) for layer in reversed(layers)]
    for layer, enforced in order:
        for rule in layer.enforced if enforced else layer.normal:
            why = rule.mismatch(request)
            pending = why is not None and why.startswith(DLP_NOT_YET)
            outcome = "match" if why is None else "pending" if pending else "skip"
            steps.append(TraceStep(layer.name, rule.id, rule.action, enforced, outcome, why))
            if rule.id == decision.rule_id or (
                why is None and decision.rule_id == f"{t.name}/models"
            ):
                return decision, steps
    return decision, steps
