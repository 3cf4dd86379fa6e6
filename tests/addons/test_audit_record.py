"""The audit addon's records: plain data the writer process accepts as they are.

The gateway builds a flow's record as data and leaves the field checks to the writer
process (``AuditRecord.from_dict``). These tests hold the two together: every record the
addon builds must survive that check unchanged (what is committed and hashed is exactly
what goes to syslog), also when a client, an upstream or an IdP chose hostile values.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from mitmproxy import http
from mitmproxy.test import tflow

from warden.addons.audit import flow_record
from warden.addons.flowcontext import (
    CatalogDestination,
    Decision,
    EntityCount,
    FlowContext,
    Redaction,
    ResolvedPrincipal,
    Usage,
)
from warden.addons.prompts import keep_redacted_prompt
from warden.audit import AuditRecord
from warden.audit.fields import MAX_SAFE_INT, fit_text


def _flow(**ctx: Any) -> http.HTTPFlow:
    flow = tflow.tflow(resp=True)
    flow.request.timestamp_end = flow.request.timestamp_start + 0.01
    assert flow.response is not None
    flow.response.timestamp_start = flow.request.timestamp_start + 0.02
    flow.response.timestamp_end = flow.request.timestamp_start + 0.03
    FlowContext().replace(**ctx).save(flow)
    return flow


def _openai(model: str | None = "gpt-4o-mini") -> CatalogDestination:
    return CatalogDestination(
        service_id="openai",
        provider="openai",
        kind="api",
        host="api.openai.com",
        api="openai.chat_completions",
        model=model,
        parsed=True,
        segments=1,
    )


def _person(**claims: Any) -> ResolvedPrincipal:
    return ResolvedPrincipal(
        tenant="acme", issuer="https://idp.example", subject="u-1", auth_method="jwt", **claims
    )


def _accepted(data: dict[str, Any]) -> AuditRecord:
    record = AuditRecord.from_dict(data)  # what the writer process does before committing
    assert record.to_dict() == data  # nothing changed on the way: DB and syslog agree
    return record


def test_a_full_record_is_accepted_unchanged() -> None:
    flow = _flow(
        destination=_openai(),
        principal=_person(
            email="ada@example.com",
            department="R&D",
            groups=("staff", "ml"),
            session_id="0123456789abcdef0123",
        ),
        decision=Decision("redact", "r-7", "v3", "secrets leave redacted"),
        redaction=Redaction((EntityCount("EMAIL_ADDRESS", 2, "messages[0].content"),)),
        usage=Usage(12, 5, False),
    )
    assert flow.response is not None
    flow.response.headers["x-request-id"] = "req-42"
    keep_redacted_prompt(flow, "write to <EMAIL_ADDRESS>\nplease")
    record = _accepted(flow_record(flow))
    assert record.tenant == "acme" and record.outcome == "redacted" and record.status == 200
    assert record.principal is not None and record.principal.groups == ("staff", "ml")
    assert record.principal.session_id == "0123456789abcdef"
    assert record.usage is not None and record.usage.tokens_in == 12
    assert record.details["upstream_request_id"] == "req-42"
    assert record.prompt == "write to <EMAIL_ADDRESS>\nplease"
    assert record.timing is not None and record.timing.total_ms == 30


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"request-id": "req_anthropic"}, "req_anthropic"),  # Anthropic's name
        ({"Request-Id": "second", "X-Request-Id": "first"}, "first"),  # OpenAI's wins
        ({}, None),
    ],
)
def test_the_providers_request_id_is_recorded(
    headers: dict[str, str], expected: str | None
) -> None:
    flow = _flow(destination=_openai())
    assert flow.response is not None
    flow.response.headers.update(headers)
    record = _accepted(flow_record(flow))
    assert record.details.get("upstream_request_id") == expected


def test_records_without_a_destination_or_answer_are_accepted() -> None:
    flow = tflow.tflow()
    flow.request.host = "chat.deepseek.com"
    FlowContext().replace(outcome="refused_host").save(flow)
    record = _accepted(flow_record(flow))
    assert record.destination is not None and record.destination.host == "chat.deepseek.com"
    assert record.outcome == "refused_host" and record.status is None
    error = _accepted(flow_record(_flow(destination=_openai()), "upstream_error", {"error": ""}))
    assert error.details["error"] == "-"


@pytest.mark.parametrize(
    "model",
    ["gpt-4o\x1b[2J\nmini", "gpt-\ud800", "m" * 400, "tab\there", "\x00"],
)
def test_hostile_model_names_are_fitted_not_refused(model: str) -> None:
    record = _accepted(flow_record(_flow(destination=_openai(model))))
    assert record.destination is not None
    kept = record.destination.model
    assert kept is not None and len(kept) <= 256 and kept.isprintable()
    assert kept == fit_text(model, max_len=256)


def test_hostile_upstream_and_idp_values_are_fitted() -> None:
    flow = _flow(
        destination=_openai(),
        principal=_person(
            email="x" * 500, department="ops\r\nInjected: yes", groups=("ok", "bad\x07", "")
        ),
        usage=Usage(10**20, None, False),
    )
    assert flow.response is not None
    flow.response.headers["x-request-id"] = "id\x01" + "r" * 300
    flow.response.status_code = 999
    keep_redacted_prompt(flow, "keep\nlines but not \x1b escapes")
    record = _accepted(flow_record(flow))
    assert record.principal is not None
    assert record.principal.email is not None and len(record.principal.email) == 320
    assert record.principal.department == "ops\ufffd\ufffdInjected: yes"
    assert record.principal.groups == ("ok", "bad\ufffd", "-")
    assert record.usage is not None and record.usage.tokens_in == MAX_SAFE_INT
    assert record.status is None and record.details["upstream_status"] == 999
    assert str(record.details["upstream_request_id"]).startswith("id\ufffd")
    assert record.prompt == "keep\nlines but not \ufffd escapes"


def test_fit_text_keeps_what_it_can() -> None:
    assert fit_text(None, max_len=5) is None and fit_text("", max_len=5) is None
    assert fit_text("plain", max_len=5) == "plain"
    assert fit_text("toolong", max_len=5) == "tool…"
    assert fit_text("a\nb", max_len=5) == "a\ufffdb"
    assert fit_text("a\nb\x00", max_len=5, multiline=True) == "a\nb\ufffd"


class _UnusedTrail:
    async def record_data(self, data: dict[str, Any]) -> None:
        raise AssertionError("nothing may be written when the record could not be built")


async def test_a_record_that_cannot_be_built_withholds_the_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A test double for a fault no real peer produces: a bug of ours in building the
    # record. The answer must not go out unrecorded; the client gets a 503 instead.
    from warden.addons import audit as audit_addon

    def broken(*args: object, **kwargs: object) -> dict[str, Any]:
        raise KeyError("a bug")

    monkeypatch.setattr(audit_addon, "flow_record", broken)
    flow = _flow(destination=_openai())
    addon = audit_addon.Audit(_UnusedTrail())  # type: ignore[arg-type]
    await addon.response(flow)
    assert flow.response is not None and flow.response.status_code == 503
    assert b"warden_audit_unavailable" in (flow.response.content or b"")
    assert FlowContext.of(flow).outcome == "audit_error"
    # on the stream's first record the same: nothing of the stream is sent
    streamed = _flow(destination=_openai())
    assert streamed.response is not None
    streamed.response.stream = True
    await addon.responseheaders(streamed)
    assert streamed.response.status_code == 503


@pytest.mark.parametrize(
    ("api", "side_call"),
    [
        ("anthropic.count_tokens", "token_count"),
        ("anthropic.event_logging", "telemetry"),
        ("openai.models", "model_list"),
        ("anthropic.client_bootstrap", "bootstrap"),
        ("openai.chat_completions", None),
        (None, None),
    ],
)
def test_side_calls_are_named_in_the_record(api: str | None, side_call: str | None) -> None:
    destination = dataclasses.replace(_openai(None), api=api)
    record = _accepted(flow_record(_flow(destination=destination)))
    assert record.details.get("side_call") == side_call
