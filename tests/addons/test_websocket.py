"""The WebSocket stage at the upgrade, and the pipeline's fail-closed rule on messages.

End to end (real client, real gateway, aimock's sockets) is tests/e2e/test_websocket.py;
here the hooks are called through mitmproxy's own addon manager, with the
``inject.websocket`` command recorded instead of sent (no live connection exists here).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from mitmproxy import http
from mitmproxy.flow import Flow
from mitmproxy.proxy.layers.http._hooks import HttpRequestHook, HttpResponseHook
from mitmproxy.proxy.layers.websocket import WebsocketMessageHook
from mitmproxy.test import taddons, tflow, tutils
from mitmproxy.websocket import WebSocketMessage
from wsproto.frame_protocol import Opcode

from warden.addons.audit import Audit
from warden.addons.flowcontext import Destination, FlowContext, Principal
from warden.addons.flowstate import state
from warden.addons.pipeline import Pipeline
from warden.addons.policy import PolicyEnforcer
from warden.addons.websocket import Session, WebSocketInspector
from warden.gateway.state.store import open_state
from warden.gateway.wiring.policy import PolicyRuntime
from warden.providers.sockets import socket_protocol


class Broken:
    def websocket_message(self, flow: http.HTTPFlow) -> None:
        raise RuntimeError("a bug in a stage")


def inspector() -> WebSocketInspector:
    # The upgrade is judged without writing to the audit trail; no trail is needed here.
    return WebSocketInspector(cast(Audit, None), None, None, 1024 * 1024)


def upgrade(path: str, upgrade_to: str = "websocket") -> http.HTTPFlow:
    flow = tflow.twebsocketflow()
    flow.websocket = None
    flow.response = None
    flow.request.host = "api.openai.com"
    flow.request.path = path
    flow.request.headers["upgrade"] = upgrade_to
    FlowContext(destination=Destination("openai", "openai", "api", "api.openai.com")).save(flow)
    return flow


async def call(addon: object, hook: Any) -> list[bytes]:
    """Dispatch ``hook`` through mitmproxy's addon manager; the injected messages."""
    injected: list[bytes] = []

    def inject(flow: Flow, to_client: bool, message: bytes, is_text: bool = True) -> None:
        injected.append(message)

    with taddons.context(addon) as tctx:
        tctx.master.commands.add("inject.websocket", inject)
        await tctx.master.addons.handle_lifecycle(hook)
    return injected


ATTACKS = [
    pytest.param("/v1/unknown", "websocket", 403, id="unknown-path"),
    pytest.param("/v1/responses/x", "websocket", 403, id="longer-path"),
    pytest.param("/v1/responses", "h2c", 400, id="other-upgrade"),
    pytest.param("/v1/responses", "tcp", 400, id="raw-tcp"),
    pytest.param("/v1/responses", "WebSocket, h2c", 400, id="list"),
]


@pytest.mark.parametrize(("path", "to", "status"), ATTACKS)
async def test_upgrades_nothing_can_read_are_refused(path: str, to: str, status: int) -> None:
    flow = upgrade(path, to)
    await call(inspector(), HttpRequestHook(flow))
    assert flow.response is not None and flow.response.status_code == status
    assert "Egress Warden" in json.loads(flow.response.content or b"")["error"]["message"]
    assert FlowContext.of(flow).outcome == "blocked"


@pytest.mark.parametrize(
    ("path", "api", "model"),
    [
        ("/v1/responses", "openai.responses_websocket", None),
        ("/v1/realtime?model=gpt-realtime", "openai.realtime", "gpt-realtime"),
    ],
)
async def test_known_sockets_are_admitted_with_api_and_model(
    path: str, api: str, model: str | None
) -> None:
    flow = upgrade(path)
    await call(inspector(), HttpRequestHook(flow))
    assert flow.response is None
    dest = FlowContext.of(flow).destination
    assert dest is not None and (dest.api, dest.model, dest.parsed) == (api, model, True)


async def test_an_upgrade_without_a_websocket_version_is_refused() -> None:
    """mitmproxy relays a 101 to a request without ``Sec-WebSocket-Version`` as raw TCP."""
    flow = upgrade("/v1/responses")
    del flow.request.headers["sec-websocket-version"]
    await call(inspector(), HttpRequestHook(flow))
    assert flow.response is not None and flow.response.status_code == 400


@pytest.mark.parametrize("switched_to", ["", "h2c", "tcp"])
async def test_a_101_that_is_not_an_admitted_websocket_is_refused(switched_to: str) -> None:
    """mitmproxy would relay such a 101 as a raw TCP tunnel."""
    admitted = upgrade("/v1/responses")
    await call(inspector(), HttpRequestHook(admitted))
    assert admitted.response is None
    unadmitted = upgrade("/v1/chat/completions")
    del unadmitted.request.headers["upgrade"]
    for flow, answer in ((admitted, switched_to), (unadmitted, "websocket")):
        flow.response = tutils.tresp(status_code=101)
        flow.response.headers["upgrade"] = answer
        await call(inspector(), HttpResponseHook(flow))
        assert flow.response.status_code == 502


def socket_flow(*contents: bytes) -> http.HTTPFlow:
    flow = tflow.twebsocketflow(messages=False)
    flow.request.host = "api.openai.com"
    assert flow.websocket is not None
    for content in contents:
        flow.websocket.messages.append(WebSocketMessage(Opcode.TEXT, True, content))
    found = socket_protocol("openai", "/v1/responses")
    assert found is not None
    state(flow).socket = Session(*found)
    return flow


async def test_a_stage_failing_on_a_client_message_drops_it_and_stops_the_session() -> None:
    flow = socket_flow(b'{"type":"response.create","input":"hello"}')
    assert flow.websocket is not None
    injected = await call(Pipeline([Broken(), inspector()]), WebsocketMessageHook(flow))
    assert flow.websocket.messages[-1].dropped
    error = json.loads(injected[0])
    assert error["type"] == "error" and "internal error in Broken" in error["error"]["message"]
    # every later message of the session is dropped too, unread
    flow.websocket.messages.append(WebSocketMessage(Opcode.TEXT, True, b'{"type":"x"}'))
    await call(Pipeline([inspector()]), WebsocketMessageHook(flow))
    assert flow.websocket.messages[-1].dropped


async def test_plain_mitmproxy_would_have_forwarded_it() -> None:
    """Without the pipeline, mitmproxy logs the stage's exception and sends the message."""
    flow = socket_flow(b'{"type":"response.create","input":"hello"}')
    assert flow.websocket is not None
    await call(Broken(), WebsocketMessageHook(flow))
    assert not flow.websocket.messages[-1].dropped


async def test_an_oversized_client_message_is_refused_unread() -> None:
    flow = socket_flow(b'{"type":"response.create","input":"' + b"x" * 2_000_000 + b'"}')
    assert flow.websocket is not None
    injected = await call(Pipeline([inspector()]), WebsocketMessageHook(flow))
    assert flow.websocket.messages[-1].dropped
    assert json.loads(injected[0])["error"]["code"] == "warden_message_too_large"


def enforcer(tmp_path: Path, allow_unparsed: bool) -> PolicyEnforcer:
    policy = {
        "defaults": {"default_action": "allow"},
        "tenants": {"acme": {"allow_unparsed": allow_unparsed}},
    }
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    runtime = PolicyRuntime(
        path,
        open_state(tmp_path / "state.db"),
        {"acme"},
        None,
        lambda *args, **kwargs: None,
        "http://portal.test",
        lambda host: True,
    )
    return PolicyEnforcer(runtime, "Acme", "it@acme.test")


@pytest.mark.parametrize(("allow_unparsed", "refused"), [(False, True), (True, False)])
async def test_an_unknown_socket_follows_the_tenants_allow_unparsed(
    tmp_path: Path, allow_unparsed: bool, refused: bool
) -> None:
    flow = upgrade("/v1/some-new-socket")
    ctx = FlowContext.of(flow)
    ctx.replace(principal=Principal("acme", "https://idp.test", "alice", "device")).save(flow)
    stage = WebSocketInspector(cast(Audit, None), enforcer(tmp_path, allow_unparsed), None, 1024)
    await call(stage, HttpRequestHook(flow))
    assert (flow.response is not None) == refused
    if refused:
        assert flow.response is not None and flow.response.status_code == 403
        assert "it@acme.test" in (flow.response.text or "")


async def test_a_long_session_keeps_only_the_message_in_hand() -> None:
    flow = socket_flow(*(b'{"type":"response.cancel"}' for _ in range(50)))
    assert flow.websocket is not None
    await call(Pipeline([inspector()]), WebsocketMessageHook(flow))
    assert len(flow.websocket.messages) == 1
