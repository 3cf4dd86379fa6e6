"""Policy decisions: ``compile`` a document once, then ``decide`` per request, purely.

Order of evaluation for a principal of tenant T (the layers that apply to them, from
general to specific: defaults, tenant, department, groups, roles, user):

1. secure defaults, before any rule: no tenant or an unknown one → block; anonymous →
   block unless T allows anonymous; a request with a body the adapter could not read
   (``parsed=False``) → block unless T allows unparsed traffic. A request without a body
   (a web app's page load) carries no text, so it goes on to the rules. A side call
   (``providers.sidecalls``: token counting, telemetry, model listing, client bootstrap)
   whose kind the principal's department, T or the defaults set to ``block`` in
   ``side_calls`` → block (``SIDE_CALL_DEFAULTS`` where none of them says); an allowed
   side call goes on to the rules like any request (its text, if any, is scanned). A web
   app's companion call (kind ``companion``: pre-flight, conversation creation, listing,
   settings) is decided the same way by ``companion_calls`` per service (default allow).
2. ``enforce: true`` rules, general → specific: a tenant-wide rule no department or
   user can override.
3. every other rule, specific → general: user exceptions first, then roles, groups
   (in the tenant's declared order), department, tenant, defaults.
4. no rule matched: T's ``default_action`` (block unless configured otherwise).

The first matching rule decides. When T lists ``models``, a decision that would let a
model outside the list through is turned into a block unless the deciding rule names
the model itself (``tenant:T/models``). Rules that depend on DLP findings are PENDING
before the DLP stage ran: they are skipped and the decision says ``dlp_pending`` so the
caller scans and decides again with the entity types found.

Over 400 lines: compile and decide are one algorithm (layers, side calls, defaults); the
matching itself is in rules/globs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final

from ..providers.companions import COMPANION_SERVICES
from ..providers.sidecalls import side_call_of
from .document import CompanionCalls, PolicyDocument, Rule, SideCalls
from .durations import parse_duration
from .facts import PrincipalFacts, RequestFacts
from .globs import Matcher, compile_globs
from .limits import TenantLimits, tenant_limits
from .loader import policy_version
from .rules import MATCH, PENDING, CompiledRule

__all__ = [
    "CompiledPolicy",
    "CompiledTenant",
    "Layer",
    "PolicyDecision",
    "compile",
    "compile_policy",
    "decide",
]

#: What each side-call kind may do when no layer of the policy says (``side_calls``).
#: Token counting carries the prompt and is scanned like one, so it is as safe as the
#: prompt it counts; model listings and client bootstrap carry no body. Telemetry is
#: blocked: it is not needed for any work, and what it holds is the client's choice
#: (allowed, every string of it is scanned).
SIDE_CALL_DEFAULTS: Final[Mapping[str, str]] = {
    "token_count": "allow",
    "telemetry": "block",
    "model_list": "allow",
    "bootstrap": "allow",
}
#: Companion calls of each web app, when no layer says (``companion_calls``): they are
#: what the app needs to hold a conversation, and every string they carry is scanned.
COMPANION_CALL_DEFAULT: Final = "allow"
SIDE_CALL_WORDS: Final[Mapping[str, str]] = {
    "token_count": "Token counting",
    "telemetry": "Usage telemetry from AI clients",
    "model_list": "Listing models",
    "bootstrap": "Client start-up settings",
}

NO_TENANT = "policy/no-tenant"
UNKNOWN_TENANT = "policy/unknown-tenant"


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    """What the policy decided for one request, and why; all of it goes to the audit record.

    ``reason`` is policy text (the rule's ``reason`` or a fixed sentence), never request
    content. ``dlp_profile``: for ``redact``, the profile to apply; with ``dlp_pending``,
    the profile to scan with before deciding again. ``matched_path``: the layers
    consulted in order (a layer's pass over its ``enforce: true`` rules is named with a
    trailing ``!``), then the deciding rule's id. ``entities``: the DLP entity types that
    made the deciding rule match (types only).
    """

    action: str
    rule_id: str
    policy_version: str
    reason: str
    dlp_profile: str | None = None
    logging: str = "metadata"
    coach_message: str | None = None
    coach_period_s: int | None = None
    matched_path: tuple[str, ...] = ()
    dlp_pending: bool = False
    entities: tuple[str, ...] = ()
    #: The deciding rule asks for sealed evidence of this flow (``evidence: capture``).
    evidence: bool = False


@dataclass(frozen=True, slots=True)
class Layer:
    """The rules of one layer, split into enforced ones and the others."""

    name: str
    enforced: tuple[CompiledRule, ...]
    normal: tuple[CompiledRule, ...]

    @property
    def enforced_name(self) -> str:
        """How ``matched_path`` names this layer's pass over its enforced rules."""
        return f"{self.name}!"

    @property
    def rules(self) -> tuple[CompiledRule, ...]:
        """All rules of the layer in document order."""
        return tuple(sorted((*self.enforced, *self.normal), key=lambda r: r.index))


@dataclass(frozen=True, slots=True)
class CompiledTenant:
    id: str
    name: str
    default_action: str
    logging: str
    allow_unparsed: bool
    allow_anonymous: bool
    models: Matcher | None
    model_patterns: tuple[str, ...] | None
    scan_profile: str | None
    head: tuple[Layer, ...]  # defaults, tenant
    departments: dict[str, Layer]
    groups: tuple[tuple[str, Layer], ...]
    roles: tuple[tuple[str, frozenset[str], Layer], ...]
    users: dict[str, Layer]
    limits: TenantLimits
    anonymous: PolicyDecision
    unparsed: PolicyDecision
    default_rule: str
    #: Per side-call kind, the block decision when the tenant blocks it (else ``None``).
    side_calls: Mapping[str, PolicyDecision | None] = field(default_factory=dict)
    #: The same for departments that set ``side_calls`` themselves.
    department_side_calls: Mapping[str, Mapping[str, PolicyDecision | None]] = field(
        default_factory=dict
    )

    def side_call_block(self, kind: str, department: str | None) -> PolicyDecision | None:
        """The block decision for a side call of ``kind`` (a web app's companion calls:
        ``companion:<service id>``), or ``None`` when it may go on."""
        if department is not None:
            own = self.department_side_calls.get(department)
            if own is not None:
                return own.get(kind)
        return self.side_calls.get(kind)

    def roles_of(self, principal: PrincipalFacts) -> tuple[str, ...]:
        """Roles the principal holds here: given ones and those its groups map to."""
        given, groups = principal.roles, principal.groups
        return tuple(
            name
            for name, members, _ in self.roles
            if name in given or not members.isdisjoint(groups)
        )

    def layers_for(self, principal: PrincipalFacts) -> list[Layer]:
        """The layers that apply to ``principal``, general → specific."""
        layers = list(self.head)
        dept = principal.department
        if dept is not None:
            layer = self.departments.get(dept)
            if layer is not None:
                layers.append(layer)
        groups = principal.groups
        if groups:
            layers.extend(layer for name, layer in self.groups if name in groups)
        given = principal.roles
        if self.roles and (groups or given):
            layers.extend(
                layer
                for name, members, layer in self.roles
                if name in given or not members.isdisjoint(groups)
            )
        subject = principal.subject
        if subject is not None:
            layer = self.users.get(subject)
            if layer is not None:
                layers.append(layer)
        return layers


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """A validated document made ready for ``decide``; immutable, shared across threads."""

    version: str
    document: PolicyDocument
    tenants: dict[str, CompiledTenant]
    no_tenant: PolicyDecision = field(repr=False)
    unknown_tenant: PolicyDecision = field(repr=False)

    def rules(self) -> Iterator[CompiledRule]:
        """Every compiled rule once, layer by layer."""
        seen: set[str] = set()
        for t in self.tenants.values():
            for layer in _all_layers(t):
                for rule in layer.rules:
                    if rule.id not in seen:
                        seen.add(rule.id)
                        yield rule


def compile_policy(document: PolicyDocument) -> CompiledPolicy:
    """Precompute, per tenant, the layers, their ordered rules and glob matchers."""
    version = policy_version(document)
    d = document.defaults
    coach_default = parse_duration(d.coach_period)
    tenants: dict[str, CompiledTenant] = {}
    for tid, tp in document.tenants.items():
        name = f"tenant:{tid}"
        logging = tp.logging or d.logging
        models = tp.models if tp.models is not None else d.models

        def layer(layer_name: str, rules: tuple[Rule, ...], logging: str = logging) -> Layer:
            compiled = [
                CompiledRule(r, i, layer_name, logging, coach_default)
                for i, r in enumerate(rules, 1)
            ]
            return Layer(
                layer_name,
                tuple(r for r in compiled if r.enforce),
                tuple(r for r in compiled if not r.enforce),
            )

        tenants[tid] = CompiledTenant(
            id=tid,
            name=name,
            default_action=tp.default_action or d.default_action,
            logging=logging,
            allow_unparsed=_pick(tp.allow_unparsed, d.allow_unparsed),
            allow_anonymous=_pick(tp.allow_anonymous, d.allow_anonymous),
            models=compile_globs(models) if models is not None else None,
            model_patterns=models,
            scan_profile=tp.scan_profile or d.scan_profile,
            head=(layer("defaults", d.rules), layer(name, tp.rules)),
            departments={k: layer(f"{name}/dept:{k}", v.rules) for k, v in tp.departments.items()},
            groups=tuple((k, layer(f"{name}/group:{k}", v.rules)) for k, v in tp.groups.items()),
            roles=tuple(
                (k, frozenset(v.groups), layer(f"{name}/role:{k}", v.rules))
                for k, v in tp.roles.items()
            ),
            users={k: layer(f"{name}/user:{k}", v.rules) for k, v in tp.users.items()},
            limits=tenant_limits(document, tp),
            anonymous=PolicyDecision(
                "block",
                f"{name}/anonymous",
                version,
                "Requests without a signed-in user are not allowed here; sign in through "
                "the portal (browser) or with `warden login` (terminal) and try again.",
                logging=logging,
                matched_path=(name, f"{name}/anonymous"),
            ),
            unparsed=PolicyDecision(
                "block",
                f"{name}/unparsed",
                version,
                "The gateway cannot read the content of this request, and content it "
                "cannot check may not leave.",
                logging=logging,
                matched_path=(name, f"{name}/unparsed"),
            ),
            default_rule=f"{name}/default",
            side_calls=_side_calls(
                name,
                version,
                logging,
                (d.side_calls, tp.side_calls),
                (d.companion_calls, tp.companion_calls),
            ),
            department_side_calls={
                k: _side_calls(
                    f"{name}/dept:{k}",
                    version,
                    logging,
                    (d.side_calls, tp.side_calls, v.side_calls),
                    (d.companion_calls, tp.companion_calls, v.companion_calls),
                )
                for k, v in tp.departments.items()
                if v.side_calls or v.companion_calls
            },
        )
    return CompiledPolicy(
        version,
        document,
        tenants,
        no_tenant=PolicyDecision(
            "block",
            NO_TENANT,
            version,
            "This request could not be attributed to a tenant; sign in and try again.",
            matched_path=("policy", NO_TENANT),
        ),
        unknown_tenant=PolicyDecision(
            "block",
            UNKNOWN_TENANT,
            version,
            "There is no policy for your organisation on this gateway, so nothing is allowed.",
            matched_path=("policy", UNKNOWN_TENANT),
        ),
    )


def _side_calls(
    layer: str,
    version: str,
    logging: str,
    settings: tuple[SideCalls, ...],
    companions: tuple[CompanionCalls, ...] = (),
) -> dict[str, PolicyDecision | None]:
    """Per side-call kind (and ``companion:<service>``): ``None`` (allowed: on to the
    rules) or the block decision. ``settings`` and ``companions`` go from general to
    specific; the most specific one that names a kind or service decides it."""
    chosen: dict[str, str] = {}
    for setting in settings:
        for kind, action in setting.items():
            chosen[kind] = action
    out: dict[str, PolicyDecision | None] = {}
    picked: dict[str, str] = {}
    for companion in companions:
        for service_id, action in companion.items():
            picked[service_id] = action
    for service in COMPANION_SERVICES:
        if picked.get(service, COMPANION_CALL_DEFAULT) != "block":
            out[f"companion:{service}"] = None
            continue
        rule_id = f"{layer}/companion_calls/{service}"
        out[f"companion:{service}"] = PolicyDecision(
            "block",
            rule_id,
            version,
            f"The calls {service} makes beside your conversations (pre-flight, creating and "
            f"listing conversations, settings) are turned off by policy (companion_calls: "
            f"{service}: block), so the app cannot be used here.",
            logging=logging,
            matched_path=(layer, rule_id),
        )
    for key in SIDE_CALL_DEFAULTS:
        if chosen.get(key, SIDE_CALL_DEFAULTS[key]) != "block":
            out[key] = None
            continue
        rule_id = f"{layer}/side_calls/{key}"
        out[key] = PolicyDecision(
            "block",
            rule_id,
            version,
            f"{SIDE_CALL_WORDS[key]} is turned off by policy (side_calls: {key}: block); "
            "this does not stop your prompts.",
            logging=logging,
            matched_path=(layer, rule_id),
        )
    return out


#: The brief's name; ``compile_policy`` does not shadow the builtin where that matters.
compile = compile_policy


def _passes(layers: list[Layer]) -> Iterator[tuple[str, tuple[CompiledRule, ...]]]:
    """The passes ``decide`` makes (steps 2 and 3 of the module doc), each named as
    ``matched_path`` names it; a layer with no rules for a pass is not visited by it."""
    for layer in layers:
        if layer.enforced:
            yield layer.enforced_name, layer.enforced
    for layer in reversed(layers):
        if layer.normal:
            yield layer.name, layer.normal


def decide(
    policy: CompiledPolicy, principal: PrincipalFacts, request: RequestFacts
) -> PolicyDecision:
    """The decision for ``request`` by ``principal``; pure, no I/O (see module doc)."""
    tid = principal.tenant
    if tid is None:
        return policy.no_tenant
    t = policy.tenants.get(tid)
    if t is None:
        return policy.unknown_tenant
    if principal.subject is None and not t.allow_anonymous:
        return t.anonymous
    if not request.parsed and request.body_bytes > 0 and not t.allow_unparsed:
        return t.unparsed
    side_kind = side_call_of(request.api)
    kind = f"companion:{request.service.lower()}" if side_kind == "companion" else side_kind
    if kind is not None:
        refused = t.side_call_block(kind, principal.department)
        if refused is not None:
            return refused
    layers = t.layers_for(principal)
    provider = request.provider.lower()
    service = request.service.lower()
    host = request.host.lower()
    api = request.api.lower() if request.api is not None else None
    model = request.model.lower() if request.model is not None else None
    # A rule waiting for DLP findings matters unless the outcome is a block that every
    # waiting rule would also give (then scanning cannot change what happens).
    pending = False
    pending_may_allow = False
    visited: list[str] = []
    for name, rules in _passes(layers):
        visited.append(name)
        for rule in rules:
            verdict = rule.test(request, provider, service, host, api, model)
            if verdict == MATCH:
                waits = pending and (pending_may_allow or rule.action != "block")
                return _decided(policy, t, rule, request, model, visited, waits)
            if verdict == PENDING:
                pending = True
                pending_may_allow = pending_may_allow or rule.action != "block"
    waits = pending and (pending_may_allow or t.default_action != "block")
    return _default(policy, t, model, visited, waits)


def _decided(
    policy: CompiledPolicy,
    t: CompiledTenant,
    rule: CompiledRule,
    request: RequestFacts,
    model: str | None,
    visited: list[str],
    pending: bool,
) -> PolicyDecision:
    if rule.action != "block" and rule.model is None and _unlisted(t, model):
        return _unlisted_model(policy, t, visited, pending)
    visited.append(rule.id)
    return PolicyDecision(
        rule.action,
        rule.id,
        policy.version,
        rule.reason,
        rule.dlp_profile or (t.scan_profile if pending else None),
        rule.logging,
        rule.coach_message,
        rule.coach_period_s,
        tuple(visited),
        pending,
        rule.matched_entities(request) if rule.entities is not None else (),
        rule.evidence,
    )


def _unlisted(t: CompiledTenant, model: str | None) -> bool:
    return t.models is not None and model is not None and not t.models(model)


def _unlisted_model(
    policy: CompiledPolicy, t: CompiledTenant, visited: list[str], pending: bool
) -> PolicyDecision:
    rule_id = f"{t.name}/models"
    return PolicyDecision(
        "block",
        rule_id,
        policy.version,
        "This model is not on your organisation's list of approved models.",
        t.scan_profile if pending else None,
        t.logging,
        matched_path=(*visited, rule_id),
        dlp_pending=pending,
    )


def _default(
    policy: CompiledPolicy,
    t: CompiledTenant,
    model: str | None,
    visited: list[str],
    pending: bool,
) -> PolicyDecision:
    if t.default_action == "allow":
        if _unlisted(t, model):
            return _unlisted_model(policy, t, visited, pending)
        reason = "No rule applies; this organisation allows such requests by default."
    else:
        reason = "No policy rule allows this request."
    return PolicyDecision(
        t.default_action,
        t.default_rule,
        policy.version,
        reason,
        t.scan_profile if pending else None,
        t.logging,
        matched_path=(*visited, t.default_rule),
        dlp_pending=pending,
    )


def _pick(value: bool | None, default: bool) -> bool:
    return default if value is None else value


def _all_layers(t: CompiledTenant) -> Iterator[Layer]:
    yield from t.head
    yield from t.departments.values()
    yield from (layer for _, layer in t.groups)
    yield from (layer for _, _, layer in t.roles)
    yield from t.users.values()
