"""The uploads stage on mitmproxy test flows, without DLP (facts and type/size policy
only): what it records, what it refuses and how (page for web apps, the provider's error
for APIs, CORS for the app's own origin only), and that a malformed upload fails closed.
The scanning path runs in tests/e2e/test_uploads.py and tests/dlp/test_filescan.py."""

from __future__ import annotations

import hashlib

import httpx
from mitmproxy import http
from mitmproxy.test import tflow

from tests import documents
from warden.addons.audit import flow_record
from warden.addons.flowcontext import CatalogDestination, FlowContext, ResolvedPrincipal
from warden.addons.uploads import UploadInspector, uploaded_files
from warden.files import ExtractLimits

PDF = documents.pdf("plain text")


def inspector() -> UploadInspector:
    return UploadInspector(
        None,
        None,
        None,
        ExtractLimits(),
        64 * 1024 * 1024,
        "Acme",
        "it@acme.example",
        lambda origin: origin == "https://chatgpt.com",
    )


def upload_flow(
    service: str,
    kind: str,
    host: str,
    api: str,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
) -> http.HTTPFlow:
    flow = tflow.tflow()
    flow.request.method = method
    flow.request.host = host
    flow.request.path = path
    flow.request.headers.clear()
    for name, value in headers.items():
        flow.request.headers[name] = value
    flow.request.content = body
    provider = {"openai": "openai", "chatgpt-web": "openai", "claude-web": "anthropic"}[service]
    destination = CatalogDestination(service, provider, kind, host, api=api, parsed=True)
    principal = ResolvedPrincipal("acme", "https://idp.example", "u-1", "jwt")
    FlowContext().replace(destination=destination, principal=principal).save(flow)
    return flow


def openai_files(data: bytes, name: str = "q3.pdf") -> http.HTTPFlow:
    request = httpx.Request(
        "POST",
        "https://api.openai.com/v1/files",
        files={"file": (name, data, "application/pdf")},
        data={"purpose": "assistants"},
    )
    body = request.read()
    headers = {"content-type": request.headers["content-type"]}
    return upload_flow(
        "openai", "api", "api.openai.com", "openai.files", "POST", "/v1/files", headers, body
    )


def blob_put(data: bytes, origin: str) -> http.HTTPFlow:
    headers = {"x-ms-blob-type": "BlockBlob", "origin": origin}
    return upload_flow(
        "chatgpt-web",
        "webapp",
        "sdmntprwestus.oaiusercontent.com",
        "chatgpt-web.file_upload",
        "PUT",
        "/files/file-1/raw?sig=x",
        headers,
        data,
    )


async def test_facts_are_recorded_and_the_file_goes_on() -> None:
    flow = openai_files(PDF)
    await inspector().request(flow)
    assert flow.response is None
    (item,) = uploaded_files(flow) or ()
    assert (item["name"], item["kind"], item["size"], item["verdict"]) == (
        "q3.pdf",
        "pdf",
        len(PDF),
        "allowed",
    )
    assert item["sha256"] == hashlib.sha256(PDF).hexdigest()
    record = flow_record(flow)
    assert record["files"] == [item] and record["outcome"] == "allowed"


async def test_a_kind_without_text_is_refused_as_unreadable_in_the_apis_shape() -> None:
    flow = openai_files(b"\x1f\x8b\x08\x00" + b"\x00" * 64, "logs.txt")
    await inspector().request(flow)
    assert flow.response is not None and flow.response.status_code == 403
    body = flow.response.json()
    assert "could not be checked" in body["error"]["message"]
    assert "logs.txt" in body["error"]["message"]
    ctx = FlowContext.of(flow)
    assert ctx.outcome == "blocked" and ctx.decision is not None
    assert ctx.decision.rule_id == "defaults/uploads/unreadable"
    assert (uploaded_files(flow) or ())[0]["kind"] == "archive"


async def test_a_web_app_gets_the_block_page_with_cors_for_its_own_origin_only() -> None:
    flow = blob_put(b"\x00\x01binary", "https://chatgpt.com")
    await inspector().request(flow)
    assert flow.response is not None and flow.response.status_code == 403
    assert b"Blocked by your organisation" in (flow.response.content or b"")
    assert flow.response.headers["access-control-allow-origin"] == "https://chatgpt.com"
    other = blob_put(b"\x00\x01binary", "https://evil.example")
    await inspector().request(other)
    assert (
        other.response is not None and "access-control-allow-origin" not in other.response.headers
    )


async def test_a_malformed_upload_fails_closed() -> None:
    flow = openai_files(PDF)
    flow.request.content = (flow.request.content or b"")[:-10]  # no closing delimiter
    await inspector().request(flow)
    assert flow.response is not None and flow.response.status_code == 403
    assert "could not be read" in flow.response.json()["error"]["message"]
    assert FlowContext.of(flow).outcome == "blocked"


async def test_flows_that_are_no_upload_are_left_alone() -> None:
    flow = openai_files(PDF)
    ctx = FlowContext.of(flow)
    assert ctx.destination is not None
    chat = CatalogDestination(
        "openai", "openai", "api", "api.openai.com", api="openai.chat_completions"
    )
    ctx.replace(destination=chat).save(flow)
    await inspector().request(flow)
    assert flow.response is None and uploaded_files(flow) is None
