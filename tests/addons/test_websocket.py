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
from warden.addons.flowcontext import CatalogDestination, FlowContext, ResolvedPrincipal
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
    FlowContext(destination=CatalogDestination("openai", "openai", "api", "api.openai.com")).save(
        flow
    )
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
    ctx.replace(principal=ResolvedPrincipal("acme", "https://idp.test", "alice", "device")).save(
        flow
    )
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


# -- sealed evidence of a socket's exchanges ----------------------------------------------


class ListTrail:
    """The audit trail as a list (the trail's own commit is tested in tests/audit)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    async def record_data(self, data: dict[str, Any]) -> None:
        self.records.append(data)

    def fails_closed(self, tenant: str) -> bool:
        return True


CAPTURE_POLICY = {
    "defaults": {"default_action": "allow"},
    "tenants": {
        "acme": {
            "rules": [
                {"id": "no-o3", "match": {"model": "o3*"}, "action": "block",
                 "evidence": "capture"},
                {"id": "gpt-capture", "match": {"model": "gpt-4o*"}, "action": "allow",
                 "evidence": "capture"},
            ]
        }
    },
}  # fmt: skip


def _capturing(tmp_path: Path) -> tuple[WebSocketInspector, ListTrail, Path, Path]:
    from tests.audit.sealing import add_recipient, investigator
    from warden.addons.evidence import EvidenceCapture
    from warden.audit.evidence_store import EvidenceSealer

    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(CAPTURE_POLICY))
    runtime = PolicyRuntime(
        path, open_state(tmp_path / "state.db"), {"acme"}, None,
        lambda *args, **kwargs: None, "http://portal.test", lambda host: True,
    )  # fmt: skip
    who = investigator(tmp_path)
    add_recipient(tmp_path / "keys", "acme", who.public)
    db = tmp_path / "audit.db"
    evidence = EvidenceCapture(EvidenceSealer(db, tmp_path / "keys", 1024 * 1024))
    trail = ListTrail()
    stage = WebSocketInspector(
        Audit(trail),
        PolicyEnforcer(runtime, "Acme", "it@acme.test"),
        None,
        1024 * 1024,
        None,
        evidence,
    )
    return stage, trail, db, who.key_file


def _session(model: str) -> http.HTTPFlow:
    flow = socket_flow()
    found = socket_protocol("openai", "/v1/responses")
    assert found is not None
    FlowContext(
        destination=CatalogDestination(
            "openai", "openai", "api", "api.openai.com", api=found[0].api, parsed=True
        ),
        principal=ResolvedPrincipal("acme", "https://idp.test", "alice", "device"),
    ).save(flow)
    return flow


async def _send(stage: WebSocketInspector, flow: http.HTTPFlow, content: bytes, client: bool
                ) -> list[bytes]:  # fmt: skip
    assert flow.websocket is not None
    flow.websocket.messages.append(WebSocketMessage(Opcode.TEXT, client, content))
    return await call(Pipeline([stage]), WebsocketMessageHook(flow))


def _opened(db: Path, key: Path, record: dict[str, Any]) -> Any:
    from warden.audit.evidence import load_identities, open_sealed
    from warden.audit.evidence_store import load_evidence
    from warden.audit.schema import open_audit_db_readonly

    conn = open_audit_db_readonly(db)
    stored = load_evidence(conn, str(record["details"]["evidence_id"]))
    conn.close()
    assert stored is not None and stored.sha256 == record["details"]["evidence_sha256"]
    return open_sealed(stored.ciphertext, load_identities(key))


def _create(model: str, text: str) -> bytes:
    return json.dumps({"type": "response.create", "model": model, "input": text}).encode()


DELTA = b'{"type":"response.output_text.delta","delta":"Hello Jane"}'
DONE = b'{"type":"response.completed","response":{"usage":{"input_tokens":3,"output_tokens":2}}}'


async def test_a_captured_turn_is_sealed_with_its_answer_in_its_end_record(
    tmp_path: Path,
) -> None:
    stage, trail, db, key = _capturing(tmp_path)
    flow = _session("gpt-4o-mini")
    asked = _create("gpt-4o-mini", "write to jane@example.com")
    await _send(stage, flow, asked, True)
    assert "evidence_id" not in trail.records[-1]["details"]  # the turn's record: before
    for event in (DELTA, DONE):
        await _send(stage, flow, event, False)
    await stage.done()  # the turn end's record is written off the answer's path
    end = trail.records[-1]
    assert end["details"]["phase"] == "turn_end" and "evidence_sha256" in end["details"]
    envelope = _opened(db, key, end)
    assert envelope.request.data == asked
    assert envelope.answer.data.split(b"\n") == [DELTA, DONE]
    assert envelope.answer_note is None and envelope.method == "GET"
    # the next turn of a model no rule captures: nothing more is sealed
    await _send(stage, flow, _create("gpt-5", "hello"), True)
    for event in (DELTA, DONE):
        await _send(stage, flow, event, False)
    await stage.done()
    assert "evidence_id" not in trail.records[-1]["details"]


async def test_a_socket_closed_mid_turn_seals_what_passed_in_its_end_record(
    tmp_path: Path,
) -> None:
    from mitmproxy.proxy.layers.websocket import WebsocketEndHook

    stage, trail, db, key = _capturing(tmp_path)
    flow = _session("gpt-4o-mini")
    asked = _create("gpt-4o-mini", "write to jane@example.com")
    await _send(stage, flow, asked, True)
    await _send(stage, flow, DELTA, False)
    assert flow.websocket is not None
    flow.websocket.closed_by_client = True
    await call(Pipeline([stage]), WebsocketEndHook(flow))
    end = trail.records[-1]
    assert end["details"]["phase"] == "websocket_end"
    envelope = _opened(db, key, end)
    assert envelope.request.data == asked and envelope.answer.data == DELTA
    assert envelope.answer_note == "cut: the socket was closed by the client before the turn ended"


async def test_a_refused_captured_message_is_sealed_with_the_error_it_got(
    tmp_path: Path,
) -> None:
    stage, trail, db, key = _capturing(tmp_path)
    flow = _session("o3")
    asked = _create("o3", "the secret plan")
    injected = await _send(stage, flow, asked, True)
    assert flow.websocket is not None and flow.websocket.messages[-1].dropped
    refusal = trail.records[-1]
    assert refusal["outcome"] == "blocked" and refusal["decision"]["rule_id"] == "no-o3"
    envelope = _opened(db, key, refusal)
    assert envelope.request.data == asked and envelope.answer.data == injected[0]


async def test_a_long_captured_answer_keeps_the_cap(tmp_path: Path) -> None:
    stage, trail, db, key = _capturing(tmp_path)
    assert stage.evidence is not None
    stage.evidence.sealer.max_bytes = 1024
    flow = _session("gpt-4o-mini")
    await _send(stage, flow, _create("gpt-4o-mini", "a long one"), True)
    for _ in range(100):
        await _send(stage, flow, DELTA, False)
    await _send(stage, flow, DONE, False)
    await stage.done()
    end = trail.records[-1]
    assert end["details"]["evidence_truncated"] is True
    envelope = _opened(db, key, end)
    assert len(envelope.answer.data) == 1024 and envelope.answer.truncated
    assert envelope.answer.size == 100 * len(DELTA) + len(DONE) + 100  # and 100 newlines


async def test_the_next_turn_does_not_join_an_exchange_still_being_sealed(
    tmp_path: Path,
) -> None:
    """The turn's end detaches its exchange at once; the sealing runs later in a task, and
    the next turn's messages (sent before that task ran) start an exchange of their own."""
    stage, trail, db, key = _capturing(tmp_path)
    flow = _session("gpt-4o-mini")
    first, second = _create("gpt-4o-mini", "one"), _create("gpt-4o-mini", "two")
    for content, client in ((first, True), (DELTA, False), (DONE, False), (second, True),
                            (DELTA, False), (DONE, False)):  # fmt: skip
        await _send(stage, flow, content, client)
    await stage.done()
    ends = [r for r in trail.records if r["details"].get("phase") == "turn_end"]
    assert len(ends) == 2
    sealed = {_opened(db, key, r).request.data for r in ends}
    assert sealed == {first, second}
    assert all(_opened(db, key, r).answer.data.split(b"\n") == [DELTA, DONE] for r in ends)


# -- multiplexed sockets (Responses ``stream_id`` lanes) -------------------------------


def _on_lane(content: bytes, lane: str) -> bytes:
    return json.dumps({**json.loads(content), "stream_id": lane}).encode()


async def test_lanes_of_one_socket_are_sealed_each_with_its_own_answer(tmp_path: Path) -> None:
    """Two conversations run at once on one socket: each turn's end seals its own lane's
    question and answer, never the other lane's events that came in between."""
    stage, trail, db, key = _capturing(tmp_path)
    flow = _session("gpt-4o-mini")
    one = _on_lane(_create("gpt-4o-mini", "lane one"), "a")
    two = _on_lane(_create("gpt-4o-mini", "lane two"), "b")
    delta_a, delta_b = _on_lane(DELTA, "a"), _on_lane(DELTA, "b")
    done_a, done_b = _on_lane(DONE, "a"), _on_lane(DONE, "b")
    for content, client in ((one, True), (two, True), (delta_b, False), (delta_a, False),
                            (done_b, False), (done_a, False)):  # fmt: skip
        await _send(stage, flow, content, client)
    await stage.done()
    ends = [r for r in trail.records if r["details"].get("phase") == "turn_end"]
    assert len(ends) == 2
    by_request = {_opened(db, key, r).request.data: _opened(db, key, r) for r in ends}
    assert set(by_request) == {one, two}
    assert by_request[one].answer.data.split(b"\n") == [delta_a, done_a]
    assert by_request[two].answer.data.split(b"\n") == [delta_b, done_b]


async def test_a_refusal_on_a_lane_names_the_lane_and_seals_only_it(tmp_path: Path) -> None:
    stage, trail, db, key = _capturing(tmp_path)
    flow = _session("gpt-4o-mini")
    allowed = _on_lane(_create("gpt-4o-mini", "fine"), "a")
    blocked = _on_lane(_create("o3", "the secret plan"), "b")
    await _send(stage, flow, allowed, True)
    injected = await _send(stage, flow, blocked, True)
    error = json.loads(injected[0])
    assert error["type"] == "error" and error["stream_id"] == "b"  # the lane's client gets it
    refusal = trail.records[-1]
    assert refusal["outcome"] == "blocked"
    assert _opened(db, key, refusal).request.data == blocked
    for event in (_on_lane(DELTA, "a"), _on_lane(DONE, "a")):
        await _send(stage, flow, event, False)
    await stage.done()
    end = trail.records[-1]
    assert end["details"]["phase"] == "turn_end"
    assert _opened(db, key, end).request.data == allowed


async def test_captures_beyond_the_lane_bound_are_recorded_as_skipped(tmp_path: Path) -> None:
    from warden.addons.websocket import MAX_CAPTURED_LANES

    stage, trail, _db, _key = _capturing(tmp_path)
    flow = _session("gpt-4o-mini")
    for n in range(MAX_CAPTURED_LANES + 1):
        await _send(stage, flow, _on_lane(_create("gpt-4o-mini", f"turn {n}"), f"l{n}"), True)
    turns = [r for r in trail.records if "turn" in r["details"]]
    assert [("evidence_skipped" in r["details"]) for r in turns] == [False] * (
        MAX_CAPTURED_LANES
    ) + [True]
    # a lane's turn end frees its place: the next lane is captured again
    await _send(stage, flow, _on_lane(DONE, "l0"), False)
    await _send(stage, flow, _on_lane(_create("gpt-4o-mini", "again"), "l9"), True)
    assert "evidence_skipped" not in trail.records[-1]["details"]


async def test_a_socket_closed_with_two_lanes_open_seals_both(tmp_path: Path) -> None:
    from mitmproxy.proxy.layers.websocket import WebsocketEndHook

    stage, trail, db, key = _capturing(tmp_path)
    flow = _session("gpt-4o-mini")
    one = _on_lane(_create("gpt-4o-mini", "lane one"), "a")
    two = _on_lane(_create("gpt-4o-mini", "lane two"), "b")
    for content, client in ((one, True), (two, True), (_on_lane(DELTA, "b"), False)):
        await _send(stage, flow, content, client)
    assert flow.websocket is not None
    flow.websocket.closed_by_client = True
    await call(Pipeline([stage]), WebsocketEndHook(flow))
    sealed = [r for r in trail.records if "evidence_id" in r["details"]]
    assert {r["details"]["phase"] for r in sealed} == {"websocket_end", "evidence"}
    opened = {_opened(db, key, r).request.data: _opened(db, key, r) for r in sealed}
    assert set(opened) == {one, two}
    assert opened[two].answer is not None and opened[two].answer.data == _on_lane(DELTA, "b")
    assert opened[one].answer is None  # lane a had no answer yet: b's delta is not in it
    assert all(o.answer_note and o.answer_note.startswith("cut:") for o in opened.values())
