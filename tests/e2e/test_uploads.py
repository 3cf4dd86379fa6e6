"""Uploads end to end through ``warden run``: on each service's upload path a PDF, DOCX or
XLSX holding an API key is refused before it leaves, one holding a card number is
recorded (or refused where the department's policy says ``findings: block``), and a zip
bomb, an encrypted PDF and a corrupt PDF fail closed with a record.

Upstreams: aimock for the OpenAI Files API (it has ``POST /v1/files``); our own
``upload_fixture`` for the rest (aimock has no web-app, Anthropic Files or Google
resumable endpoints; see its docstring). Clients: the real openai and anthropic SDKs for
the Files APIs; the web apps' upload requests in the shapes cited in
tests/providers/test_uploads.py.
"""

from __future__ import annotations

import hashlib
import json
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest
import yaml

from tests import documents
from tests.documents import AWS_KEY, CARD
from tests.e2e.test_identity import SERVICE_SECRET, Bed, start_bed
from tests.e2e.upload_fixture import FILE_ID, UploadFixture
from tests.identity.devidp import service_client
from tests.peers import Aimock

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RESOURCE = "urn:egress-warden:proxy"
ORG = "0b6f3c1e-org"

POLICY: dict[str, Any] = {
    "dlp_profiles": ["pii-basic"],
    "defaults": {"default_action": "block"},
    "tenants": {
        "acme": {
            "uploads": {"max_bytes": 5_000_000, "blocked_types": ["archive"]},
            "rules": [{"id": "acme-allow", "match": {}, "action": "allow"}],
            "departments": {"finance": {"uploads": {"findings": "block"}}},
        }
    },
}

WEB_HOSTS = (
    "chatgpt.com",
    "sdmntprwestus.oaiusercontent.com",
    "claude.ai",
    "content-push.googleapis.com",
    "api.anthropic.com",
    "generativelanguage.googleapis.com",
)


@pytest.fixture(scope="module")
def fixture_server() -> Iterator[UploadFixture]:
    server = UploadFixture()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bed(
    aimock: Aimock, fixture_server: UploadFixture, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Bed]:
    tmp = tmp_path_factory.mktemp("uploads")
    policy = tmp / "policy.yaml"
    policy.write_text(yaml.safe_dump(POLICY))
    clients = [
        service_client(f"svc-{d}", SERVICE_SECRET, {"tenant": "acme", "department": d})
        for d in ("eng", "finance")
    ]
    b = start_bed(
        tmp,
        aimock,
        surrogate=False,
        extra_clients=clients,
        routes={host: fixture_server.url for host in WEB_HOSTS},
        extra_config={
            "policy": {"file": str(policy)},
            "dlp": {
                "profiles_file": str(ROOT / "packaging" / "demo" / "dlp-profiles.yaml"),
                "default_profile": "pii-basic",
                "workers": 1,
                # generous: a loaded 2-core CI machine; the bound is not what is tested
                "timeout_s": 60,
                "files": {"timeout_s": 120},
            },
        },
    )
    yield b
    b.warden.stop()
    b.idp.stop()


def token(bed: Bed, dept: str) -> str:
    return bed.idp.client_credentials_token(f"svc-{dept}", SERVICE_SECRET, RESOURCE)


def _tls(bed: Bed) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(bed.warden.ca_cert))


def client(bed: Bed, dept: str) -> httpx.Client:
    proxy = httpx.Proxy(
        bed.warden.proxy_url, headers={"Proxy-Authorization": f"Bearer {token(bed, dept)}"}
    )
    return httpx.Client(proxy=proxy, verify=_tls(bed), timeout=120, trust_env=False)


# -- one upload per service, in its own shape -------------------------------------------

type Send = Callable[[Bed, str, str, bytes], tuple[int, str]]


def sdk_http(bed: Bed, dept: str) -> httpx2.Client:
    """The SDKs' HTTP client (httpx2) through the gateway, with the service's token."""
    proxy = httpx2.Proxy(
        bed.warden.proxy_url, headers={"Proxy-Authorization": f"Bearer {token(bed, dept)}"}
    )
    return httpx2.Client(proxy=proxy, verify=_tls(bed), timeout=120, trust_env=False)


def send_openai(bed: Bed, dept: str, name: str, data: bytes) -> tuple[int, str]:
    sdk = openai.OpenAI(api_key="sk-test", http_client=sdk_http(bed, dept), max_retries=0)
    try:
        created = sdk.files.create(file=(name, data), purpose="assistants")
    except openai.APIStatusError as exc:
        return exc.status_code, exc.message
    return 200, created.id


def send_anthropic(bed: Bed, dept: str, name: str, data: bytes) -> tuple[int, str]:
    sdk = anthropic.Anthropic(api_key="sk-ant-test", http_client=sdk_http(bed, dept), max_retries=0)
    try:
        sdk.beta.files.upload(file=(name, data))
    except anthropic.APIStatusError as exc:
        return exc.status_code, exc.message
    return 200, "ok"


def send_chatgpt(bed: Bed, dept: str, name: str, data: bytes) -> tuple[int, str]:
    with client(bed, dept) as c:
        announce = c.post(
            "https://chatgpt.com/backend-api/files",
            json={"file_name": name, "file_size": len(data), "use_case": "multimodal"},
        )
        if announce.status_code != 200:
            return announce.status_code, announce.text
        put = c.put(
            announce.json()["upload_url"],
            content=data,
            headers={"x-ms-blob-type": "BlockBlob", "content-type": "application/octet-stream"},
        )
        return (200 if put.status_code == 201 else put.status_code), put.text


def send_claude(bed: Bed, dept: str, name: str, data: bytes) -> tuple[int, str]:
    with client(bed, dept) as c:
        r = c.post(
            f"https://claude.ai/api/{ORG}/upload",
            files={"file": (name, data, "application/octet-stream")},
            data={"orgUuid": ORG},
        )
        return r.status_code, r.text


def send_gemini_web(bed: Bed, dept: str, name: str, data: bytes) -> tuple[int, str]:
    with client(bed, dept) as c:
        start = c.post(
            "https://content-push.googleapis.com/upload/",
            content=f"File name: {name}".encode(),
            headers={
                "x-goog-upload-command": "start",
                "x-goog-upload-protocol": "resumable",
                "x-goog-upload-header-content-length": str(len(data)),
                "x-tenant-id": "bard-storage",
            },
        )
        if start.status_code != 200:
            return start.status_code, start.text
        r = c.post(
            start.headers["x-goog-upload-url"],
            content=data,
            headers={"x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0"},
        )
        return r.status_code, r.text


SENDERS: dict[str, Send] = {
    "openai": send_openai,
    "anthropic": send_anthropic,
    "chatgpt-web": send_chatgpt,
    "claude-web": send_claude,
    "gemini-web": send_gemini_web,
}
WEBAPPS = {"chatgpt-web", "claude-web", "gemini-web"}


def upload_records(bed: Bed, sha256: str, service: str | None = None) -> list[dict[str, Any]]:
    return [
        r
        for r in bed.warden.audit_records("acme")
        if any(f.get("sha256") == sha256 for f in r.get("files", ()))
        and service in (None, r["destination"]["service"])
    ]


def _doc(kind: str, text: str) -> tuple[str, bytes]:
    if kind == "pdf":
        return "report.pdf", documents.pdf(text)
    if kind == "docx":
        return "report.docx", documents.docx(text)
    return "report.xlsx", documents.xlsx(("note", text))


@pytest.mark.parametrize(
    ("service", "kind"),
    [
        ("openai", "pdf"),
        ("anthropic", "docx"),
        ("chatgpt-web", "xlsx"),
        ("claude-web", "pdf"),
        ("gemini-web", "docx"),
        ("openai", "xlsx"),
    ],
)
def test_an_api_key_in_a_document_never_leaves(
    bed: Bed, fixture_server: UploadFixture, service: str, kind: str
) -> None:
    name, data = _doc(kind, f"deploy with key {AWS_KEY} today")
    status, message = SENDERS[service](bed, "eng", name, data)
    assert status in (400, 403), message
    assert not fixture_server.arrived(data)
    if service in WEBAPPS:
        assert "Blocked by your organisation" in message and "AWS_ACCESS_KEY_ID" in message
    else:
        assert "AWS_ACCESS_KEY_ID" in message
    assert AWS_KEY not in message
    sha = hashlib.sha256(data).hexdigest()
    (record,) = [r for r in upload_records(bed, sha) if r["outcome"] == "blocked"]
    (item,) = record["files"]
    # ChatGPT's blob PUT carries no name: the record names the file id of its upload URL;
    # Gemini's upload request neither (its start request's record has the name)
    expected = {"chatgpt-web": FILE_ID, "gemini-web": None}.get(service, name)
    assert (item["name"], item["kind"], item["size"], item["verdict"]) == (
        expected,
        kind,
        len(data),
        "blocked",
    )
    assert record["decision"]["rule_id"] == "dlp/blocked"
    assert ("AWS_ACCESS_KEY_ID", "files[0]") in {
        (f["entity_type"], f["segment"]) for f in record["findings"]
    }
    assert AWS_KEY not in json.dumps(record)


@pytest.mark.parametrize("service", ["claude-web", "anthropic", "chatgpt-web"])
def test_a_card_number_is_recorded_and_the_file_goes_on(
    bed: Bed, fixture_server: UploadFixture, service: str
) -> None:
    name, data = _doc("pdf", f"pay with {CARD} ({service})")
    status, message = SENDERS[service](bed, "eng", name, data)
    assert status == 200, message
    assert fixture_server.arrived(data)  # the file arrived unchanged
    records = upload_records(bed, hashlib.sha256(data).hexdigest())
    assert records and all(r["outcome"] == "allowed" for r in records)
    assert all(r["files"][0]["verdict"] == "allowed" for r in records)
    assert any(
        f["entity_type"] == "CREDIT_CARD" and f["segment"] == "files[0]"
        for r in records
        for f in r["findings"]
    )
    assert CARD not in json.dumps(records)


def test_finance_refuses_files_with_findings(bed: Bed, fixture_server: UploadFixture) -> None:
    name, data = _doc("docx", f"pay with {CARD}")
    status, message = send_openai(bed, "finance", name, data)
    assert status == 403 and "CREDIT_CARD" in message, message
    (record,) = upload_records(bed, hashlib.sha256(data).hexdigest())
    assert record["decision"]["rule_id"] == "tenant:acme/dept:finance/uploads/findings"


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("bomb.docx", documents.zip_bomb_docx(64), "archive bomb"),
        ("locked.pdf", documents.encrypted_pdf(f"key {AWS_KEY}"), "encrypted"),
        ("broken.pdf", documents.corrupt_pdf(), "malformed"),
    ],
    ids=["zip-bomb", "encrypted-pdf", "corrupt-pdf"],
)
@pytest.mark.parametrize("service", ["openai", "claude-web"])
def test_unreadable_files_fail_closed_with_a_record(
    bed: Bed, fixture_server: UploadFixture, service: str, name: str, data: bytes, reason: str
) -> None:
    status, message = SENDERS[service](bed, "eng", name, data)
    assert status in (400, 403) and reason in message, message
    assert not fixture_server.arrived(data)
    (record,) = upload_records(bed, hashlib.sha256(data).hexdigest(), service)
    assert record["outcome"] == "blocked"
    assert record["decision"]["rule_id"] == "tenant:acme/uploads/unreadable"
    assert reason in record["files"][0]["reason"]


def test_a_blocked_type_is_refused_by_its_bytes_not_its_name(
    bed: Bed, fixture_server: UploadFixture
) -> None:
    archive = documents.zip_bomb_docx(1).replace(b"word/document.xml", b"word/other.xml!!!")
    # announced as notes.txt (the start request passes), sniffed as an archive when sent
    status, message = send_gemini_web(bed, "eng", "notes.txt", archive)
    assert status == 403 and "Files of type archive may not be uploaded" in message
    assert not fixture_server.arrived(archive)
    (record,) = upload_records(bed, hashlib.sha256(archive).hexdigest())
    assert record["decision"]["rule_id"] == "tenant:acme/uploads/blocked_types"
    assert record["files"][0]["text_chars"] is None  # refused before it was read
    # announced by a name that says archive: refused at the announcement already
    status, message = send_chatgpt(bed, "eng", "stuff.zip", archive)
    assert status == 403 and "Files of type archive" in message
    announced = [
        r
        for r in bed.warden.audit_records("acme")
        if any(f["name"] == "stuff.zip" and f["sha256"] is None for f in r.get("files", ()))
    ]
    assert [r["outcome"] for r in announced] == ["blocked"]


def test_a_clean_file_passes_to_aimock(bed: Bed) -> None:
    name, data = _doc("pdf", "the quarterly plan, nothing secret")
    status, message = send_openai(bed, "eng", name, data)
    assert status == 200, message
    (record,) = [r for r in upload_records(bed, hashlib.sha256(data).hexdigest()) if r["status"]]
    assert record["outcome"] == "allowed" and record["findings"] == []
    assert record["files"][0]["text_chars"] > 0
