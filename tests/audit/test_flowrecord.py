"""audit.flowrecord: a flow's facts become a record the writer accepts, whatever their size."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from warden.audit.flowrecord import (
    decision_part,
    destination_part,
    findings_part,
    flow_outcome,
    flow_record_data,
    principal_part,
    request_part,
    status_and_details,
    timing_part,
    usage_part,
)
from warden.audit.record import MAX_FINDINGS, MAX_GROUPS, MAX_MODEL, AuditRecord


@dataclass(frozen=True)
class Principal:
    tenant: str = "acme"
    issuer: str = "https://idp.example"
    subject: str = "alice"
    auth_method: str = "session"
    email: str | None = "alice@example.com"
    department: str | None = None
    groups: tuple[str, ...] = ()
    session_id: str | None = "0123456789abcdef-the-rest-is-a-hash"


@dataclass(frozen=True)
class Destination:
    service_id: str = "openai"
    provider: str = "openai"
    kind: str = "api"
    host: str = "api.openai.com"
    api: str | None = "chat"
    model: str | None = "gpt-4o-mini"


@dataclass(frozen=True)
class Decision:
    action: str = "allow"
    rule_id: str = "default"
    policy_version: str = "v1"
    reason: str = "allowed by default"


@dataclass(frozen=True)
class Finding:
    entity_type: str = "EMAIL_ADDRESS"
    count: int = 1
    segment: str = "messages[0]"


@dataclass(frozen=True)
class Usage:
    input_tokens: int | None = 10
    output_tokens: int | None = 2**70  # an upstream's figure beyond what a SIEM's doubles hold
    estimated: bool = False


def record(
    principal: Principal | None = None,
    destination: Destination | None = None,
    findings: tuple[Finding, ...] = (),
    status: int | None = 200,
    outcome: str | None = None,
    path: str = "/v1/chat/completions",
    prompt: str | None = None,
) -> dict[str, object]:
    code, details = status_and_details(status, {"phase": "request"})
    found = findings_part(findings)
    return flow_record_data(
        tenant=principal.tenant if principal else None,
        outcome=flow_outcome(outcome, findings=bool(found), files=False),
        status=code,
        principal=principal_part(principal, "192.0.2.7"),
        destination=destination_part(destination, "api.openai.com"),
        decision=decision_part(Decision()),
        findings=found,
        usage=usage_part(Usage()),
        timing=timing_part(1_700_000_000.0, 1_700_000_000.1, 1_700_000_000.5, None, upstream=True),
        details=details,
        request=request_part("POST", path, websocket=False, client="curl", conversation=None),
        prompt=prompt,
    )


def test_a_plain_flow_is_accepted_by_the_writers_check() -> None:
    data = record(Principal(), Destination())
    checked = AuditRecord.from_dict(data)
    assert checked.tenant == "acme" and checked.outcome == "allowed"
    assert data["principal"]["session_id"] == "0123456789abcdef"  # type: ignore[index]
    assert data["timing"]["upstream_latency_ms"] == 400  # type: ignore[index]
    assert data["timing"]["ttfb_ms"] == 500  # type: ignore[index]


def test_without_a_principal_the_flow_is_the_system_tenants() -> None:
    assert AuditRecord.from_dict(record()).tenant == "_system"


def test_hostile_sizes_are_fitted_so_the_flow_stays_recordable() -> None:
    huge = Principal(groups=tuple(f"g{n}" * 200 for n in range(MAX_GROUPS + 50)), email="x" * 5000)
    data = record(
        huge,
        Destination(model="m" * 10_000),
        findings=(Finding(segment="s" * 9000),) * (MAX_FINDINGS + 10),
        path="/v1/" + "a" * 10_000 + "?key=secret",
        prompt="p" * 10_000_000,
    )
    checked = AuditRecord.from_dict(data)  # would raise AuditRecordError unfitted
    assert checked.principal is not None and len(checked.principal.groups) == MAX_GROUPS
    assert len(checked.findings) == MAX_FINDINGS
    assert len(data["destination"]["model"]) <= MAX_MODEL  # type: ignore[index]
    assert "secret" not in str(data["request"])  # the query is never kept


def test_a_status_that_is_not_an_http_one_goes_to_the_details() -> None:
    status, details = status_and_details(999, None)
    assert status is None and details == {"upstream_status": 999}
    assert status_and_details(404, None) == (404, {})


@pytest.mark.parametrize(
    ("chosen", "findings", "files", "expected"),
    [
        (None, False, False, "allowed"),
        (None, True, False, "redacted"),
        (None, True, True, "allowed"),  # files are never rewritten: recorded, not redacted
        ("blocked", True, False, "blocked"),
        ("made_up", False, False, "allowed"),  # an outcome no schema knows is not recorded
    ],
)
def test_the_outcome(chosen: str | None, findings: bool, files: bool, expected: str) -> None:
    assert flow_outcome(chosen, findings=findings, files=files) == expected
