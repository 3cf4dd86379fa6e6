"""WebSockets through the real gateway to aimock's Responses WebSocket mode and Realtime
API: a real client (aiohttp: CONNECT, TLS with the gateway's CA, upgrade) against a real
upstream socket. Each message is judged as the same prompt over HTTP is: what aimock
received is asserted on its journal, the refusals on the error events the client got,
the turn on the audit trail. Before this stage the gateway let every message through
unread (issue 21): these tests fail on that code at the first assertion on the journal.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.test_identity import SERVICE_SECRET, Bed, device_login, start_bed
from tests.e2e.test_policy import token
from tests.identity.devidp import service_client
from tests.peers import Aimock, wait_until
from tests.wsclient import exchange, text_of

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
EMAIL = "jane.customer@example.com"
OPENAI_KEY = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1w"
AWS = "AKIAIOSFODNN7EXAMPLE"
GREETING = "Hello from the mock upstream. How can I help?"
RESPONSES = "wss://api.openai.com/v1/responses"
REALTIME = "wss://api.openai.com/v1/realtime?model=gpt-realtime"
POLICY = {
    "dlp_profiles": ["pii-basic"],
    "defaults": {"default_action": "block"},
    "tenants": {
        "acme": {
            "models": ["gpt-4o*", "gpt-realtime*"],
            "rules": [
                {
                    "id": "acme-redact",
                    "match": {"kind": "api"},
                    "action": "redact",
                    "dlp_profile": "pii-basic",
                    "logging": "redacted",
                }
            ],
        }
    },
}


@pytest.fixture(scope="module")
def bed(aimock: Aimock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    tmp = tmp_path_factory.mktemp("websocket")
    policy = tmp / "policy.yaml"
    policy.write_text(yaml.safe_dump(POLICY))
    clients = [service_client("svc-eng", SERVICE_SECRET, {"tenant": "acme", "department": "eng"})]
    b = start_bed(
        tmp,
        aimock,
        surrogate=False,
        extra_clients=clients,
        extra_config={
            "policy": {"file": str(policy)},
            "dlp": {
                "profiles_file": str(ROOT / "packaging" / "demo" / "dlp-profiles.yaml"),
                "workers": 1,
            },
        },
    )
    yield b
    b.warden.stop()
    b.idp.stop()


def create(prompt: str, model: str = "gpt-4o-mini") -> dict[str, Any]:
    """A ``response.create`` as Codex CLI sends it (the HTTP body's fields, flattened)."""
    return {
        "type": "response.create",
        "model": model,
        "instructions": "You are a helpful assistant.",
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": prompt}]}
        ],
        "tools": [],
        "store": False,
    }


def ws(bed: Bed, sends: list[Any], url: str = RESPONSES, bearer: str | None = "eng") -> Any:
    return exchange(
        bed.warden.proxy_url,
        bed.warden.ca_cert,
        url,
        sends,
        token(bed, bearer) if bearer else None,
    )


def http_responses(bed: Bed, body: dict[str, Any]) -> httpx.Response:
    """The same request over HTTP: POST /v1/responses through the gateway."""
    proxy = httpx.Proxy(
        bed.warden.proxy_url, headers={"Proxy-Authorization": f"Bearer {token(bed, 'eng')}"}
    )
    tls = ssl.create_default_context(cafile=str(bed.warden.ca_cert))
    with httpx.Client(proxy=proxy, verify=tls, timeout=60) as client:
        return client.post(
            "https://api.openai.com/v1/responses",
            json=body,
            headers={"Authorization": "Bearer sk-test"},
        )


def ws_journal(bed: Bed) -> list[dict[str, Any]]:
    return [e for e in bed.aimock.journal() if e.get("method") == "WS"]


def upstream_user_text(entry: dict[str, Any]) -> str:
    """The last user message aimock received (its journal holds the chat form)."""
    body = entry["body"] if isinstance(entry["body"], dict) else json.loads(entry["body"])
    users = [m for m in body["messages"] if m.get("role") == "user"]
    content = users[-1]["content"]
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)


def acme_records(bed: Bed) -> list[dict[str, Any]]:
    return bed.warden.audit_records("acme")


def test_redacted_over_the_socket_as_over_http(bed: Bed) -> None:
    prompt = f"hello warden, write to {EMAIL} with key {OPENAI_KEY}"
    before = len(ws_journal(bed))
    up = ws(bed, [create(prompt)])
    assert up.status == 101, up.body
    events = up.events[0]
    assert events[-1]["type"] == "response.completed", events
    assert text_of(events) == GREETING
    entries = ws_journal(bed)
    assert len(entries) == before + 1
    over_socket = upstream_user_text(entries[-1])
    assert EMAIL not in over_socket and OPENAI_KEY not in over_socket
    assert "<EMAIL_ADDRESS_1>" in over_socket and "<OPENAI_API_KEY_1>" in over_socket
    http = http_responses(bed, {k: v for k, v in create(prompt).items() if k != "type"})
    assert http.status_code == 200, http.text
    http_entry = [e for e in bed.aimock.journal() if e.get("path") == "/v1/responses"][-1]
    assert upstream_user_text(http_entry) == over_socket


def test_the_turn_is_audited_with_model_findings_and_usage(bed: Bed) -> None:
    up = ws(bed, [create(f"hello warden, mail {EMAIL}")])
    assert up.events[0][-1]["type"] == "response.completed"
    records: list[dict[str, Any]] = []

    def turn_ended() -> bool:
        # the turn-end record is written beside the answer's last event, not before it
        records[:] = acme_records(bed)
        opened = [r for r in records if r["details"].get("phase") == "opened"]
        return any(
            r["details"].get("phase") == "turn_end"
            and r["details"].get("flow_record") == opened[-1]["record_id"]
            for r in records
        )

    wait_until(turn_ended, 30, "the turn's end record")
    session = [r for r in records if r["details"].get("phase") == "opened"][-1]
    assert session["status"] == 101 and session["details"]["transport"] == "websocket"
    assert session["destination"]["api"] == "openai.responses_websocket"
    turns = [r for r in records if r["details"].get("flow_record") == session["record_id"]]
    turn = next(r for r in turns if r["details"].get("event") == "response.create")
    assert turn["details"]["transport"] == "websocket" and turn["details"]["turn"] == 1
    assert turn["destination"]["model"] == "gpt-4o-mini"
    assert turn["outcome"] == "redacted"
    assert {(f["entity_type"], f["count"]) for f in turn["findings"]} == {("EMAIL_ADDRESS", 1)}
    assert turn["decision"]["rule_id"] == "acme-redact"
    assert "<EMAIL_ADDRESS_1>" in turn["prompt"]  # the policy keeps redacted prompts
    end = next(r for r in turns if r["details"].get("phase") == "turn_end")
    assert end["details"]["turn_record"] == turn["record_id"]
    assert end["usage"] is not None and end["usage"]["tokens_out"] is not None
    assert EMAIL not in json.dumps(records)


REFUSED = [
    pytest.param(create(f"hello warden, deploy with {AWS}"), "warden_dlp_blocked", id="aws-key"),
    pytest.param(create("hello warden, project Bluebird"), "warden_dlp_blocked", id="codename"),
    pytest.param(create("hello warden", model="o1-pro"), "policy_blocked", id="unapproved-model"),
]


@pytest.mark.parametrize(("message", "code"), REFUSED)
def test_refused_over_the_socket_as_over_http(bed: Bed, message: dict[str, Any], code: str) -> None:
    before = len(ws_journal(bed))
    up = ws(bed, [message, create("hello warden")])
    assert up.status == 101, up.body
    refused, after = up.events
    assert [e["type"] for e in refused] == ["error"]
    error = refused[0]["error"]
    assert error["code"] == code
    http = http_responses(bed, {k: v for k, v in message.items() if k != "type"})
    assert http.status_code == 403
    assert error["message"] == http.json()["error"]["message"]
    assert AWS not in error["message"]
    # the refused message never left; the session goes on with the next one
    assert after[-1]["type"] == "response.completed"
    wait_until(lambda: len(ws_journal(bed)) > before, 30, "aimock's journal of the turn")
    assert len(ws_journal(bed)) == before + 1
    assert "Bluebird" not in upstream_user_text(ws_journal(bed)[-1])


UNREADABLE = [
    pytest.param("not json at all", id="not-json"),
    pytest.param(b"\x00\x01binary", id="binary"),
    pytest.param({"type": "response.create", "input": 42}, id="wrong-shape"),
    pytest.param({"type": "session.hijack", "input": "x"}, id="unknown-event"),
    pytest.param('{"type":"response.create","input":"a","input":"hello warden"}', id="repeat-key"),
    # over proxy.websocket_max_message_bytes (16 MiB by default): refused unread
    pytest.param({"type": "response.create", "input": "x" * (17 << 20)}, id="over-the-cap"),
]


@pytest.mark.parametrize("message", UNREADABLE)
def test_a_message_the_gateway_cannot_read_does_not_leave(bed: Bed, message: Any) -> None:
    before = len(ws_journal(bed))
    up = ws(bed, [message])
    assert up.status == 101
    assert [e["type"] for e in up.events[0]] == ["error"], up.events
    error = up.events[0][0]["error"]
    if isinstance(message, dict) and len(str(message["input"])) > 16 << 20:
        assert error["code"] == "warden_message_too_large"
    else:  # refused as an unreadable HTTP body is: the tenant does not allow unparsed content
        assert error["code"] == "policy_blocked" and "tenant:acme/unparsed" in error["message"]
    assert len(ws_journal(bed)) == before


UNKNOWN_SOCKETS = [
    "wss://api.openai.com/v1/unknown-socket",
    "wss://api.openai.com/v1/responses/extra",
    "wss://chatgpt.com/backend-api/ws",
    "wss://api.anthropic.com/v1/messages",
]


@pytest.mark.parametrize("url", UNKNOWN_SOCKETS)
def test_an_unknown_socket_on_a_catalog_host_is_refused(bed: Bed, url: str) -> None:
    up = ws(bed, [], url=url)
    assert up.status == 403, up


def test_upgrade_without_credentials_gets_407(bed: Bed) -> None:
    assert ws(bed, [], bearer=None).status == 407


def test_a_placeholder_split_across_deltas_is_restored(bed: Bed) -> None:
    """aimock sends this answer three characters per delta (fixtures/aimock/websocket.json):
    ``<CUSTOMER_1>`` arrives in five pieces."""
    up = ws(bed, [create("Write a note to Jane Roe in small pieces.")])
    events = up.events[0]
    assert events[-1]["type"] == "response.completed", events
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert len(deltas) > 15  # three characters each: the placeholder was split upstream
    assert text_of(events) == "Dear Jane Roe, this note arrives three characters at a time."
    assert "CUSTOMER" not in json.dumps(events)


def test_pseudonym_is_restored_in_server_events(bed: Bed) -> None:
    up = ws(bed, [create("Draft a short apology to Jane Roe for the late delivery.")])
    events = up.events[0]
    assert events[-1]["type"] == "response.completed", events
    assert text_of(events).startswith("Dear Jane Roe,")  # a placeholder within one delta
    assert "Jane Roe" not in upstream_user_text(ws_journal(bed)[-1])


def session_end(bed: Bed, api: str) -> dict[str, Any]:
    """The last session's ``websocket_end`` record: written when the gateway has seen the
    close, which comes after the client's last read, so it is waited for."""
    found: list[dict[str, Any]] = []

    def written() -> bool:
        found[:] = [
            r
            for r in acme_records(bed)
            if r["details"].get("phase") == "websocket_end" and r["destination"]["api"] == api
        ]
        return bool(found)

    try:
        wait_until(written, 30, "the session's end record")
    except TimeoutError:
        raise AssertionError(bed.warden.log()[-3000:]) from None
    return found[-1]


REALTIME_ANSWERED = frozenset({"error", "response.done", "conversation.item.added"})


def realtime(bed: Bed, sends: list[Any], url: str = REALTIME) -> Any:
    return exchange(
        bed.warden.proxy_url,
        bed.warden.ca_cert,
        url,
        sends,
        token(bed, "eng"),
        answered=REALTIME_ANSWERED | {"input_audio_buffer.committed", "session.updated"},
    )


def user_item(text: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        },
    }


def test_realtime_text_is_redacted_and_audio_counted(bed: Bed) -> None:
    audio = {"type": "input_audio_buffer.append", "audio": "AAAA" * 100}
    up = realtime(
        bed,
        [audio, audio, user_item(f"hello warden, I am {EMAIL}"), {"type": "response.create"}],
    )
    assert up.status == 101, up.body
    assert all(e["type"] != "error" for batch in up.events for e in batch), up.events
    assert up.events[-1][-1]["type"] == "response.done"
    entry = [e for e in ws_journal(bed) if e.get("path") == "/v1/realtime"][-1]
    assert EMAIL not in json.dumps(entry) and "<EMAIL_ADDRESS_1>" in upstream_user_text(entry)
    end = session_end(bed, "openai.realtime")
    assert end["details"]["audio_frames"] == 2 and end["details"]["audio_bytes"] == 600
    assert end["details"]["turns"] == 1


REALTIME_REFUSED = [
    pytest.param(user_item(f"hello warden, key {AWS}"), "warden_dlp_blocked", id="aws-key"),
    pytest.param(
        {"type": "session.update", "session": {"type": "realtime", "instructions": "Bluebird"}},
        "warden_dlp_blocked",
        id="codename-in-instructions",
    ),
    pytest.param(
        {"type": "session.update", "session": {"type": "realtime", "model": "o1-pro"}},
        "policy_blocked",
        id="unapproved-model",
    ),
    pytest.param({"type": "transcript.inject", "text": "x"}, "policy_blocked", id="unknown-event"),
]


@pytest.mark.parametrize(("message", "code"), REALTIME_REFUSED)
def test_realtime_refusals(bed: Bed, message: dict[str, Any], code: str) -> None:
    up = realtime(bed, [message])
    assert up.status == 101, up.body
    errors = [e for e in up.events[0] if e["type"] == "error"]
    assert [e["error"]["code"] for e in errors] == [code], up.events
    assert AWS not in json.dumps(bed.aimock.journal())


def test_realtime_unapproved_model_is_refused_at_the_upgrade(bed: Bed) -> None:
    up = realtime(bed, [], url="wss://api.openai.com/v1/realtime?model=o1-pro")
    assert up.status == 403
    record = acme_records(bed)[-1]
    assert record["decision"]["rule_id"] == "tenant:acme/models"
    assert record["destination"]["api"] == "openai.realtime"
    assert record["destination"]["model"] == "o1-pro"


def test_pseudonyms_of_later_turns_do_not_reuse_numbers(bed: Bed) -> None:
    """Turns of one socket continue one conversation: a new person gets a new number."""
    first = "Draft a short apology to Jane Roe for the late delivery."
    second = "hello warden, and one to Contoso Ltd as well."
    up = ws(bed, [create(first), create(second)])
    assert text_of(up.events[0]).startswith("Dear Jane Roe,")
    assert text_of(up.events[1]) == GREETING
    upstream = upstream_user_text(ws_journal(bed)[-1])
    assert "Contoso" not in upstream and "<CUSTOMER_2>" in upstream, upstream


def test_revocation_stops_an_open_socket(bed: Bed) -> None:
    """Signed in with `warden login`'s device credential: the first turn passes, the
    credential is revoked, the next message on the same socket is refused and the session
    is stopped, as the next HTTP request on an open connection is."""
    login = device_login(bed, "alice", "dev-alice-password")

    def revoke(_: int) -> None:
        revoked = httpx.post(
            f"{bed.warden.control_url}/portal/device/revoke",
            json={"credential": login["credential"]},
            timeout=10,
        )
        assert revoked.json() == {"revoked": True}

    before = len(ws_journal(bed))
    up = exchange(
        bed.warden.proxy_url,
        bed.warden.ca_cert,
        RESPONSES,
        [create("hello warden"), create("hello warden, again")],
        device=login["credential"],
        between=revoke,
    )
    assert up.events[0][-1]["type"] == "response.completed", up.events
    [refused] = up.events[1]
    assert refused["type"] == "error" and refused["error"]["code"] == "warden_unauthenticated"
    assert "warden login" in refused["error"]["message"]
    # aimock journals the socket on its own time (a CI run read it a moment too early):
    # wait for the first turn's entry, then no second one may be there
    wait_until(lambda: len(ws_journal(bed)) > before, 30, "aimock's journal of the first turn")
    assert len(ws_journal(bed)) == before + 1
