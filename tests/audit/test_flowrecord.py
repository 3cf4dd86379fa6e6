"""audit.flowrecord: a flow's facts become a record the writer accepts, whatever their size."""

from __future__ import annotations

import dataclasses

import pytest

from warden.addons.flowcontext import CatalogDestination, EntityCount, ResolvedPrincipal, Usage
from warden.audit import flowrecord as fr
from warden.audit.record import MAX_FINDINGS, MAX_GROUPS, MAX_MODEL, AuditRecord
from warden.policy.engine import PolicyDecision

# The facts are the flow context's own classes: the Protocols of audit.flowrecord must fit them.
ALICE = ResolvedPrincipal(
    "acme",
    "https://idp.example",
    "alice",
    "session",
    "alice@example.com",
    session_id="0123456789abcdef-the-rest-is-a-hash",
)
OPENAI = CatalogDestination("openai", "openai", "api", "api.openai.com", "chat", "gpt-4o-mini")
EMAIL = EntityCount("EMAIL_ADDRESS", 1, "messages[0]")
DECISION = PolicyDecision("allow", "default", "v1", "allowed by default")
# an upstream's figure beyond what a SIEM's doubles hold
USAGE = Usage(10, 2**70)


def record(
    principal: ResolvedPrincipal | None = None,
    destination: CatalogDestination | None = None,
    findings: tuple[EntityCount, ...] = (),
    status: int | None = 200,
    outcome: str | None = None,
    path: str = "/v1/chat/completions",
    prompt: str | None = None,
) -> dict[str, object]:
    code, details = fr.status_and_details(status, {"phase": "request"})
    found = fr.findings_part(findings)
    return fr.flow_record_data(
        tenant=principal.tenant if principal else None,
        outcome=fr.flow_outcome(outcome, findings=bool(found), files=False),
        status=code,
        principal=fr.principal_part(principal, "192.0.2.7"),
        destination=fr.destination_part(destination, "api.openai.com"),
        decision=fr.decision_part(DECISION),
        findings=found,
        usage=fr.usage_part(USAGE),
        timing=fr.timing_part(
            1_700_000_000.0, 1_700_000_000.1, 1_700_000_000.5, None, upstream=True
        ),
        details=details,
        request=fr.request_part("POST", path, websocket=False, client="curl", conversation=None),
        prompt=prompt,
    )


def test_a_plain_flow_is_accepted_by_the_writers_check() -> None:
    data = record(ALICE, OPENAI)
    checked = AuditRecord.from_dict(data)
    assert checked.tenant == "acme" and checked.outcome == "allowed"
    assert data["principal"]["session_id"] == "0123456789abcdef"  # type: ignore[index]
    assert data["timing"]["upstream_latency_ms"] == 400  # type: ignore[index]
    assert data["timing"]["ttfb_ms"] == 500  # type: ignore[index]


def test_without_a_principal_the_flow_is_the_system_tenants() -> None:
    assert AuditRecord.from_dict(record()).tenant == "_system"


def test_hostile_sizes_are_fitted_so_the_flow_stays_recordable() -> None:
    groups = tuple(f"g{n}" * 200 for n in range(MAX_GROUPS + 50))
    huge = dataclasses.replace(ALICE, groups=groups, email="x" * 5000)
    data = record(
        huge,
        dataclasses.replace(OPENAI, model="m" * 10_000),
        findings=(dataclasses.replace(EMAIL, segment="s" * 9000),) * (MAX_FINDINGS + 10),
        path="/v1/" + "a" * 10_000 + "?key=secret",
        prompt="p" * 10_000_000,
    )
    checked = AuditRecord.from_dict(data)  # would raise AuditRecordError unfitted
    assert checked.principal is not None and len(checked.principal.groups) == MAX_GROUPS
    assert len(checked.findings) == MAX_FINDINGS
    assert len(data["destination"]["model"]) <= MAX_MODEL  # type: ignore[index]
    assert "secret" not in str(data["request"])  # the query is never kept


def test_a_status_that_is_not_an_http_one_goes_to_the_details() -> None:
    status, details = fr.status_and_details(999, None)
    assert status is None and details == {"upstream_status": 999}
    assert fr.status_and_details(404, None) == (404, {})


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
    assert fr.flow_outcome(chosen, findings=findings, files=files) == expected
