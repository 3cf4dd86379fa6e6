"""The audit record (schema version 1): what one flow, login or admin action leaves behind.

A record holds who (principal), where (destination), what was decided and why (decision),
what DLP found (entity types and counts, never the values), usage, timing and the
outcome. ``tenant`` is top level; events without a tenant use ``_system``. Times are UTC
strings with milliseconds (``2025-01-31T12:00:00.123Z``) and durations are whole
milliseconds: no floats anywhere, so the canonical encoding is the same in every language.

Records validate on construction and raise `AuditRecordError` naming the field. The
prompt is stored only when the caller passes it, and the caller passes it redacted.
``to_dict``/``from_dict`` are exact inverses; ``from_dict`` refuses unknown or missing keys.

Over 400 lines: one dataclass per part of the schema, each checking its own fields.
"""

from __future__ import annotations

import datetime
import secrets
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Self, cast

from . import fields as f
from .errors import AuditRecordError

SCHEMA_VERSION: Final = 1
SYSTEM_TENANT: Final = "_system"
KINDS: Final = frozenset({"flow", "auth", "admin"})
API_KINDS: Final = frozenset({"api", "webapp"})
#: The outcomes a record may carry. Flow outcomes first; ``ok``/``failed``/``denied`` are
#: for auth and admin events. Add here (and tell the SIEM team) before using a new one.
OUTCOMES: Final = frozenset(
    {
        "allowed",
        "redacted",
        "blocked",
        "coached",
        "over_quota",
        "upstream_error",
        "client_abort",
        "refused_host",
        "unauthenticated",
        "dlp_error",
        "policy_error",
        "audit_error",
        "gateway_error",
        "ok",
        "failed",
        "denied",
    }
)
MAX_PROMPT_CHARS: Final = 262_144
MAX_GROUPS: Final = 128
MAX_FINDINGS: Final = 256
# Longest text per field, in characters: the schema's checks below and the flow record
# builder (audit/flowrecord.py), which fits what a client, an upstream or an IdP chose, share them.
MAX_ISSUER: Final = 512
MAX_SUBJECT: Final = 256
MAX_EMAIL: Final = 320  # RFC 5321's path limit
MAX_DEPARTMENT: Final = 128
MAX_GROUP: Final = 256
MAX_SESSION_ID: Final = 128
MAX_NAME: Final = 64  # provider, service, API, entity type
MAX_HOST: Final = 253  # a DNS name's limit
MAX_MODEL: Final = 256
MAX_RULE_ID: Final = 128
MAX_POLICY_VERSION: Final = 128
MAX_REASON: Final = 1024
MAX_SEGMENT: Final = 256
MAX_REQUEST_ID: Final = 128
#: Named limits of the ``request`` part (what the HTTP request line and headers said).
MAX_METHOD_CHARS: Final = 16
MAX_PATH_CHARS: Final = 2048
MAX_CLIENT_CHARS: Final = 64
MAX_CONVERSATION_CHARS: Final = 128
TRANSPORTS: Final = frozenset({"http", "websocket"})
#: Files one record may list (a multipart upload carries a few; the rest are refused).
MAX_FILES: Final = 64
FILE_VERDICTS: Final = frozenset({"allowed", "blocked"})

type Kind = Literal["flow", "auth", "admin"]
type ApiKind = Literal["api", "webapp"]
type Transport = Literal["http", "websocket"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who: ``issuer`` + ``subject`` is the identity of record (both or neither).

    Neither is set for an unauthenticated client, which is then known by address only.
    ``session_id`` is the session's public id, never its cookie or token. The record's
    part, built from the flow's ``addons.flowcontext.ResolvedPrincipal`` by ``flowrecord``.
    """

    issuer: str | None = None
    subject: str | None = None
    email: str | None = None
    department: str | None = None
    groups: tuple[str, ...] = ()
    auth_method: str | None = None
    session_id: str | None = None
    client_addr: str | None = None

    def __post_init__(self) -> None:
        f.optional_text("principal.issuer", self.issuer, max_len=MAX_ISSUER)
        f.optional_text("principal.subject", self.subject, max_len=MAX_SUBJECT)
        if (self.issuer is None) != (self.subject is None):
            raise AuditRecordError(
                "principal", "issuer and subject go together: set both or neither"
            )
        f.optional_text("principal.email", self.email, max_len=MAX_EMAIL)
        f.optional_text("principal.department", self.department, max_len=MAX_DEPARTMENT)
        object.__setattr__(
            self,
            "groups",
            f.string_tuple(
                "principal.groups", self.groups, max_items=MAX_GROUPS, max_len=MAX_GROUP
            ),
        )
        f.optional_token("principal.auth_method", self.auth_method)
        f.optional_text("principal.session_id", self.session_id, max_len=MAX_SESSION_ID)
        f.optional_ip_address("principal.client_addr", self.client_addr)


@dataclass(frozen=True, slots=True)
class Destination:
    """Where: the catalog's provider and service, the host, API or web app, and the model
    (the record's part, built from the flow's ``CatalogDestination`` by ``flowrecord``)."""

    provider: str
    service: str
    host: str
    api_kind: ApiKind
    api: str | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        f.text("destination.provider", self.provider, max_len=MAX_NAME)
        f.text("destination.service", self.service, max_len=MAX_NAME)
        f.text("destination.host", self.host, max_len=MAX_HOST)
        f.one_of("destination.api_kind", self.api_kind, API_KINDS)
        f.optional_text("destination.api", self.api, max_len=MAX_NAME)
        f.optional_text("destination.model", self.model, max_len=MAX_MODEL)


@dataclass(frozen=True, slots=True)
class Request:
    """How the flow asked: method, path (never the query: it can hold keys), transport,
    the client software (a User-Agent family such as ``openai-python/1.54``) and the
    provider's conversation id where it has one (``providers.conversations``)."""

    method: str
    path: str
    transport: Transport = "http"
    client: str | None = None
    conversation: str | None = None

    def __post_init__(self) -> None:
        f.text("request.method", self.method, max_len=MAX_METHOD_CHARS)
        f.text("request.path", self.path, max_len=MAX_PATH_CHARS)
        if "?" in self.path:
            raise AuditRecordError("request.path", "holds a query; the query is never stored")
        f.one_of("request.transport", self.transport, TRANSPORTS)
        f.optional_text("request.client", self.client, max_len=MAX_CLIENT_CHARS)
        f.optional_text("request.conversation", self.conversation, max_len=MAX_CONVERSATION_CHARS)


@dataclass(frozen=True, slots=True)
class Decision:
    """What policy decided, by which rule of which policy version, and why."""

    action: str
    rule_id: str
    policy_version: str
    reason: str | None = None

    def __post_init__(self) -> None:
        f.token("decision.action", self.action)
        f.text("decision.rule_id", self.rule_id, max_len=MAX_RULE_ID)
        f.text("decision.policy_version", self.policy_version, max_len=MAX_POLICY_VERSION)
        f.optional_text("decision.reason", self.reason, max_len=MAX_REASON, multiline=True)


@dataclass(frozen=True, slots=True)
class DlpFinding:
    """How many entities of one type DLP found in one segment. Never the values."""

    entity_type: str
    count: int
    segment: str

    def __post_init__(self) -> None:
        f.text("findings.entity_type", self.entity_type, max_len=MAX_NAME)
        f.integer("findings.count", self.count, minimum=1)
        f.text("findings.segment", self.segment, max_len=MAX_SEGMENT)


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens in and out; ``estimated`` when counted locally rather than reported upstream."""

    tokens_in: int | None = None
    tokens_out: int | None = None
    estimated: bool = False

    def __post_init__(self) -> None:
        f.optional_integer("usage.tokens_in", self.tokens_in)
        f.optional_integer("usage.tokens_out", self.tokens_out)
        f.boolean("usage.estimated", self.estimated)


@dataclass(frozen=True, slots=True)
class Timing:
    """When the flow started and how long its parts took, in whole milliseconds."""

    started_at: str | None = None
    upstream_latency_ms: int | None = None
    ttfb_ms: int | None = None
    total_ms: int | None = None

    def __post_init__(self) -> None:
        f.optional_timestamp("timing.started_at", self.started_at)
        f.optional_integer("timing.upstream_latency_ms", self.upstream_latency_ms)
        f.optional_integer("timing.ttfb_ms", self.ttfb_ms)
        f.optional_integer("timing.total_ms", self.total_ms)


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One uploaded file: its facts (name as sent, kind and media type sniffed from the
    bytes, the declared type, size, SHA-256), never its content; whether its text was
    read (``text_chars``) and what became of it (``verdict``, ``reason``). ``sha256`` is
    null for a file only announced (its bytes come in another request); ``partial``
    marks a chunk of a larger file."""

    name: str | None
    kind: str
    media_type: str
    declared_type: str | None
    size: int
    sha256: str | None
    partial: bool
    text_chars: int | None
    verdict: str
    reason: str | None = None

    def __post_init__(self) -> None:
        f.optional_text("files.name", self.name, max_len=512)
        f.token("files.kind", self.kind)
        f.text("files.media_type", self.media_type, max_len=128)
        f.optional_text("files.declared_type", self.declared_type, max_len=128)
        f.integer("files.size", self.size)
        if self.sha256 is not None and (
            len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256)
        ):
            raise AuditRecordError("files.sha256", "must be 64 lower-case hex digits or null")
        f.boolean("files.partial", self.partial)
        f.optional_integer("files.text_chars", self.text_chars)
        f.one_of("files.verdict", self.verdict, FILE_VERDICTS)
        f.optional_text("files.reason", self.reason, max_len=1024)


def format_ts(moment: datetime.datetime) -> str:
    """A timezone-aware datetime as the record's UTC string with milliseconds."""
    if moment.tzinfo is None:
        raise ValueError("audit timestamps need a timezone-aware datetime (use datetime.UTC)")
    utc = moment.astimezone(datetime.UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="milliseconds") + "Z"


def new_record_id() -> str:
    """128 random bits as 32 hex digits."""
    return secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit event. Build it with `AuditRecord.new` to get an id and the current time."""

    record_id: str
    ts: str
    kind: Kind
    tenant: str
    outcome: str
    status: int | None = None
    event: str | None = None
    principal: Principal | None = None
    destination: Destination | None = None
    decision: Decision | None = None
    findings: tuple[DlpFinding, ...] = ()
    usage: Usage | None = None
    timing: Timing | None = None
    details: Mapping[str, f.DetailValue] = field(default_factory=lambda: types.MappingProxyType({}))
    prompt: str | None = None
    request: Request | None = None
    #: Uploaded files (additive: a record without files has no ``files`` key at all, so
    #: records written before it existed keep their hash).
    files: tuple[FileRecord, ...] = ()
    #: The gateway instance whose audit writer committed the record (``fleet.instance_id``;
    #: `audit.instance`). Additive like ``files``: records written before fleets existed
    #: have no ``instance`` key and keep their hash. The writer sets it, never a client.
    instance: str | None = None

    def __post_init__(self) -> None:
        f.hex_id("record_id", self.record_id)
        f.timestamp("ts", self.ts)
        f.one_of("kind", self.kind, KINDS)
        f.tenant("tenant", self.tenant)
        f.one_of("outcome", self.outcome, OUTCOMES)
        f.optional_integer("status", self.status, minimum=100, maximum=599)
        if self.kind == "flow":
            if self.event is not None:
                raise AuditRecordError("event", "is for auth and admin records; a flow has none")
        else:
            if self.event is None:
                raise AuditRecordError(
                    "event", f"a {self.kind} record names its event, e.g. login.ok"
                )
            f.token("event", self.event)
        _instance("principal", self.principal, Principal)
        _instance("destination", self.destination, Destination)
        _instance("decision", self.decision, Decision)
        _instance("usage", self.usage, Usage)
        _instance("timing", self.timing, Timing)
        _instance("request", self.request, Request)
        if not isinstance(self.findings, tuple | list):
            raise AuditRecordError("findings", "must be a list of DlpFinding")
        if len(self.findings) > MAX_FINDINGS:
            raise AuditRecordError(
                "findings", f"has {len(self.findings)} items, the limit is {MAX_FINDINGS}"
            )
        for item in self.findings:
            _instance("findings", item, DlpFinding)
        object.__setattr__(self, "findings", tuple(self.findings))
        checked = f.details("details", self.details)
        object.__setattr__(self, "details", types.MappingProxyType(checked))
        f.optional_text("prompt", self.prompt, max_len=MAX_PROMPT_CHARS, multiline=True)
        if not isinstance(self.files, tuple | list):
            raise AuditRecordError("files", "must be a list of FileRecord")
        if len(self.files) > MAX_FILES:
            raise AuditRecordError(
                "files", f"has {len(self.files)} items, the limit is {MAX_FILES}"
            )
        for file_item in self.files:
            _instance("files", file_item, FileRecord)
        object.__setattr__(self, "files", tuple(self.files))
        f.optional_instance("instance", self.instance)

    @classmethod
    def new(
        cls,
        *,
        kind: Kind,
        tenant: str,
        outcome: str,
        now: datetime.datetime | None = None,
        **fields: Any,
    ) -> Self:
        """A record with a fresh random id, stamped ``now`` (default: the current UTC time)."""
        moment = now if now is not None else datetime.datetime.now(datetime.UTC)
        return cls(
            record_id=new_record_id(),
            ts=format_ts(moment),
            kind=kind,
            tenant=tenant,
            outcome=outcome,
            **fields,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values; every key is present (null when unknown) except ``prompt`` and
        ``request``, which records written before it existed lack (their hashes stay)."""
        data: dict[str, Any] = {
            "v": SCHEMA_VERSION,
            "record_id": self.record_id,
            "ts": self.ts,
            "kind": self.kind,
            "tenant": self.tenant,
            "outcome": self.outcome,
            "status": self.status,
            "event": self.event,
            "principal": _principal_dict(self.principal),
            "destination": _plain(self.destination, DESTINATION_KEYS),
            "decision": _plain(self.decision, DECISION_KEYS),
            "findings": [_plain(item, FINDING_KEYS) for item in self.findings],
            "usage": _plain(self.usage, USAGE_KEYS),
            "timing": _plain(self.timing, TIMING_KEYS),
            "details": dict(self.details),
        }
        if self.request is not None:
            data["request"] = _plain(self.request, REQUEST_KEYS)
        if self.prompt is not None:
            data["prompt"] = self.prompt
        if self.files:
            data["files"] = [_plain(item, FILE_KEYS) for item in self.files]
        if self.instance is not None:
            data["instance"] = self.instance
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The inverse of `to_dict`; raises `AuditRecordError` on any deviation."""
        _exact_keys("record", data, _RECORD_KEYS, optional=_OPTIONAL_KEYS)
        if data["v"] != SCHEMA_VERSION or isinstance(data["v"], bool):
            raise AuditRecordError("v", f"schema version {data['v']!r} is not {SCHEMA_VERSION}")
        findings = data["findings"]
        if not isinstance(findings, list):
            raise AuditRecordError("findings", "must be a list")
        files = data.get("files", [])
        if not isinstance(files, list) or ("files" in data and not files):
            raise AuditRecordError("files", "must be a non-empty list when present")
        return cls(
            record_id=data["record_id"],
            ts=data["ts"],
            kind=data["kind"],
            tenant=data["tenant"],
            outcome=data["outcome"],
            status=data["status"],
            event=data["event"],
            principal=_nested("principal", data["principal"], Principal, PRINCIPAL_KEYS),
            destination=_nested("destination", data["destination"], Destination, DESTINATION_KEYS),
            decision=_nested("decision", data["decision"], Decision, DECISION_KEYS),
            findings=tuple(
                _required_nested("findings", item, DlpFinding, FINDING_KEYS) for item in findings
            ),
            usage=_nested("usage", data["usage"], Usage, USAGE_KEYS),
            timing=_nested("timing", data["timing"], Timing, TIMING_KEYS),
            details=data["details"],
            prompt=data.get("prompt"),
            request=_nested("request", data.get("request"), Request, REQUEST_KEYS),
            files=tuple(_required_nested("files", item, FileRecord, FILE_KEYS) for item in files),
            instance=data.get("instance"),
        )


_RECORD_KEYS: Final = frozenset(
    {
        "v",
        "record_id",
        "ts",
        "kind",
        "tenant",
        "outcome",
        "status",
        "event",
        "principal",
        "destination",
        "decision",
        "findings",
        "usage",
        "timing",
        "details",
    }
)
PRINCIPAL_KEYS: Final = (
    "issuer",
    "subject",
    "email",
    "department",
    "groups",
    "auth_method",
    "session_id",
    "client_addr",
)
DESTINATION_KEYS: Final = ("provider", "service", "host", "api_kind", "api", "model")
DECISION_KEYS: Final = ("action", "rule_id", "policy_version", "reason")
FINDING_KEYS: Final = ("entity_type", "count", "segment")
USAGE_KEYS: Final = ("tokens_in", "tokens_out", "estimated")
TIMING_KEYS: Final = ("started_at", "upstream_latency_ms", "ttfb_ms", "total_ms")
REQUEST_KEYS: Final = ("method", "path", "transport", "client", "conversation")
#: Keys a record may lack: ``request``, ``files`` and ``instance`` came after the first
#: records were written.
_OPTIONAL_KEYS: Final = frozenset({"prompt", "request", "files", "instance"})
FILE_KEYS: Final = (
    "name",
    "kind",
    "media_type",
    "declared_type",
    "size",
    "sha256",
    "partial",
    "text_chars",
    "verdict",
    "reason",
)


def _instance(name: str, value: object, cls: type) -> None:
    if value is not None and not isinstance(value, cls):
        raise AuditRecordError(name, f"must be a {cls.__name__}, not {type(value).__name__}")


def _plain(value: object, keys: tuple[str, ...]) -> dict[str, Any] | None:
    if value is None:
        return None
    return {key: getattr(value, key) for key in keys}


def _principal_dict(value: Principal | None) -> dict[str, Any] | None:
    data = _plain(value, PRINCIPAL_KEYS)
    if data is not None:
        data["groups"] = list(data["groups"])
    return data


def _exact_keys(
    name: str,
    data: object,
    keys: frozenset[str] | tuple[str, ...],
    *,
    optional: frozenset[str] = frozenset(),
) -> None:
    if not isinstance(data, Mapping):
        raise AuditRecordError(name, f"must be an object, not {type(data).__name__}")
    present = set(data)
    missing = set(keys) - present
    unknown = present - set(keys) - optional
    if missing:
        raise AuditRecordError(name, f"lacks {', '.join(sorted(missing))}")
    if unknown:
        raise AuditRecordError(name, f"has unknown keys {', '.join(sorted(map(str, unknown)))}")


def _required_nested[T](name: str, data: object, cls: type[T], keys: tuple[str, ...]) -> T:
    _exact_keys(name, data, keys)
    try:
        return cls(**cast(Mapping[str, Any], data))
    except TypeError as exc:  # pragma: no cover - keys are checked above
        raise AuditRecordError(name, str(exc)) from None


def _nested[T](name: str, data: object, cls: type[T], keys: tuple[str, ...]) -> T | None:
    return None if data is None else _required_nested(name, data, cls, keys)
