"""Upload shapes: each service's upload requests give their files, names and fields.

Where the shapes come from:

- OpenAI Files and Uploads API: the openai Python SDK's own requests (captured below from
  ``client.files.create`` and ``client.uploads.parts.create``), and
  node_modules/openai/resources/files.js, uploads/parts.js (``multipartFormRequestOptions``).
- Anthropic Files API: the anthropic SDK's ``client.beta.files.upload`` (captured below;
  older SDKs add the beta header ``files-api-2025-04-14``).
- ChatGPT web: savevsgames/AI-PII-Sanitizer-Chrome-Extension,
  docs-b2c-v1/platforms/chatgpt/upload-endpoint-analysis.md (POST /backend-api/files with
  file_name/file_size/use_case; PUT to the upload_url on sdmntpr<region>.oaiusercontent.com
  with x-ms-blob-type: BlockBlob).
- Claude web: AshwinPathi/claude-api-py (attachments through convert_document; uploads
  to /api/{org}/upload as multipart ``file``).
- Gemini web: rekcah-pavi/geminikit, geminikit/headers.py (content-push.googleapis.com,
  ``X-Goog-Upload-Command: start`` then ``upload, finalize`` at offset 0,
  ``X-Tenant-Id: bard-storage``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest

from tests import documents
from warden.providers import Catalog
from warden.providers.parse import parse_request
from warden.providers.uploads import UPLOAD_APIS, Upload, UploadError, read_upload, upload_route

CATALOG = Catalog.default()
PDF = documents.pdf("hello")


def captured(call: Callable[[Any], object], http: Any = httpx2) -> Any:
    """The request a real SDK sends, captured at its HTTP transport (nothing is sent).
    ``http`` is the SDKs' HTTP library, httpx2."""
    seen: list[Any] = []

    def handler(request: Any) -> Any:
        request.read()
        seen.append(request)
        return http.Response(500, json={"error": {"message": "captured"}})

    with contextlib.suppress(openai.APIError, anthropic.APIError):
        call(http.Client(transport=http.MockTransport(handler)))
    assert seen, "the SDK sent nothing"
    return seen[0]


def read(service: str, request: Any) -> Upload:
    headers = {k.lower(): v for k, v in request.headers.items()}
    found = upload_route(service, request.method, request.url.raw_path.decode(), headers)
    assert found is not None, request.url
    return read_upload(found[0], found[1], headers, request.content)


def openai_client(http: httpx2.Client) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-test", http_client=http, max_retries=0)


def test_openai_files_create() -> None:
    request = captured(
        lambda h: openai_client(h).files.create(
            file=("q3.pdf", PDF, "application/pdf"), purpose="assistants"
        )
    )
    upload = read("openai", request)
    assert upload.api == "openai.files"
    (item,) = upload.files
    assert (item.name, item.declared_type, item.data) == ("q3.pdf", "application/pdf", PDF)
    assert dict(upload.fields) == {"purpose": "assistants"}


def test_openai_upload_parts() -> None:
    create = captured(
        lambda h: openai_client(h).uploads.create(
            filename="big.pdf", purpose="assistants", bytes=len(PDF), mime_type="application/pdf"
        )
    )
    announced = read("openai", create)
    assert announced.api == "openai.uploads"
    (item,) = announced.files
    assert (item.name, item.declared_size, item.data) == ("big.pdf", len(PDF), None)
    part = captured(lambda h: openai_client(h).uploads.parts.create("upload_1", data=PDF[:500]))
    (chunk,) = read("openai", part).files
    assert chunk.data == PDF[:500]


def test_anthropic_files_upload() -> None:
    request = captured(
        lambda h: anthropic.Anthropic(
            api_key="sk-ant-test", http_client=h, max_retries=0
        ).beta.files.upload(file=("notes.md", b"# notes", "text/markdown"))
    )
    # anthropic 2.16 sends no anthropic-beta header any more (older ones sent
    # files-api-2025-04-14): the route does not depend on it
    assert request.url.path == "/v1/files"
    upload = read("anthropic", request)
    assert upload.api == "anthropic.files"
    assert [(f.name, f.data) for f in upload.files] == [("notes.md", b"# notes")]


def _req(method: str, url: str, headers: dict[str, str], body: bytes) -> httpx.Request:
    request = httpx.Request(method, url, headers=headers, content=body)
    request.read()
    return request


def test_chatgpt_announce_blob_put_and_confirm() -> None:
    announce = _req(
        "POST",
        "https://chatgpt.com/backend-api/files",
        {"content-type": "application/json"},
        json.dumps(
            {
                "file_name": "q3.pdf",
                "file_size": 1234,
                "use_case": "multimodal",
                "timezone_offset_min": 420,
            }
        ).encode(),
    )
    upload = read("chatgpt-web", announce)
    assert upload.api == "chatgpt-web.file_create"
    assert (upload.files[0].name, upload.files[0].declared_size) == ("q3.pdf", 1234)
    put = _req(
        "PUT",
        "https://sdmntprwestus.oaiusercontent.com/files/00000000-2554/raw?se=2025&sp=w&sig=x",
        {"x-ms-blob-type": "BlockBlob", "content-type": "application/pdf"},
        PDF,
    )
    assert CATALOG.match("sdmntprwestus.oaiusercontent.com").id == "chatgpt-web"  # type: ignore[union-attr]
    upload = read("chatgpt-web", put)
    assert upload.api == "chatgpt-web.file_upload"
    assert (upload.files[0].data, upload.files[0].declared_type) == (PDF, "application/pdf")
    done = _req("POST", "https://chatgpt.com/backend-api/files/file-abc/uploaded", {}, b"{}")
    assert read("chatgpt-web", done) == Upload("chatgpt-web.file_uploaded", ())


def test_a_blob_put_without_blockblob_is_no_upload_and_a_wrong_type_is_refused() -> None:
    headers = {"content-type": "application/pdf"}
    assert upload_route("chatgpt-web", "PUT", "/files/x/raw", headers) is None
    found = upload_route("chatgpt-web", "PUT", "/files/x/raw", {"x-ms-blob-type": "AppendBlob"})
    assert found is not None
    with pytest.raises(UploadError, match="not a BlockBlob"):
        read_upload(found[0], found[1], {"x-ms-blob-type": "AppendBlob"}, PDF)


@pytest.mark.parametrize(
    "path",
    [
        "/api/org-1/upload",
        "/api/organizations/org-1/upload",
        "/api/org-1/convert_document",
        "/api/organizations/org-1/conversations/c-1/wiggle/upload-file",
    ],
)
def test_claude_multipart_uploads(path: str) -> None:
    request = httpx.Request(
        "POST",
        f"https://claude.ai{path}",
        files={"file": ("q3.docx", b"PK..", "application/octet-stream")},
        data={"orgUuid": "org-1"},
    )
    request.read()
    upload = read("claude-web", request)
    assert upload.api in UPLOAD_APIS and upload.files[0].name == "q3.docx"


def test_gemini_web_resumable_start_then_upload() -> None:
    start = _req(
        "POST",
        "https://content-push.googleapis.com/upload/",
        {
            "x-goog-upload-command": "start",
            "x-goog-upload-protocol": "resumable",
            "x-goog-upload-header-content-length": str(len(PDF)),
            "x-tenant-id": "bard-storage",
        },
        b"File name: q3.pdf",
    )
    announced = read("gemini-web", start).files[0]
    assert (announced.name, announced.declared_size, announced.data) == ("q3.pdf", len(PDF), None)
    upload = _req(
        "POST",
        "https://content-push.googleapis.com/upload/?upload_id=abc&upload_protocol=resumable",
        {"x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0"},
        PDF,
    )
    (item,) = read("gemini-web", upload).files
    assert (item.data, item.offset, item.partial) == (PDF, 0, False)
    chunk = _req(
        "PUT",
        "https://content-push.googleapis.com/upload/?upload_id=abc",
        {"x-goog-upload-command": "upload", "x-goog-upload-offset": "8388608"},
        b"middle",
    )
    (item,) = read("gemini-web", chunk).files
    assert (item.offset, item.partial) == (8388608, True)


def test_gemini_api_resumable_start_names_the_file() -> None:
    start = _req(
        "POST",
        "https://generativelanguage.googleapis.com/upload/v1beta/files?key=k",
        {"x-goog-upload-command": "start", "x-goog-upload-protocol": "resumable"},
        json.dumps({"file": {"display_name": "q3.pdf"}}).encode(),
    )
    assert read("gemini", start).files[0].name == "q3.pdf"


@pytest.mark.parametrize(
    ("service", "method", "url", "headers", "body", "reason"),
    [
        (
            "openai",
            "POST",
            "https://api.openai.com/v1/files",
            {"content-type": "application/json"},
            b"{}",
            "not multipart",
        ),
        (
            "openai",
            "POST",
            "https://api.openai.com/v1/files",
            {"content-type": "multipart/form-data; boundary=b"},
            b'--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nx\r\n--b--',
            "without a file part",
        ),
        ("openai", "POST", "https://api.openai.com/v1/uploads", {}, b"[1]", "not a JSON object"),
        ("openai", "POST", "https://api.openai.com/v1/uploads", {}, b"{" * 100, "not JSON"),
        (
            "chatgpt-web",
            "POST",
            "https://chatgpt.com/backend-api/files",
            {},
            b" " * 70_000,
            "too large",
        ),
        (
            "gemini-web",
            "POST",
            "https://content-push.googleapis.com/upload",
            {"x-goog-upload-command": "upload", "x-goog-upload-offset": "-1"},
            b"x",
            "valid offset",
        ),
        (
            "gemini-web",
            "POST",
            "https://content-push.googleapis.com/upload",
            {"x-goog-upload-command": "bogus"},
            b"x",
            "known command",
        ),
    ],
)
def test_malformed_uploads_are_refused(
    service: str, method: str, url: str, headers: dict[str, str], body: bytes, reason: str
) -> None:
    with pytest.raises(UploadError, match=reason):
        read(service, _req(method, url, headers, body))


def test_the_parser_names_uploads_and_leaves_their_bytes_to_the_upload_stage() -> None:
    service = CATALOG.service("openai")
    parsed = parse_request(
        service, "POST", "/v1/files", {"content-type": "multipart/form-data; boundary=b"}, b"--b--"
    )
    assert (parsed.api, parsed.parsed, parsed.segments, parsed.rewritable) == (
        "openai.files",
        True,
        (),
        False,
    )
    # a POST to Gemini web's upload host without the resumable protocol is not an upload
    gemini = CATALOG.service("gemini-web")
    other = parse_request(gemini, "POST", "/upload", {}, b"x")
    assert other.parsed is False
