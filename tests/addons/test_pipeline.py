"""Pipeline: mitmproxy's own addon manager dispatches to the stages, in order, and a stage
that raises before the request leaves refuses the flow instead of letting it go upstream."""

from __future__ import annotations

import json

import pytest
from mitmproxy import http
from mitmproxy.proxy.server_hooks import ServerConnectHook, ServerConnectionHookData
from mitmproxy.test import taddons, tflow

from warden.addons import flowcontext as context_module
from warden.addons.flowcontext import CatalogDestination, FlowContext, Usage
from warden.addons.pipeline import Pipeline


class Recorder:
    def __init__(self, name: str, calls: list[str]) -> None:
        self.name, self.calls = name, calls

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        self.calls.append(f"{self.name}.requestheaders")

    async def request(self, flow: http.HTTPFlow) -> None:
        self.calls.append(f"{self.name}.request")

    def response(self, flow: http.HTTPFlow) -> None:
        self.calls.append(f"{self.name}.response")


class Broken:
    def __init__(self, hook: str) -> None:
        def fail(_: object) -> None:
            raise RuntimeError("a bug in a stage")

        setattr(self, hook, fail)


def _openai_flow() -> http.HTTPFlow:
    flow = tflow.tflow()
    FlowContext(
        destination=CatalogDestination("openai-api", "openai", "api", "api.openai.com")
    ).save(flow)
    return flow


async def _hook(pipeline: Pipeline, name: str, flow: http.HTTPFlow) -> None:
    """Dispatch ``name`` the way the running proxy does: through mitmproxy's addon manager."""
    from mitmproxy.proxy.layers.http._hooks import (
        HttpRequestHeadersHook,
        HttpRequestHook,
        HttpResponseHook,
    )

    hook = {
        "requestheaders": HttpRequestHeadersHook,
        "request": HttpRequestHook,
        "response": HttpResponseHook,
    }[name]
    with taddons.context(pipeline) as tctx:
        await tctx.master.addons.handle_lifecycle(hook(flow))


async def test_stages_run_in_chain_order_through_mitmproxy() -> None:
    calls: list[str] = []
    pipeline = Pipeline([Recorder("a", calls), Recorder("b", calls)])
    flow = _openai_flow()
    for name in ("requestheaders", "request", "response"):
        await _hook(pipeline, name, flow)
    assert calls == [
        "a.requestheaders",
        "b.requestheaders",
        "a.request",
        "b.request",
        "a.response",
        "b.response",
    ]


def test_hooks_no_stage_implements_are_not_offered_to_mitmproxy() -> None:
    pipeline = Pipeline([Recorder("a", [])])
    assert getattr(pipeline, "responseheaders") is None  # noqa: B009 - set per instance
    assert getattr(pipeline, "error") is None  # noqa: B009
    assert pipeline.implementers("request") == ["Recorder"]


async def test_a_failing_request_stage_refuses_the_flow_and_skips_later_stages() -> None:
    calls: list[str] = []
    pipeline = Pipeline([Broken("request"), Recorder("after", calls)])
    flow = _openai_flow()
    await _hook(pipeline, "request", flow)
    assert flow.response is not None and flow.response.status_code == 502
    body = json.loads(flow.response.content or b"")
    assert body["error"]["code"] == "warden_internal_error"  # the OpenAI SDK reads this
    assert "Broken" in body["error"]["message"]
    assert FlowContext.of(flow).outcome == "gateway_error"
    assert calls == []  # nothing after the failing check ran (e.g. the upstream routing)


async def test_without_the_pipeline_mitmproxy_would_let_the_flow_go_on() -> None:
    """The attack the pipeline closes: mitmproxy alone logs the error and continues."""
    flow = _openai_flow()
    from mitmproxy.proxy.layers.http._hooks import HttpRequestHook

    with taddons.context(Broken("request")) as tctx:
        await tctx.master.addons.handle_lifecycle(HttpRequestHook(flow))
    assert flow.response is None  # would have been sent upstream unchecked


async def test_a_failing_response_stage_still_lets_the_audit_stage_run() -> None:
    calls: list[str] = []
    pipeline = Pipeline([Broken("response"), Recorder("audit", calls)])
    flow = _openai_flow()
    flow.response = http.Response.make(200, b"{}")
    await _hook(pipeline, "response", flow)
    assert calls == ["audit.response"]
    assert FlowContext.of(flow).outcome == "gateway_error"


async def test_a_failing_server_connect_stage_refuses_the_connection() -> None:
    pipeline = Pipeline([Broken("server_connect")])
    flow = _openai_flow()
    data = ServerConnectionHookData(flow.server_conn, flow.client_conn)
    with taddons.context(pipeline) as tctx:  # as the proxy dispatches it
        await tctx.master.addons.handle_lifecycle(ServerConnectHook(data))
    assert data.server.error and "internal check (Broken)" in data.server.error


def test_async_load_is_refused_at_start() -> None:
    class AsyncLoad:
        async def load(self, loader: object) -> None:
            pass

    with pytest.raises(TypeError, match="must not be async"):
        Pipeline([AsyncLoad()])


class _Counter:
    """Records the context each stage sees, and counts its answer's tokens."""

    def __init__(self) -> None:
        self.seen: list[FlowContext] = []

    def response(self, flow: http.HTTPFlow) -> None:
        ctx = FlowContext.of(flow)
        self.seen.append(ctx)
        ctx.replace(usage=Usage(3, 4, False)).save(flow)


class _AsyncAudit:
    async def response(self, flow: http.HTTPFlow) -> None:
        assert FlowContext.of(flow).usage is not None


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_after_the_last_response_stage_the_decoded_context_is_let_go(
    asynchronous: bool,
) -> None:
    # The decoded context would otherwise live as long as the flow, which only the cycle
    # collector frees; the flow's metadata still holds the context.
    stages: list[object] = [_Counter()]
    if asynchronous:
        stages.append(_AsyncAudit())  # makes the pipeline's response hook a coroutine
    pipeline = Pipeline(stages)
    flow = _openai_flow()
    flow.response = http.Response.make(200, b"{}")
    await _hook(pipeline, "response", flow)
    assert flow not in context_module._decoded
    ctx = FlowContext.of(flow)  # decoded again from the metadata
    assert ctx.usage == Usage(3, 4, False)
    assert ctx.destination is not None and ctx.destination.host == "api.openai.com"


def test_connection_hooks_run_in_order_and_raise_like_an_addon() -> None:
    """The connection guard's hooks run through the pipeline (one addon for mitmproxy to
    visit per flow hook, not two), in stage order; an exception reaches mitmproxy."""
    calls: list[str] = []

    class Guard:
        def client_connected(self, client: object) -> None:
            calls.append(f"guard {client}")

    class Other:
        def client_connected(self, client: object) -> None:
            calls.append(f"other {client}")

        def next_layer(self, nextlayer: object) -> None:
            raise RuntimeError("broken")

    pipeline = Pipeline([Guard(), Other()])
    pipeline.client_connected("c1")  # type: ignore[attr-defined]
    assert calls == ["guard c1", "other c1"]
    assert pipeline.client_disconnected is None  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError, match="broken"):
        pipeline.next_layer("layer")  # type: ignore[attr-defined]

    class AsyncGuard:
        async def client_connected(self, client: object) -> None:
            pass

    with pytest.raises(TypeError, match="connection hooks must not be async"):
        Pipeline([AsyncGuard()])
