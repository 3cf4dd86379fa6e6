"""AuditRecord: validation on construction, exact to_dict/from_dict round trip."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from warden.audit import (
    AuditRecord,
    AuditRecordError,
    Decision,
    DlpFinding,
    Principal,
    Usage,
    format_ts,
)
from warden.audit.record import Request

from .conftest import T0, flow_record


def test_new_stamps_a_random_id_and_utc_millisecond_time() -> None:
    a = flow_record(n=0)
    b = flow_record(n=0)
    assert a.record_id != b.record_id
    assert len(a.record_id) == 32 and int(a.record_id, 16) >= 0
    assert a.ts == "2025-03-01T12:00:00.000Z"


def test_format_ts_converts_to_utc_and_truncates_to_milliseconds() -> None:
    moment = datetime.datetime(
        2025, 3, 1, 14, 0, 0, 123987, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
    )
    assert format_ts(moment) == "2025-03-01T12:00:00.123Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        format_ts(datetime.datetime(2025, 3, 1))


def test_round_trip_is_exact() -> None:
    record = flow_record(n=3, prompt="Summarize <EMAIL_ADDRESS>\nplease")
    data = record.to_dict()
    assert AuditRecord.from_dict(data) == record
    assert data["principal"]["groups"] == ["staff", "ml"]
    assert data["findings"] == [
        {"entity_type": "EMAIL_ADDRESS", "count": 2, "segment": "messages[0].content"}
    ]
    assert data["prompt"] == "Summarize <EMAIL_ADDRESS>\nplease"


def test_prompt_is_absent_unless_given() -> None:
    assert "prompt" not in flow_record().to_dict()


def test_auth_event_for_the_system_tenant() -> None:
    record = AuditRecord.new(
        kind="admin",
        tenant="_system",
        outcome="ok",
        event="ca.rotated",
        details={"generation": 2},
        now=T0,
    )
    assert record.to_dict()["event"] == "ca.rotated"
    assert record.principal is None


BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"kind": "flow", "event": "login.ok"}, "event", "a flow has none"),
    ({"kind": "auth", "event": None}, "event", "names its event"),
    ({"kind": "auth", "event": "Login OK"}, "event", "lower-case identifier"),
    ({"kind": "audit"}, "kind", "not one of"),
    ({"outcome": "fine"}, "outcome", "not one of"),
    ({"tenant": "a\x00b"}, "tenant", "control character"),
    ({"tenant": "acme corp"}, "tenant", "not a tenant id"),
    ({"tenant": ""}, "tenant", "must not be empty"),
    ({"status": 99}, "status", "outside 100..599"),
    ({"status": True}, "status", "must be an integer"),
    ({"ts": "2025-03-01T12:00:00Z"}, "ts", "not a UTC time"),
    ({"ts": "2025-02-30T12:00:00.000Z"}, "ts", "not a valid date"),
    ({"record_id": "XYZ"}, "record_id", "32 lower-case hex"),
    ({"details": {"nested": {"a": 1}}}, "details.nested", "string, integer or boolean"),
    ({"details": {"Bad-Key": 1}}, "details", "lower-case name"),
    ({"details": {"n": 2**60}}, "details.n", "outside"),
    ({"details": {"f": 1.5}}, "details.f", "string, integer or boolean"),
    ({"details": {f"k{i}": i for i in range(33)}}, "details", "limit is 32"),
    ({"details": {"s": "x" * 1025}}, "details.s", "limit is 1024"),
    ({"prompt": "a\x00"}, "prompt", "control character"),
    ({"prompt": "\ud800"}, "prompt", "lone surrogate"),
    ({"findings": (DlpFinding("EMAIL", 1, "p"),) * 257}, "findings", "limit is 256"),
    ({"findings": ({"entity_type": "EMAIL"},)}, "findings", "must be a DlpFinding"),
]


@pytest.mark.parametrize(("changes", "field", "problem"), BAD)
def test_invalid_fields_are_refused_naming_the_field(
    changes: dict[str, Any], field: str, problem: str
) -> None:
    base: dict[str, Any] = {
        "record_id": "0" * 32,
        "ts": "2025-03-01T12:00:00.000Z",
        "kind": "flow",
        "tenant": "acme",
        "outcome": "allowed",
    }
    base.update(changes)
    with pytest.raises(AuditRecordError) as caught:
        AuditRecord(**base)
    assert caught.value.field == field
    assert problem in caught.value.problem


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Principal(issuer="https://idp"), "principal"),
        (lambda: Principal(client_addr="10.0.0.300"), "principal.client_addr"),
        (lambda: Principal(groups=("x" * 257,)), "principal.groups[0]"),
        (lambda: Usage(tokens_in=-1), "usage.tokens_in"),
        (lambda: Decision(action="Allow", rule_id="r", policy_version="v"), "decision.action"),
        (lambda: DlpFinding("EMAIL", 0, "p"), "findings.count"),
    ],
)
def test_nested_parts_validate_too(build: Any, field: str) -> None:
    with pytest.raises(AuditRecordError) as caught:
        build()
    assert caught.value.field == field


def test_unauthenticated_principal_by_address_only() -> None:
    principal = Principal(client_addr="2001:db8::1")
    record = flow_record(principal=principal, outcome="unauthenticated", status=407)
    assert AuditRecord.from_dict(record.to_dict()).principal == principal


@pytest.mark.parametrize(
    ("mutate", "field", "problem"),
    [
        (lambda d: d.update(extra=1), "record", "unknown keys extra"),
        (lambda d: d.pop("outcome"), "record", "lacks outcome"),
        (lambda d: d.update(v=2), "v", "schema version 2"),
        (lambda d: d["usage"].update(tokens_in=1.0), "usage.tokens_in", "must be an integer"),
        (lambda d: d["principal"].pop("email"), "principal", "lacks email"),
    ],
)
def test_from_dict_is_strict(mutate: Any, field: str, problem: str) -> None:
    data = flow_record().to_dict()
    mutate(data)
    with pytest.raises(AuditRecordError) as caught:
        AuditRecord.from_dict(data)
    assert caught.value.field == field
    assert problem in caught.value.problem


def test_details_are_read_only() -> None:
    record = flow_record()
    with pytest.raises(TypeError):
        record.details["stream"] = False  # type: ignore[index]


# -- the request part: method, path, transport, client, conversation ---------------------


def test_the_request_part_round_trips_and_old_records_without_it_still_read() -> None:

    part = Request("POST", "/v1/responses", "http", "openai-python/1.54.3", "conv_1")
    record = flow_record(n=1, request=part)
    data = record.to_dict()
    assert data["request"] == {
        "method": "POST",
        "path": "/v1/responses",
        "transport": "http",
        "client": "openai-python/1.54.3",
        "conversation": "conv_1",
    }
    assert AuditRecord.from_dict(data) == record
    older = flow_record(n=1).to_dict()
    assert "request" not in older  # a record without it keeps its bytes, so its hash
    assert AuditRecord.from_dict(older).request is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"path": "/v1/chat?key=AIza-secret"}, "request.path"),  # never the query
        ({"path": "/" + "a" * 2048}, "request.path"),
        ({"method": "X" * 17}, "request.method"),
        ({"transport": "carrier-pigeon"}, "request.transport"),
        ({"client": "c" * 65}, "request.client"),
        ({"conversation": "c" * 129}, "request.conversation"),
        ({"conversation": "a\nb"}, "request.conversation"),
    ],
)
def test_the_request_part_refuses_what_it_must_not_hold(kwargs: dict[str, Any], field: str) -> None:

    values: dict[str, Any] = {"method": "POST", "path": "/v1/chat/completions", **kwargs}
    with pytest.raises(AuditRecordError) as err:
        Request(**values)
    assert err.value.field == field
