"""The audit stage's record before the request leaves, against the real audit trail.

The trail is the gateway's own (`AuditTrail`, with its writer child process); the flows
are mitmproxy test flows walked through the hooks in the order mitmproxy calls them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import http
from mitmproxy.test import tflow, tutils

from warden.addons.audit import Audit
from warden.addons.flowcontext import CatalogDestination, FlowContext, ResolvedPrincipal
from warden.config.audit import AuditSettings
from warden.gateway.wiring.audit import AuditTrail


def _destination() -> CatalogDestination:
    return CatalogDestination(
        service_id="openai",
        provider="openai",
        kind="api",
        host="api.openai.com",
        api="openai.chat_completions",
        model="gpt-4o-mini",
        parsed=True,
        segments=1,
    )


def _flow(tenant: str = "acme") -> http.HTTPFlow:
    flow = tflow.tflow()
    flow.request.timestamp_end = flow.request.timestamp_start + 0.01
    principal = ResolvedPrincipal(
        tenant=tenant, issuer="https://idp.example", subject="u-1", auth_method="jwt"
    )
    FlowContext().replace(destination=_destination(), principal=principal).save(flow)
    return flow


def _answer(flow: http.HTTPFlow) -> None:
    flow.response = tutils.tresp()
    flow.response.timestamp_start = flow.request.timestamp_start + 0.02
    flow.response.timestamp_end = flow.request.timestamp_start + 0.03


def _records(path: Path) -> list[dict[str, Any]]:
    import json

    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT body FROM records WHERE kind = 'flow' ORDER BY seq")
        return [json.loads(body) for (body,) in rows]


@pytest.fixture
async def trail(tmp_path: Path) -> AsyncIterator[AuditTrail]:
    t = AuditTrail(AuditSettings(), tmp_path, {"globex": "fail_open"})
    await t.start()
    yield t
    await t.stop()


async def test_the_request_is_recorded_before_it_leaves_and_the_answer_joins_it(
    trail: AuditTrail,
) -> None:
    audit, flow = Audit(trail), _flow()
    await audit.request(flow)
    assert flow.response is None  # recorded: it may leave
    (first,) = _records(trail.db_path)
    assert first["details"] == {"phase": "request"} and first["status"] is None
    assert "prompt" not in first and first["principal"]["subject"] == "u-1"
    _answer(flow)
    await audit.response(flow)
    first_again, answer = _records(trail.db_path)
    assert answer["details"]["flow_record"] == first["record_id"] == first_again["record_id"]
    assert answer["status"] == 200


async def test_a_flow_answered_before_it_leaves_gets_one_record(trail: AuditTrail) -> None:
    audit, flow = Audit(trail), _flow()
    flow.response = http.Response.make(407, b"sign in")
    FlowContext.of(flow).replace(outcome="unauthenticated").save(flow)
    await audit.request(flow)
    await audit.response(flow)
    (only,) = _records(trail.db_path)
    assert only["outcome"] == "unauthenticated" and "flow_record" not in only["details"]


async def test_a_fail_open_tenant_keeps_one_record_after_the_answer(trail: AuditTrail) -> None:
    audit, flow = Audit(trail), _flow("globex")
    await audit.request(flow)
    assert _records(trail.db_path) == []
    _answer(flow)
    await audit.response(flow)
    (only,) = _records(trail.db_path)
    assert only["tenant"] == "globex" and "phase" not in only["details"]


async def test_no_record_means_the_request_is_refused_and_says_so(trail: AuditTrail) -> None:
    await trail.writer.close()  # the writer is gone: nothing can be committed
    audit, flow = Audit(trail), _flow()
    await audit.request(flow)
    assert flow.response is not None and flow.response.status_code == 503
    body = flow.response.content or b""
    assert b"warden_audit_unavailable" in body and b"was not sent" in body
    assert FlowContext.of(flow).outcome == "audit_error"
    await audit.response(flow)  # its own record fails too; the refusal keeps its words
    assert b"was not sent" in (flow.response.content or b"")
