"""Each web app's whole conversation through ``warden run`` under the example policy.

ChatGPT (requirements pre-flight, ``f/conversation/prepare`` and its conduit token, the
conversation, a listing), Claude (create the conversation, then its completion) and
Gemini (``batchexecute``, then ``StreamGenerate``), signed in with a service token of
acme's finance department, whose rule redacts with the strict profile: the customer's
name leaves as a pseudonym, and the streamed answer, cut inside the placeholder, comes
back with the name restored. The backends are ``webapp_replay.WebAppReplay`` (our own:
aimock does not speak these protocols, see its docstring); the client is httpx through
the gateway's proxy, sending what the app's page sends.

The negative side, under the same example policy: an unknown call with a body on the same
hosts stays refused as unparsed, a companion call with an unreadable body too, and model
rules apply to all three apps (finance's ``gpt-4o`` block, acme's model list refusing an
unknown Gemini model id and an unlisted Claude model).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest
import yaml

from tests.e2e.test_identity import SERVICE_SECRET, Bed, start_bed
from tests.e2e.webapp_replay import (
    CONDUIT_TOKEN,
    GEMINI_STREAM,
    ORG,
    REQUIREMENTS_TOKEN,
    WebAppReplay,
)
from tests.identity.devidp import service_client
from tests.peers import Aimock
from warden.providers.geminiframes import GeminiWebStream
from warden.providers.streams import StreamParser
from warden.providers.webstreams import ChatGptWebStream, ClaudeWebStream

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RESOURCE = "urn:egress-warden:proxy"
NAME = "Jane Roe"
PROMPT = f"Write a short note to {NAME} that her order has shipped."
RESTORED = f"Dear {NAME}, your order has shipped. Regards to {NAME}!"

#: The example policy's DLP profiles, without the NER model (a pattern and a deny list
#: are enough here and start in a second): the customer's name is pseudonymized.
PROFILES = {
    name: {
        "on_error": "block",
        "entities": {"EMAIL_ADDRESS": "redact", "AWS_ACCESS_KEY_ID": "block"},
        "custom": {"CUSTOMER": {"action": "pseudonymize", "deny_list": [NAME]}},
    }
    for name in ("pii-strict", "pii-basic", "secrets")
}


@pytest.fixture(scope="module")
def replay() -> Iterator[WebAppReplay]:
    with WebAppReplay() as server:
        yield server


@pytest.fixture(scope="module")
def bed(
    aimock: Aimock, replay: WebAppReplay, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Bed]:
    tmp = tmp_path_factory.mktemp("webapps")
    profiles = tmp / "dlp-profiles.yaml"
    profiles.write_text(yaml.safe_dump(PROFILES))
    b = start_bed(
        tmp,
        aimock,
        surrogate=False,
        extra_config={
            "policy": {"file": str(ROOT / "policy" / "example-policy.yaml")},
            "dlp": {"profiles_file": str(profiles), "default_profile": "pii-basic", "workers": 1},
        },
        extra_clients=[
            service_client(
                "svc-finance", SERVICE_SECRET, {"tenant": "acme", "department": "finance"}
            )
        ],
        routes={host: replay.url for host in ("chatgpt.com", "claude.ai", "gemini.google.com")},
    )
    yield b
    b.warden.stop()
    b.idp.stop()


@pytest.fixture(scope="module")
def client(bed: Bed) -> Iterator[httpx.Client]:
    token = bed.idp.client_credentials_token("svc-finance", SERVICE_SECRET, RESOURCE)
    import ssl

    with httpx.Client(
        proxy=httpx.Proxy(bed.warden.proxy_url, headers={"Proxy-Authorization": f"Bearer {token}"}),
        verify=ssl.create_default_context(cafile=str(bed.warden.ca_cert)),
        timeout=60,
        trust_env=False,
    ) as c:
        yield c


def shown(parser: StreamParser, response: httpx.Response) -> str:
    """What the app's page shows: the answer read with the app's own stream format."""
    events = []
    for chunk in response.iter_bytes():
        events += parser.feed(chunk)
    events += parser.close()
    assert not parser.broken
    return "".join(e.text or "" for e in events)


def records(bed: Bed, host: str) -> list[dict[str, Any]]:
    return [r for r in bed.warden.audit_records("acme") if r["destination"]["host"] == host]


def stream_end(rows: list[dict[str, Any]], api: str) -> dict[str, Any]:
    """The end record of a streamed answer (usage is known when the stream ends)."""
    return next(
        r
        for r in rows
        if r["destination"]["api"] == api and r["details"].get("phase") == "stream_end"
    )


def chatgpt_body(model: str) -> dict[str, Any]:
    return {
        "action": "next",
        "messages": [
            {
                "id": str(uuid.uuid4()),
                "author": {"role": "user"},
                "content": {
                    "content_type": "multimodal_text",
                    "parts": [
                        {
                            "content_type": "image_asset_pointer",
                            "asset_pointer": "file-service://file-Abc123",
                            "size_bytes": 48213,
                            "width": 640,
                            "height": 480,
                        },
                        PROMPT,
                    ],
                },
                "metadata": {
                    "attachments": [
                        {"id": "file-Abc123", "name": "parcel.png", "mime_type": "image/png"}
                    ]
                },
            }
        ],
        "parent_message_id": "client-created-root",
        "model": model,
        "timezone_offset_min": -60,
        "conversation_mode": {"kind": "primary_assistant"},
        "supports_buffering": True,
        "supported_encodings": ["v1"],
    }


def test_chatgpt_conversation_with_its_pre_flight(
    bed: Bed, client: httpx.Client, replay: WebAppReplay
) -> None:
    base = "https://chatgpt.com/backend-api"
    listing = client.get(f"{base}/conversations?offset=0&limit=28&order=updated")
    assert listing.status_code == 200, listing.text
    req = client.post(f"{base}/sentinel/chat-requirements", json={"p": "gAAAAACproof"})
    assert req.status_code == 200, req.text
    assert req.json()["token"] == REQUIREMENTS_TOKEN
    prepare = client.post(
        f"{base}/f/conversation/prepare",
        headers={"x-conduit-token": "no-token"},
        json={**chatgpt_body("auto"), "partial_query": {"content": {"parts": [PROMPT]}}},
    )
    assert prepare.status_code == 200, prepare.text
    conduit = prepare.json()["conduit_token"]
    assert conduit == CONDUIT_TOKEN
    headers = {
        "accept": "text/event-stream",
        "openai-sentinel-chat-requirements-token": REQUIREMENTS_TOKEN,
        "x-conduit-token": conduit,
    }
    with client.stream(
        "POST", f"{base}/f/conversation", headers=headers, json=chatgpt_body("auto")
    ) as answer:
        assert answer.status_code == 200
        text = shown(ChatGptWebStream(), answer)
    assert text == RESTORED
    # the name never left, not even in the pre-flight that carried the typed prompt
    for r in replay.to("chatgpt.com", "/backend-api/"):
        assert NAME.encode() not in r.body
    sent = replay.to("chatgpt.com", "/backend-api/f/conversation")[-1]
    assert b"<CUSTOMER_1>" in sent.body
    rows = records(bed, "chatgpt.com")
    companions = {r["destination"]["api"] for r in rows if r["details"].get("side_call")}
    assert {"chatgpt.preflight", "chatgpt.conversations"} <= companions
    conversation = stream_end(rows, "chatgpt.conversation")
    assert conversation["destination"]["model"] == "gpt-5"  # "auto" as the policy saw it
    assert conversation["usage"]["estimated"] is True and conversation["usage"]["tokens_out"]
    # the upload the message points at is named (its id, to join the upload's record)
    assert conversation["details"]["file_refs"] == "file-service://file-Abc123 file-Abc123"


def test_claude_conversation_created_then_answered(
    bed: Bed, client: httpx.Client, replay: WebAppReplay
) -> None:
    base = f"https://claude.ai/api/organizations/{ORG}/chat_conversations"
    conv = str(uuid.uuid4())
    created = client.post(base, json={"uuid": conv, "name": "", "model": "claude-sonnet-4-5"})
    assert created.status_code == 201, created.text
    body = {
        "prompt": PROMPT,
        "parent_message_uuid": "00000000-0000-4000-8000-000000000000",
        "timezone": "Europe/Berlin",
        "personalized_styles": [
            {"type": "default", "key": "Default", "name": "Normal", "prompt": "Normal"}
        ],
        "tools": [{"name": "crm_lookup", "description": f"Look up {NAME} in the CRM"}],
        "attachments": [],
        "files": [],
        "sync_sources": [],
        "rendering_mode": "messages",
    }
    with client.stream(
        "POST", f"{base}/{conv}/completion", json=body, headers={"accept": "text/event-stream"}
    ) as answer:
        assert answer.status_code == 200
        text = shown(ClaudeWebStream(), answer)
    assert text == "Polite." + RESTORED  # thinking, then the answer, restored
    sent = replay.to("claude.ai", f"/api/organizations/{ORG}/chat_conversations/{conv}")[-1]
    assert NAME.encode() not in sent.body  # nor in the MCP tool description
    rows = records(bed, "claude.ai")
    assert any(r["details"].get("side_call") == "companion" for r in rows)
    completion = stream_end(rows, "claude.completion")
    assert completion["destination"]["model"] == "claude-web:default"
    assert completion["usage"]["estimated"] is True


def gemini_form(prompt: str) -> bytes:
    inner = json.dumps([[prompt, 0, None, None, None, None, 0], ["en"], ["", "", ""]])
    return f"f.req={quote_plus(json.dumps([None, inner]), safe='')}&at=AJvLN6x&".encode()


GEMINI_MODEL = {
    "x-goog-ext-525001261-jspb": '[1,null,null,null,"9d8ca3786ebdfbea",null,null,0,[4]]'
}


def test_gemini_conversation_through_batchexecute_and_frames(
    bed: Bed, client: httpx.Client, replay: WebAppReplay
) -> None:
    host = "https://gemini.google.com"
    rpc = json.dumps([[["MaZiqc", json.dumps([13, None, [0, None, 1]]), None, "generic"]]])
    batch = client.post(
        f"{host}/_/BardChatUi/data/batchexecute?rpcids=MaZiqc&bl=boq_assistant&rt=c",
        content=f"f.req={quote_plus(rpc, safe='')}&at=AJvLN6x&".encode(),
        headers={"content-type": "application/x-www-form-urlencoded;charset=UTF-8"},
    )
    assert batch.status_code == 200, batch.text
    with client.stream(
        "POST",
        f"{host}{GEMINI_STREAM}?bl=boq_assistant&_reqid=1&rt=c",
        content=gemini_form(PROMPT),
        headers={"content-type": "application/x-www-form-urlencoded;charset=UTF-8", **GEMINI_MODEL},
    ) as answer:
        assert answer.status_code == 200
        text = shown(GeminiWebStream(), answer)
    # cumulative frames: the text the page ends with is the restored answer
    assert text.endswith(RESTORED.split(",", 1)[1]) and NAME in text
    assert "<CUSTOMER_1>" not in text
    sent = replay.to("gemini.google.com", GEMINI_STREAM)[-1]
    assert NAME.encode() not in sent.body and b"CUSTOMER_1" in sent.body
    rows = records(bed, "gemini.google.com")
    assert any(r["destination"]["api"] == "gemini_web.batchexecute" for r in rows)
    stream = stream_end(rows, "gemini_web.stream_generate")
    assert stream["destination"]["model"] == "gemini-3-pro"
    assert stream["usage"]["estimated"] is True and stream["usage"]["tokens_out"]


@pytest.mark.parametrize(
    ("method", "url", "content"),
    [
        # an endpoint the catalog does not know, with a body: still refused as unparsed
        ("POST", "https://chatgpt.com/backend-api/some/new/thing", b'{"text": "hi"}'),
        ("POST", f"https://claude.ai/api/organizations/{ORG}/new_feature", b'{"a": 1}'),
        ("POST", "https://gemini.google.com/_/BardChatUi/data/other", b"f.req=%5B%5D"),
        # a companion call whose body cannot be read: refused too
        ("POST", "https://chatgpt.com/backend-api/sentinel/chat-requirements", b"{not json"),
    ],
)
def test_unparsed_bodies_elsewhere_stay_blocked(
    client: httpx.Client, replay: WebAppReplay, method: str, url: str, content: bytes
) -> None:
    before = len(replay.received)
    refused = client.request(
        method, url, content=content, headers={"content-type": "application/json"}
    )
    # Anthropic's clients read a refusal as 400 (providers.errors.refusal_status)
    assert refused.status_code == (400 if "claude.ai" in url else 403)
    assert "tenant:acme/unparsed" in refused.text
    assert len(replay.received) == before  # nothing reached the app


def test_model_rules_apply_to_all_three_apps(client: httpx.Client, replay: WebAppReplay) -> None:
    before = len(replay.received)
    # finance's own model rule, on ChatGPT's web app as on the API
    gpt4o = client.post(
        "https://chatgpt.com/backend-api/f/conversation", json=chatgpt_body("gpt-4o")
    )
    assert gpt4o.status_code == 403 and "finance-no-gpt4o" in gpt4o.text
    # acme's model list: a model it does not list, on Claude's web app
    claude = client.post(
        f"https://claude.ai/api/organizations/{ORG}/chat_conversations/{uuid.uuid4()}/completion",
        json={"prompt": "hi", "model": "llama-3-70b"},
    )
    assert claude.status_code == 400 and "tenant:acme/models" in claude.text
    # a Gemini model id the catalog does not know is explicit, and the list refuses it
    unknown = {"x-goog-ext-525001261-jspb": '[1,null,null,null,"0123456789abcdef"]'}
    gemini = client.post(
        f"https://gemini.google.com{GEMINI_STREAM}",
        content=gemini_form("hi"),
        headers={"content-type": "application/x-www-form-urlencoded", **unknown},
    )
    assert gemini.status_code == 403 and "tenant:acme/models" in gemini.text
    assert len(replay.received) == before
