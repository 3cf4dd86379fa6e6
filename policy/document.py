"""The policy document's schema: rules, layers (defaults, tenant, department, group, role,
user), settings and quotas, as strict pydantic models (unknown keys are errors).

Structure only; ``loader`` parses YAML, collects every error with its path and checks
the references between parts (DLP profiles, known tenants and departments).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from .durations import parse_duration
from .uploads import UploadSettings

Action = Literal["allow", "block", "redact", "coach"]
LogLevel = Literal["metadata", "redacted", "full-redacted-body"]
#: ``capture``: seal the original request and its answer to the tenant's investigators.
EvidenceMode = Literal["capture", "none"]
DefaultAction = Literal["allow", "block"]
#: What a side call of a kind may do (``providers.sidecalls``): go on to the rules, or not.
SideCallAction = Literal["allow", "block"]
SideCallKind = Literal["token_count", "telemetry", "model_list", "bootstrap"]
#: ``side_calls: {telemetry: block, token_count: allow}``: a setting left out inherits
#: the layer above (department → tenant → defaults → the built-in defaults).
SideCalls = dict[SideCallKind, SideCallAction]
#: The web apps with companion calls (``providers.companions``): pre-flight, conversation
#: creation and listing, settings. ``companion_calls: {chatgpt-web: allow, gemini-web:
#: block}``: allowed calls go on to the rules (every string of their bodies is scanned);
#: a service left out inherits the layer above (built-in default: allow).
CompanionService = Literal["chatgpt-web", "claude-web", "gemini-web"]
CompanionCalls = dict[CompanionService, SideCallAction]

_RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,119}$")
_TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_NAME = re.compile(r"^[^\s/][^/]{0,199}$")


def _one_or_many(v: object) -> object:
    """Accept ``model: gpt-4o`` as well as ``model: [gpt-4o, o3*]``."""
    return (v,) if isinstance(v, str) else v


Patterns = Annotated[
    tuple[Annotated[str, Field(min_length=1, max_length=200)], ...],
    BeforeValidator(_one_or_many),
    Field(min_length=1),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Match(_Strict):
    """What a rule applies to; every condition given must hold (an empty match: everything).

    Lists mean any-of. ``host``, ``model``, ``api``, ``service``, ``provider`` and
    ``entities`` take case-insensitive globs. Sizes are inclusive bounds.
    """

    provider: Patterns | None = None
    service: Patterns | None = None
    host: Patterns | None = None
    kind: Literal["api", "webapp"] | None = None
    api: Patterns | None = None
    model: Patterns | None = None
    min_bytes: int | None = Field(None, ge=0)
    max_bytes: int | None = Field(None, ge=0)
    min_segments: int | None = Field(None, ge=0)
    max_segments: int | None = Field(None, ge=0)
    #: DLP entity types found in the request (any of); decided after the DLP stage ran.
    entities: Patterns | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Match:
        for lo, hi in (("min_bytes", "max_bytes"), ("min_segments", "max_segments")):
            a, b = getattr(self, lo), getattr(self, hi)
            if a is not None and b is not None and a > b:
                raise ValueError(f"{lo} ({a}) is larger than {hi} ({b})")
        return self


class Coach(_Strict):
    """The warning a user acknowledges once per ``period`` before the flow proceeds."""

    message: str = Field(min_length=1, max_length=2000)
    period: str = "P1D"

    @field_validator("period")
    @classmethod
    def _period(cls, v: str) -> str:
        parse_duration(v)
        return v.strip().upper()

    @property
    def period_s(self) -> int:
        return parse_duration(self.period)


def _coach_shorthand(v: object) -> object:
    return {"message": v} if isinstance(v, str) else v


class Rule(_Strict):
    """One rule: when ``match`` holds, ``action`` decides.

    ``id`` is stable for audit records; without one the rule gets its place as id
    (``tenant:acme/dept:eng/2``, counted from 1), which changes when rules move.
    ``enforce: true`` puts a rule ahead of every more specific layer (a department or
    user rule cannot override it); otherwise the most specific layer speaks first.
    """

    id: str | None = None
    match: Match = Match()
    action: Action
    #: Shown to the user and recorded: policy text only, never request content.
    reason: str | None = Field(None, min_length=1, max_length=500)
    dlp_profile: str | None = Field(None, min_length=1, max_length=100)
    coach: Annotated[Coach | None, BeforeValidator(_coach_shorthand)] = None
    logging: LogLevel | None = None
    #: ``capture`` seals the original request and answer to the tenant's investigators'
    #: public keys (audit.evidence in the config); ``none`` (the default) keeps nothing.
    evidence: EvidenceMode = "none"
    enforce: bool = False

    @field_validator("evidence", mode="before")
    @classmethod
    def _evidence(cls, v: object) -> object:
        if v not in ("capture", "none"):
            raise ValueError(
                f"evidence {v!r} is not known: 'capture' seals the original request and "
                "answer to the tenant's investigators' keys, 'none' (the default) keeps nothing"
            )
        return v

    @field_validator("id")
    @classmethod
    def _id(cls, v: str | None) -> str | None:
        if v is not None and not _RULE_ID.match(v):
            raise ValueError(
                "a rule id is letters, digits and '_ . : @ / -' (at most 120), e.g. 'eng-no-o1'"
            )
        return v

    @model_validator(mode="after")
    def _action_needs(self) -> Rule:
        if self.action == "redact" and self.dlp_profile is None:
            raise ValueError("action 'redact' needs 'dlp_profile' (the DLP profile id to apply)")
        if self.action != "redact" and self.dlp_profile is not None:
            raise ValueError("'dlp_profile' belongs to action 'redact' only")
        if self.action == "coach" and self.coach is None:
            raise ValueError("action 'coach' needs 'coach: {message: ..., period: P1D}'")
        if self.action != "coach" and self.coach is not None:
            raise ValueError("'coach' belongs to action 'coach' only")
        return self


Rules = tuple[Rule, ...]


class Limits(_Strict):
    """Quota limits; an absent field inherits, an explicit ``null`` means unlimited."""

    requests_per_minute: int | None = Field(None, ge=1)
    tokens_per_day: int | None = Field(None, ge=1)
    tokens_per_month: int | None = Field(None, ge=1)


class QuotaSettings(_Strict):
    per_user: Limits | None = None
    per_department: Limits | None = None
    per_tenant: Limits | None = None


class DepartmentQuotas(_Strict):
    #: Limits for each user of this department (over the tenant's ``per_user``).
    per_user: Limits | None = None
    #: Limits for this department as a whole (over the tenant's ``per_department``).
    department: Limits | None = None


class GroupLayer(_Strict):
    rules: Rules = ()


class DepartmentLayer(_Strict):
    rules: Rules = ()
    quotas: DepartmentQuotas | None = None
    #: Side calls this department may make, over the tenant's ``side_calls``.
    side_calls: SideCalls = {}
    #: Web-app companion calls this department may make, over the tenant's.
    companion_calls: CompanionCalls = {}
    #: File uploads of this department, over the tenant's ``uploads`` (policy/uploads.py).
    uploads: UploadSettings | None = None


class RoleLayer(_Strict):
    """A role: who holds it (members of ``groups``) and the rules that apply to them."""

    groups: tuple[Annotated[str, Field(min_length=1, max_length=200)], ...] = ()
    rules: Rules = ()


class UserLayer(_Strict):
    """Exceptions for one user, keyed by the principal's subject (``sub``)."""

    rules: Rules = ()
    quotas: Limits | None = None


class _Settings(_Strict):
    #: Globs of the models this tenant may use; a model outside them is denied unless
    #: the deciding rule names it. ``None``: no model list.
    models: Patterns | None = None
    #: DLP profile used to look for entities when a rule depends on findings.
    scan_profile: str | None = Field(None, min_length=1, max_length=100)
    #: Side calls (token counting, telemetry, model listing, client bootstrap) allowed to
    #: go on to the rules or blocked before them; see ``engine.SIDE_CALL_DEFAULTS``.
    side_calls: SideCalls = {}
    #: Web-app companion calls per service (``CompanionCalls``), allowed or blocked.
    companion_calls: CompanionCalls = {}
    #: File uploads: scanned, allowed, blocked, by type and size (policy/uploads.py).
    uploads: UploadSettings | None = None


class Defaults(_Settings):
    """Settings every tenant inherits, and rules evaluated after the tenant's own."""

    default_action: DefaultAction = "block"
    logging: LogLevel = "metadata"
    allow_unparsed: bool = False
    allow_anonymous: bool = False
    coach_period: str = "P1D"
    quotas: QuotaSettings | None = None
    rules: Rules = ()

    @field_validator("coach_period")
    @classmethod
    def _period(cls, v: str) -> str:
        parse_duration(v)
        return v.strip().upper()


def _name(v: str) -> str:
    if not _NAME.match(v):
        raise ValueError(f"{v!r}: a name is non-empty, without '/' and without leading space")
    return v


def _tenant_id(v: str) -> str:
    if not _TENANT_ID.match(v):
        raise ValueError(f"{v!r}: a tenant id is lowercase letters, digits, '-' or '_'")
    return v


Name = Annotated[str, AfterValidator(_name)]
TenantId = Annotated[str, AfterValidator(_tenant_id)]


class TenantPolicy(_Settings):
    """One tenant's policy; a setting left out inherits ``defaults``."""

    default_action: DefaultAction | None = None
    logging: LogLevel | None = None
    allow_unparsed: bool | None = None
    allow_anonymous: bool | None = None
    quotas: QuotaSettings | None = None
    rules: Rules = ()
    departments: dict[Name, DepartmentLayer] = {}
    groups: dict[Name, GroupLayer] = {}
    roles: dict[Name, RoleLayer] = {}
    users: dict[Name, UserLayer] = {}


class PolicyDocument(_Strict):
    """The whole policy: declared DLP profiles, defaults and tenants."""

    #: The DLP profile ids rules may name (the DLP configuration defines them).
    dlp_profiles: tuple[Annotated[str, Field(min_length=1, max_length=100)], ...] = ()
    defaults: Defaults = Defaults()
    tenants: dict[TenantId, TenantPolicy] = {}
