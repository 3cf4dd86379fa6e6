"""Scope addon: allow_hosts regex, refusal at CONNECT, marking intercepted flows."""

from __future__ import annotations

import gzip
import json
import re

import pytest
from mitmproxy import http
from mitmproxy.test import taddons, tflow

from warden.addons import scope as scope_module
from warden.addons.scope import RefusedHost, Scope, allow_hosts_patterns
from warden.context import FlowContext
from warden.metrics import GatewayMetrics
from warden.providers.catalog import Catalog

PATTERNS = ["api.openai.com", "chatgpt.com", "*.openai.azure.com"]


@pytest.mark.parametrize(
    ("target", "allowed"),
    [
        ("api.openai.com:443", True),
        ("API.OPENAI.COM:443", True),
        ("api.openai.com.:443", True),
        ("chatgpt.com:8443", True),
        ("acme.openai.azure.com:443", True),
        ("a.b.openai.azure.com:443", True),
        ("openai.azure.com:443", False),
        ("api.openai.com.evil.test:443", False),
        ("evilapi.openai.com:443", False),
        ("xchatgpt.com:443", False),
        ("chatgpt.com.attacker.net:443", False),
        ("acme.openai.azure.com.attacker.net:443", False),
        ("127.0.0.1:443", False),
    ],
)
def test_allow_hosts_regex(target: str, allowed: bool) -> None:
    (regex,) = allow_hosts_patterns(PATTERNS)
    assert bool(re.search(regex, target, re.IGNORECASE)) is allowed


def _scope() -> Scope:
    return Scope(
        Catalog.default(), [RefusedHost("*.deepseek.com", "not approved")], GatewayMetrics()
    )


def test_connect_to_unsanctioned_host_gets_403_with_reason() -> None:
    scope = _scope()
    with taddons.context(scope):
        flow = tflow.tflow()
        flow.request.method = "CONNECT"
        flow.request.host = "chat.deepseek.com"
        scope.http_connect(flow)
        assert flow.response is not None
        assert flow.response.status_code == 403
        assert b"not approved" in (flow.response.content or b"")
        assert FlowContext.of(flow).outcome == "refused_host"


def test_connect_to_catalog_and_other_hosts_is_left_alone() -> None:
    scope = _scope()
    with taddons.context(scope):
        for host in ("api.openai.com", "example.org"):
            flow = tflow.tflow()
            flow.request.host = host
            scope.http_connect(flow)
            assert flow.response is None
    text = scope.metrics.render().decode()
    assert 'warden_connects_total{decision="intercept"} 1.0' in text
    assert 'warden_connects_total{decision="passthrough"} 1.0' in text


def _openai_flow(body: bytes, encoding: str | None = None) -> http.HTTPFlow:
    flow = tflow.tflow()
    flow.request.host = "api.openai.com"
    flow.request.port = 443
    flow.request.scheme = "https"
    flow.request.method = "POST"
    flow.request.path = "/v1/chat/completions"
    flow.request.headers["content-type"] = "application/json"
    if encoding:
        flow.request.headers["content-encoding"] = encoding
        flow.request.raw_content = gzip.compress(body)
    else:
        flow.request.content = body
    return flow


@pytest.mark.parametrize("encoding", [None, "gzip"])
def test_intercepted_request_is_parsed_also_when_compressed(encoding: str | None) -> None:
    scope = _scope()
    body = json.dumps(
        {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    ).encode()
    with taddons.context(scope):
        flow = _openai_flow(body, encoding)
        scope.requestheaders(flow)
        scope.request(flow)
    dest = FlowContext.of(flow).destination
    assert dest is not None
    assert (dest.service_id, dest.api, dest.model, dest.stream, dest.parsed, dest.segments) == (
        "openai",
        "openai.chat_completions",
        "gpt-4o",
        True,
        True,
        1,
    )
    # The body that goes upstream is unchanged (still compressed when it came so).
    assert flow.request.headers.get("content-encoding") == encoding
    assert flow.request.get_content() == body


def test_unknown_shape_on_catalog_host_is_marked_unparsed() -> None:
    scope = _scope()
    with taddons.context(scope):
        flow = _openai_flow(b"\x00not json")
        scope.requestheaders(flow)
        scope.request(flow)
    dest = FlowContext.of(flow).destination
    assert dest is not None and dest.parsed is False and dest.unparsed_reason


def test_non_catalog_flow_gets_no_context() -> None:
    scope = _scope()
    with taddons.context(scope):
        flow = tflow.tflow()
        flow.request.host = "example.org"
        scope.requestheaders(flow)
        scope.request(flow)
    assert FlowContext.of(flow) == FlowContext()


def test_hosts_remembered_are_bounded_and_later_hosts_still_scoped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Clients choose the Host they send: junk hosts must not grow the table without end,
    # and a catalog host that comes after the table is full is still intercepted.
    monkeypatch.setattr(scope_module, "MAX_REMEMBERED_HOSTS", 3)
    scope = _scope()
    with taddons.context(scope):
        for i in range(5):
            junk = tflow.tflow()
            junk.request.host = f"junk{i}.example"
            scope.requestheaders(junk)
            assert FlowContext.of(junk) == FlowContext()
        flows = [_openai_flow(b"{}") for _ in range(2)]
        flows[1].request.host = "API.OpenAI.com."
        for flow in flows:
            scope.requestheaders(flow)
    assert len(scope._destinations) == 3
    for flow in flows:
        dest = FlowContext.of(flow).destination
        assert dest is not None and (dest.service_id, dest.host) == ("openai", "api.openai.com")
