"""A flow's audit record as plain data: the facts the proxy stage read, fitted to the schema.

The audit stage (``addons/audit.py``) reads the facts off a mitmproxy flow and its context;
the parts of the record are built here, in `AuditRecord.to_dict`'s shape, without
constructing an `AuditRecord`: the audit writer process checks every field
(`AuditRecord.from_dict`) before it commits, so the event loop does not check them a second
time. What a client, an upstream or an IdP chose (model name, host, request id, error text,
profile claims, the prompt) is fitted to the limits named in ``record`` first (`fit_text`):
such a value must not make its own flow unrecordable. A record that still fails the
writer's check fails its flow closed, as any unwritable record does.

The facts come in as Protocols: the flow context's dataclasses satisfy them, and this
module needs nothing of the proxy.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol

from .fields import MAX_SAFE_INT, fit_details, fit_text
from .record import (
    MAX_CLIENT_CHARS,
    MAX_CONVERSATION_CHARS,
    MAX_DEPARTMENT,
    MAX_EMAIL,
    MAX_FINDINGS,
    MAX_GROUP,
    MAX_GROUPS,
    MAX_HOST,
    MAX_METHOD_CHARS,
    MAX_MODEL,
    MAX_NAME,
    MAX_PATH_CHARS,
    MAX_POLICY_VERSION,
    MAX_PROMPT_CHARS,
    MAX_REASON,
    MAX_RULE_ID,
    MAX_SEGMENT,
    SCHEMA_VERSION,
    SYSTEM_TENANT,
    format_ts,
    new_record_id,
)

#: Outcomes a stage may set on a flow; any other falls back to ``allowed``.
FLOW_OUTCOMES: Final = frozenset(
    {
        "allowed",
        "refused_host",
        "unauthenticated",
        "blocked",
        "coached",
        "over_quota",
        "redacted",
        "dlp_error",
        "policy_error",
        "gateway_error",
        "upstream_error",
        "client_abort",
        "audit_error",
    }
)
#: Characters of the session id the record keeps: a prefix names the session, the rest
#: (a hash) is not shown.
SESSION_PREFIX: Final = 16


class PrincipalFacts(Protocol):
    @property
    def tenant(self) -> str: ...
    @property
    def issuer(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def auth_method(self) -> str: ...
    @property
    def email(self) -> str | None: ...
    @property
    def department(self) -> str | None: ...
    @property
    def groups(self) -> tuple[str, ...]: ...
    @property
    def session_id(self) -> str | None: ...


class DestinationFacts(Protocol):
    @property
    def service_id(self) -> str: ...
    @property
    def provider(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def api(self) -> str | None: ...
    @property
    def model(self) -> str | None: ...


class DecisionFacts(Protocol):
    @property
    def action(self) -> str: ...
    @property
    def rule_id(self) -> str: ...
    @property
    def policy_version(self) -> str: ...
    @property
    def reason(self) -> str: ...


class FindingFacts(Protocol):
    @property
    def entity_type(self) -> str: ...
    @property
    def count(self) -> int: ...
    @property
    def segment(self) -> str: ...


class UsageFacts(Protocol):
    @property
    def input_tokens(self) -> int | None: ...
    @property
    def output_tokens(self) -> int | None: ...
    @property
    def estimated(self) -> bool: ...


def principal_part(p: PrincipalFacts | None, client_addr: str | None) -> dict[str, Any]:
    return {
        "issuer": p.issuer if p else None,
        "subject": p.subject if p else None,
        "email": fit_text(p.email, max_len=MAX_EMAIL) if p else None,
        "department": fit_text(p.department, max_len=MAX_DEPARTMENT) if p else None,
        "groups": [fit_text(g, max_len=MAX_GROUP) or "-" for g in p.groups[:MAX_GROUPS]]
        if p
        else [],
        "auth_method": p.auth_method if p else None,
        "session_id": p.session_id[:SESSION_PREFIX] if p and p.session_id else None,
        "client_addr": client_addr or None,
    }


def destination_part(d: DestinationFacts | None, request_host: str) -> dict[str, Any]:
    """Where the flow went; without a catalog match, the host the request named."""
    if d is None:
        return {
            "provider": "-",
            "service": "-",
            "host": fit_text(request_host, max_len=MAX_HOST) or "-",
            "api_kind": "api",
            "api": None,
            "model": None,
        }
    return {
        "provider": d.provider,
        "service": d.service_id,
        "host": d.host,
        "api_kind": "webapp" if d.kind == "webapp" else "api",
        "api": d.api,
        "model": fit_text(d.model, max_len=MAX_MODEL),
    }


def decision_part(d: DecisionFacts | None) -> dict[str, Any] | None:
    if d is None:
        return None
    return {
        "action": d.action,
        "rule_id": fit_text(d.rule_id, max_len=MAX_RULE_ID) or "-",
        "policy_version": fit_text(d.policy_version, max_len=MAX_POLICY_VERSION) or "-",
        "reason": fit_text(d.reason, max_len=MAX_REASON, multiline=True),
    }


def findings_part(entities: Sequence[FindingFacts]) -> list[dict[str, Any]]:
    return [
        {
            "entity_type": fit_text(e.entity_type, max_len=MAX_NAME) or "-",
            "count": e.count,
            "segment": fit_text(e.segment, max_len=MAX_SEGMENT) or "-",
        }
        for e in entities[:MAX_FINDINGS]
    ]


def usage_part(u: UsageFacts | None) -> dict[str, Any] | None:
    if u is None:
        return None
    return {
        "tokens_in": _count(u.input_tokens),
        "tokens_out": _count(u.output_tokens),
        "estimated": u.estimated,
    }


def timing_part(
    started: float,
    request_end: float | None,
    response_start: float | None,
    response_end: float | None,
    *,
    upstream: bool,
) -> dict[str, Any]:
    """Times of the flow (seconds since the epoch) as the record's milliseconds;
    ``upstream``: the answer came from upstream (else there is no upstream latency)."""
    return {
        "started_at": format_ts(datetime.datetime.fromtimestamp(started, datetime.UTC)),
        "upstream_latency_ms": _ms(response_start - request_end)
        if upstream and response_start is not None and request_end
        else None,
        "ttfb_ms": _ms(response_start - started) if response_start is not None else None,
        "total_ms": _ms(response_end - started)
        if response_start is not None and response_end
        else None,
    }


def request_part(
    method: str, path: str, *, websocket: bool, client: str | None, conversation: str | None
) -> dict[str, Any]:
    """The record's ``request``: method, path without its query, transport, client
    software and conversation id (all client-controlled, so fitted to the schema)."""
    path = path.split("?", 1)[0].split("#", 1)[0]
    return {
        "method": fit_text(method, max_len=MAX_METHOD_CHARS) or "-",
        "path": fit_text(path, max_len=MAX_PATH_CHARS) or "-",
        "transport": "websocket" if websocket else "http",
        "client": fit_text(client, max_len=MAX_CLIENT_CHARS),
        "conversation": fit_text(conversation, max_len=MAX_CONVERSATION_CHARS),
    }


def flow_outcome(chosen: str | None, *, findings: bool, files: bool) -> str:
    """The record's outcome: the one a stage chose, else ``redacted`` where DLP found
    something it rewrote (files are never rewritten: their findings are recorded, not
    redacted), else ``allowed``."""
    outcome = chosen or ("redacted" if findings and not files else "allowed")
    return outcome if outcome in FLOW_OUTCOMES else "allowed"


def status_and_details(
    status: int | None, details: Mapping[str, str | int | bool] | None
) -> tuple[int | None, dict[str, str | int | bool]]:
    """The record's HTTP status and fitted details; a status that is not an HTTP one
    (an upstream's own) goes to ``details.upstream_status``."""
    fitted = fit_details(details or {})
    if status is not None and not 100 <= status <= 599:
        fitted["upstream_status"] = status
        status = None
    return status, fitted


def flow_record_data(
    *,
    tenant: str | None,
    outcome: str,
    status: int | None,
    principal: dict[str, Any],
    destination: dict[str, Any],
    decision: dict[str, Any] | None,
    findings: list[dict[str, Any]],
    usage: dict[str, Any] | None,
    timing: dict[str, Any],
    details: dict[str, str | int | bool],
    request: dict[str, Any],
    files: Sequence[dict[str, Any]] | None = None,
    prompt: str | None = None,
) -> dict[str, Any]:
    """The whole record: its parts, a new id and the time now; the prompt fitted."""
    data: dict[str, Any] = {
        "v": SCHEMA_VERSION,
        "record_id": new_record_id(),
        "ts": format_ts(datetime.datetime.now(datetime.UTC)),
        "kind": "flow",
        "tenant": SYSTEM_TENANT if tenant is None else tenant,
        "outcome": outcome,
        "status": status,
        "event": None,
        "principal": principal,
        "destination": destination,
        "decision": decision,
        "findings": findings,
        "usage": usage,
        "timing": timing,
        "details": details,
        "request": request,
    }
    if files:
        data["files"] = list(files)
    fitted_prompt = fit_text(prompt, max_len=MAX_PROMPT_CHARS, multiline=True)
    if fitted_prompt is not None:
        data["prompt"] = fitted_prompt
    return data


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def _count(tokens: int | None) -> int | None:
    # An upstream's usage figure, kept within what the record (and a SIEM's doubles) hold.
    return None if tokens is None else min(tokens, MAX_SAFE_INT)
