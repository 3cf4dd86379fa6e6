"""Scope addon: allow_hosts regex, refusal at CONNECT, marking intercepted flows."""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Callable

import brotli
import pytest
import zstandard
from mitmproxy import http
from mitmproxy.test import taddons, tflow

from warden.addons import scope as scope_module
from warden.addons.flowcontext import FlowContext
from warden.addons.scope import RefusedHost, Scope, allow_hosts_patterns
from warden.gateway.metrics import GatewayMetrics
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
    flow.client_conn.sni = "api.openai.com"  # tflow's client names "address"
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
            junk.client_conn.sni = None
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


# -- the names a flow is judged on: CONNECT target, TLS SNI, Host header ------------------


def _tunnelled(
    target: str, sni: str | None, host: str | None, *, tls: bool = True
) -> http.HTTPFlow:
    """A request inside a TLS tunnel as mitmproxy hands it over: its host is the CONNECT
    target, ``sni`` the client's TLS server name, ``host`` its Host header. Without
    ``tls``: a plain-HTTP request in absolute form to ``target``."""
    flow = _openai_flow(b'{"model": "gpt-4o", "messages": []}')
    if not tls:
        flow.request.scheme, flow.request.port = "http", 80
    flow.request.host = target
    flow.client_conn.tls = tls
    flow.client_conn.sni = sni
    if host is None:
        flow.request.headers.pop("host", None)
    else:
        flow.request.headers["host"] = host
    return flow


def _judged(flow: http.HTTPFlow) -> tuple[Scope, FlowContext]:
    scope = _scope()
    with taddons.context(scope):
        scope.requestheaders(flow)
        if flow.response is None:
            scope.request(flow)
    return scope, FlowContext.of(flow)


# (CONNECT target, SNI, Host header) of a flow judged as OpenAI and sent to its real host.
JUDGED_AS_SERVICE = [
    pytest.param("203.0.113.7", "api.openai.com", "api.openai.com", id="ipv4"),
    pytest.param("203.0.113.7", "api.openai.com", None, id="ipv4-no-host-header"),
    pytest.param("203.0.113.7", "API.OPENAI.COM.", "api.openai.com", id="ipv4-sni-case-dot"),
    pytest.param("203.0.113.7", "api.openai.com", "API.OpenAI.com.:443", id="host-case-dot-port"),
    pytest.param("::1", "api.openai.com", "api.openai.com", id="ipv6-loopback"),
    pytest.param("2001:db8::7", "api.openai.com", "api.openai.com", id="ipv6"),
    pytest.param("::ffff:203.0.113.7", "api.openai.com", "api.openai.com", id="ipv4-mapped"),
    pytest.param("fe80::1%eth0", "api.openai.com", "api.openai.com", id="ipv6-zone"),
    pytest.param("127.1", "api.openai.com", "api.openai.com", id="ipv4-short-form"),
    pytest.param("2130706433", "api.openai.com", "api.openai.com", id="ipv4-integer"),
    pytest.param("203.0.113.7", "203.0.113.7", "api.openai.com", id="ip-sni-host-catalog"),
    pytest.param("203.0.113.7", None, "api.openai.com", id="no-sni-host-catalog"),
    pytest.param("api.openai.com", "API.openai.com", "api.openai.com:443", id="case-only"),
]


@pytest.mark.parametrize(("target", "sni", "host"), JUDGED_AS_SERVICE)
def test_address_target_with_catalog_name_is_judged_as_that_service(
    target: str, sni: str | None, host: str | None
) -> None:
    flow = _tunnelled(target, sni, host)
    _, ctx = _judged(flow)
    assert flow.response is None
    assert ctx.destination is not None
    assert (ctx.destination.service_id, ctx.destination.host) == ("openai", "api.openai.com")
    assert ctx.destination.api == "openai.chat_completions"  # parsed like any flow
    # The upstream is the service's real host, never the address the client chose.
    assert flow.request.host == "api.openai.com"
    assert flow.request.port == 443


# (CONNECT target, SNI, Host header) whose names disagree around a catalog host.
FRONTED = [
    pytest.param("203.0.113.7", "api.openai.com", "evil.test", id="ip-sni-catalog-host-other"),
    pytest.param("203.0.113.7", "evil.test", "api.openai.com", id="ip-host-catalog-sni-other"),
    pytest.param("evil.test", "evil.test", "api.openai.com", id="host-catalog-sni-other"),
    pytest.param("evil.test", "api.openai.com", "api.openai.com", id="sni-catalog-connect-other"),
    pytest.param("api.openai.com", "evil.test", "evil.test", id="connect-catalog-sni-other"),
    pytest.param("api.openai.com", "evil.test", "api.openai.com", id="connect-catalog-sni-oth2"),
    pytest.param("api.openai.com", "api.openai.com", "evil.test", id="sni-catalog-host-other"),
    pytest.param("api.openai.com", None, "evil.test", id="no-sni-host-other"),
    pytest.param("api.openai.com", "chatgpt.com", "chatgpt.com", id="two-catalog-services"),
    pytest.param("::1", "api.openai.com", "chatgpt.com", id="ipv6-two-catalog-hosts"),
    pytest.param(
        "a.openai.azure.com", "a.openai.azure.com", "b.openai.azure.com", id="same-service"
    ),
    pytest.param("203.0.113.7", "api.openai.com.evil.test", "api.openai.com", id="lookalike"),
    pytest.param("203.0.113.7", "api.openai.com", "api.openai.com\x00x", id="junk-host"),
]


@pytest.mark.parametrize(("target", "sni", "host"), FRONTED)
def test_names_that_disagree_around_a_catalog_host_are_refused(
    target: str, sni: str | None, host: str | None
) -> None:
    flow = _tunnelled(target, sni, host)
    scope, ctx = _judged(flow)
    assert flow.response is not None and flow.response.status_code == 421
    message = json.loads(flow.response.content or b"")["error"]["message"]
    assert "domain fronting is refused" in message
    assert ctx.outcome == "refused_host"
    # Recorded: the audit addon writes every flow with an outcome; the decision says why.
    assert ctx.decision is not None and ctx.decision.rule_id == "scope.misdirected"
    assert ctx.destination is not None
    assert "misdirected" in scope.metrics.render().decode()
    assert scope_module.parsed_request(flow) is None  # nothing was parsed or scanned


@pytest.mark.parametrize(
    ("target", "sni", "host"),
    [
        ("203.0.113.7", None, None),
        ("203.0.113.7", "example.org", "example.org"),
        ("::1", None, "[::1]:443"),
        ("example.org", "example.org", "www.example.org"),
    ],
)
def test_flows_naming_no_catalog_host_are_left_alone(
    target: str, sni: str | None, host: str | None
) -> None:
    flow = _tunnelled(target, sni, host)
    _, ctx = _judged(flow)
    assert flow.response is None
    assert ctx == FlowContext()
    assert flow.request.host == target


def test_unsanctioned_sni_or_host_is_refused_like_the_target() -> None:
    for sni, host in (("chat.deepseek.com", "chat.deepseek.com"), (None, "chat.deepseek.com")):
        flow = _tunnelled("203.0.113.7", sni, host)
        _, ctx = _judged(flow)
        assert flow.response is not None and flow.response.status_code == 403
        assert ctx.outcome == "refused_host"


def test_plain_http_to_an_address_with_a_catalog_host_header_is_judged() -> None:
    flow = _tunnelled("203.0.113.7", None, "api.openai.com", tls=False)
    _, ctx = _judged(flow)
    assert ctx.destination is not None and ctx.destination.service_id == "openai"
    assert (flow.request.host, flow.request.port) == ("api.openai.com", 80)


def test_connect_metrics_name_what_the_target_is() -> None:
    scope = _scope()
    with taddons.context(scope):
        for host in ("api.openai.com", "example.org", "203.0.113.7", "::1", "chat.deepseek.com"):
            flow = tflow.tflow()
            flow.request.method = "CONNECT"
            flow.request.host = host
            scope.http_connect(flow)
    text = scope.metrics.render().decode()
    for decision, count in (("intercept", 1), ("passthrough", 1), ("by_address", 2)):
        assert f'warden_connects_total{{decision="{decision}"}} {count}.0' in text
    assert 'warden_connects_total{decision="blocked"} 1.0' in text


@pytest.mark.parametrize(
    ("url_host", "host"),
    [
        ("evil.test", "api.openai.com"),
        ("api.openai.com", "evil.test"),
        ("chatgpt.com", "api.openai.com"),
    ],
)
def test_plain_http_whose_url_and_host_header_disagree_is_refused(url_host: str, host: str) -> None:
    flow = _tunnelled(url_host, None, host, tls=False)
    _, ctx = _judged(flow)
    assert flow.response is not None and flow.response.status_code == 421, ctx
    assert ctx.outcome == "refused_host"


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_a_request_that_decodes_past_the_limit_is_refused_before_parsing(encoding: str) -> None:
    """Before, ``get_content`` inflated the whole body (1 MB of gzip: 1 GiB) and the
    parser's 32 MB check came after."""
    encoders: dict[str, Callable[[bytes], bytes]] = {
        "gzip": gzip.compress,
        "deflate": zlib.compress,
        "br": brotli.compress,
        "zstd": zstandard.ZstdCompressor().compress,
    }
    encode = encoders[encoding]
    scope = Scope(Catalog.default(), [], GatewayMetrics(), decoded_body_bytes=1024 * 1024)
    flow = _openai_flow(b"")
    flow.request.headers["content-encoding"] = encoding
    flow.request.raw_content = encode(b'{"messages": [' + b" " * (8 * 1024 * 1024) + b"]}")
    with taddons.context(scope):
        scope.requestheaders(flow)
        scope.request(flow)
    assert flow.response is not None and flow.response.status_code == 413
    assert (
        "1048576 bytes once decoded" in json.loads(flow.response.content or b"")["error"]["message"]
    )
    ctx = FlowContext.of(flow)
    assert ctx.outcome == "blocked"
    assert ctx.decision is not None and ctx.decision.rule_id == "limits.decoded_body_bytes"
    assert scope_module.parsed_request(flow) is None
    assert (
        'warden_limits_total{limit="decoded_request_body"} 1.0' in scope.metrics.render().decode()
    )


@pytest.mark.parametrize(
    "hosts",
    [
        [("Host", "api.openai.com"), ("Host", "evil.test")],
        [("Host", "evil.test"), ("host", "api.openai.com")],
        [("Host", "api.openai.com"), ("HOST", "api.openai.com")],
    ],
    ids=["catalog-then-other", "other-then-catalog", "same-twice"],
)
def test_two_host_fields_are_refused(hosts: list[tuple[str, str]]) -> None:
    flow = _tunnelled("api.openai.com", "api.openai.com", None)
    flow.request.headers.fields = (
        *((k.encode(), v.encode()) for k, v in hosts),
        *flow.request.headers.fields,
    )
    _, ctx = _judged(flow)
    assert flow.response is not None and flow.response.status_code == 421
    assert ctx.outcome == "refused_host"


@pytest.mark.parametrize(
    ("authority", "host", "refused"),
    [
        ("api.openai.com", "evil.test", True),
        ("evil.test", "api.openai.com", True),
        ("api.openai.com", "api.openai.com", False),
        ("api.openai.com", None, False),
    ],
)
def test_http2_authority_and_host_field_must_agree(
    authority: str, host: str | None, refused: bool
) -> None:
    """mitmproxy sends an HTTP/2 request upstream as HTTP/1 with its Host field when it
    has one, else with ``:authority``: both must name the same host."""
    flow = _tunnelled("api.openai.com", "api.openai.com", host)
    flow.request.http_version = "HTTP/2.0"
    flow.request.authority = authority
    _, ctx = _judged(flow)
    if refused:
        assert flow.response is not None and flow.response.status_code == 421
    else:
        assert flow.response is None
        assert ctx.destination is not None and ctx.destination.service_id == "openai"
