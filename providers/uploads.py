"""Upload shapes: where each service's upload requests carry a file, its name and its type.

A file reaches an LLM service in one of these ways (sources named in
``tests/providers/test_uploads.py``):

- ChatGPT web: ``POST /backend-api/files`` announces it (JSON ``file_name``,
  ``file_size``, ``use_case``); the bytes follow as a ``PUT`` with ``x-ms-blob-type:
  BlockBlob`` to the signed ``upload_url`` on an Azure blob host
  (``*.oaiusercontent.com``, formerly ``fileserviceuploadsperm.blob.core.windows.net``);
  ``POST /backend-api/files/{id}/uploaded`` and ``/backend-api/files/process_upload_stream``
  confirm it.
- Claude web: a multipart ``POST`` with a ``file`` part to ``/api/{org}/upload``,
  ``/api/organizations/{org}/upload``, ``/api/{org}/convert_document`` (older) or
  ``/api/organizations/{org}/conversations/{id}/wiggle/upload-file`` (newer).
- Gemini web (``content-push.googleapis.com/upload``) and the Gemini API
  (``/upload/v1beta/files``): Google's resumable protocol; ``x-goog-upload-command:
  start`` announces the file, ``upload`` (often ``upload, finalize``) carries its bytes
  from ``x-goog-upload-offset``.
- OpenAI API: multipart ``POST /v1/files`` (``file``, ``purpose``); ``POST /v1/uploads``
  announces a large file and ``POST /v1/uploads/{id}/parts`` carries a chunk of it
  (multipart ``data``); ``/complete`` ends it.
- Anthropic API: multipart ``POST /v1/files`` (``file``), beta header
  ``anthropic-beta: files-api-...``.

``upload_route`` only looks at method, path and headers (the parser uses it to name the
api); ``read_upload`` reads the body and raises ``UploadError`` with a fixed reason
when it is not the shape its route promises: such a request is refused (fail closed).

Over 400 lines: one shape per service's upload protocol, in one table (`_route`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from .multipart import MultipartError, boundary_of, parse_form
from .requestpath import match, split_target

__all__ = [
    "Upload",
    "UploadError",
    "UploadRoute",
    "UploadedFile",
    "read_upload",
    "upload_route",
]

#: The announcement bodies (JSON) are small; a larger one is not read.
MAX_ANNOUNCE_BYTES: Final = 64 * 1024
#: Text fields of a multipart upload (``purpose`` ...) are scanned; longer ones are refused.
MAX_FIELD_BYTES: Final = 64 * 1024


class UploadError(ValueError):
    """An upload request that is not the shape its route says; ``reason`` is fixed text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """One file (or one chunk of one) in an upload request.

    ``data`` is ``None`` where the request only announces the file (name and size, the
    bytes follow in another request). ``offset`` is where ``data`` starts in the whole
    file and ``partial`` says that ``data`` is not (known to be) the whole file: a chunk
    of a resumable or multi-part upload.
    """

    name: str | None
    declared_type: str | None
    data: bytes | None
    declared_size: int | None = None
    offset: int = 0
    partial: bool = False


@dataclass(frozen=True, slots=True)
class Upload:
    """What one upload request carries: its files and its plain text fields."""

    api: str
    files: tuple[UploadedFile, ...]
    fields: tuple[tuple[str, str], ...] = ()


type Reader = Callable[[tuple[str, ...], Mapping[str, str], bytes], Upload]


@dataclass(frozen=True, slots=True)
class UploadRoute:
    """One upload endpoint: method(s), path pattern (``ANY`` captures a segment, ``None``
    any path), a header that must be present, its api id and the body reader."""

    methods: frozenset[str]
    pattern: tuple[str, ...] | None
    api: str
    read: Reader
    header: str | None = None


# -- readers ---------------------------------------------------------------------------


def _multipart(api: str, file_fields: frozenset[str]) -> Reader:
    def read(captured: tuple[str, ...], headers: Mapping[str, str], body: bytes) -> Upload:
        boundary = boundary_of(headers.get("content-type"))
        if boundary is None:
            raise UploadError("an upload that is not multipart/form-data")
        try:
            parts = parse_form(body, boundary)
        except MultipartError as exc:
            raise UploadError(exc.reason) from None
        files: list[UploadedFile] = []
        fields: list[tuple[str, str]] = []
        for part in parts:
            if part.filename is not None or part.name in file_fields:
                files.append(UploadedFile(part.filename, part.content_type, part.data))
                continue
            if len(part.data) > MAX_FIELD_BYTES:
                raise UploadError("a form field of the upload is too long")
            fields.append((part.name, part.data.decode("utf-8", "replace")))
        if not files:
            raise UploadError("an upload without a file part")
        return Upload(api, tuple(files), tuple(fields))

    return read


def _json_object(body: bytes) -> dict[str, object]:
    if len(body) > MAX_ANNOUNCE_BYTES:
        raise UploadError("the upload announcement is too large")
    try:
        doc = json.loads(body) if body.strip() else {}
    except (ValueError, RecursionError):
        raise UploadError("the upload announcement is not JSON") from None
    if not isinstance(doc, dict):
        raise UploadError("the upload announcement is not a JSON object")
    return doc


def _strings(doc: object) -> list[tuple[str, str]]:
    """Every string of a small JSON document, by its dotted path (keys are names)."""
    out: list[tuple[str, str]] = []
    stack: list[tuple[str, object]] = [("", doc)]
    while stack:
        at, node = stack.pop()
        if isinstance(node, str):
            out.append((at or "value", node))
        elif isinstance(node, dict):
            stack.extend((f"{at}.{k}" if at else str(k), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((f"{at}[{i}]", v) for i, v in enumerate(node))
    return out


def _size(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        size = int(value)
    except ValueError:
        return None
    return size if size >= 0 else None


def _announce(api: str, name_key: str, size_key: str, type_key: str | None = None) -> Reader:
    """A JSON body that names a file whose bytes come in another request."""

    def read(captured: tuple[str, ...], headers: Mapping[str, str], body: bytes) -> Upload:
        doc = _json_object(body)
        name = doc.get(name_key)
        declared = doc.get(type_key) if type_key else None
        announced = UploadedFile(
            name if isinstance(name, str) else None,
            declared.lower() if isinstance(declared, str) else None,
            None,
            _size(doc.get(size_key)),
        )
        return Upload(api, (announced,), tuple(_strings(doc)))

    return read


def _confirm(api: str) -> Reader:
    """A JSON body about a file already sent (confirmation, completion): no file, its
    strings are scanned like any text."""

    def read(captured: tuple[str, ...], headers: Mapping[str, str], body: bytes) -> Upload:
        return Upload(api, (), tuple(_strings(_json_object(body))))

    return read


def _blob_put(api: str) -> Reader:
    """Azure Blob "Put Blob": the body is the file. The request does not carry the file's
    name (its announcement did): the blob's name stands in for it, which for ChatGPT is
    the file id before ``/raw`` (``/files/{id}/raw``)."""

    def read(captured: tuple[str, ...], headers: Mapping[str, str], body: bytes) -> Upload:
        if headers.get("x-ms-blob-type", "").strip().lower() != "blockblob":
            raise UploadError("a blob upload that is not a BlockBlob")
        declared = headers.get("x-ms-blob-content-type") or headers.get("content-type")
        name = captured[-1] if captured else None
        if name == "raw" and len(captured) >= 2:
            name = captured[-2]
        media = declared.partition(";")[0].strip().lower() or None if declared else None
        return Upload(api, (UploadedFile(name, media, body),))

    return read


def _google_resumable(api: str) -> Reader:
    """Google's resumable upload protocol (``x-goog-upload-*`` headers)."""

    def read(captured: tuple[str, ...], headers: Mapping[str, str], body: bytes) -> Upload:
        commands = {c.strip().lower() for c in headers.get("x-goog-upload-command", "").split(",")}
        commands.discard("")
        declared = headers.get("x-goog-upload-header-content-type")
        media = declared.partition(";")[0].strip().lower() or None if declared else None
        if "start" in commands:
            size = _size(headers.get("x-goog-upload-header-content-length", "").strip())
            name = _start_name(body)
            if "upload" not in commands:
                fields = (("start", body.decode("utf-8", "replace")),) if body else ()
                return Upload(api, (UploadedFile(name, media, None, size),), fields)
        if "upload" in commands:
            offset = _size(headers.get("x-goog-upload-offset", "0").strip())
            if offset is None:
                raise UploadError("an upload chunk without a valid offset")
            final = "finalize" in commands
            return Upload(
                api,
                (UploadedFile(None, media, body, None, offset, offset > 0 or not final),),
            )
        if commands <= {"query", "cancel", "finalize"} and commands and not body:
            return Upload(api, ())
        raise UploadError("a resumable upload request without a known command")

    return read


def _start_name(body: bytes) -> str | None:
    """Gemini web sends ``File name: x.pdf``; the Gemini API ``{"file": {"display_name":
    ...}}``."""
    text = body[:MAX_ANNOUNCE_BYTES].decode("utf-8", "replace").strip()
    if text.lower().startswith("file name:"):
        return text[len("file name:") :].strip() or None
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            return None
        inner = doc.get("file") if isinstance(doc, dict) else None
        if isinstance(inner, dict):
            for key in ("display_name", "displayName"):
                if isinstance(inner.get(key), str):
                    return str(inner[key])
    return None


_FILE_FIELDS = frozenset({"file", "data"})
_POST = frozenset({"POST"})
_RESUMABLE = frozenset({"POST", "PUT"})


def _route(
    method: str, path: str | None, api: str, read: Reader, header: str | None = None
) -> UploadRoute:
    """``method`` may list several (``POST|PUT``); ``{}`` in ``path`` is ``ANY``."""
    pattern = None if path is None else tuple(path.split("/"))
    return UploadRoute(frozenset(method.split("|")), pattern, api, read, header)


#: Upload endpoints by catalog service id.
UPLOAD_ROUTES: Final[dict[str, tuple[UploadRoute, ...]]] = {
    "chatgpt-web": (
        _route(
            "POST",
            "backend-api/files",
            "chatgpt-web.file_create",
            _announce("chatgpt-web.file_create", "file_name", "file_size"),
        ),
        _route(
            "POST",
            "backend-api/files/{}/uploaded",
            "chatgpt-web.file_uploaded",
            _confirm("chatgpt-web.file_uploaded"),
        ),
        _route(
            "POST",
            "backend-api/files/process_upload_stream",
            "chatgpt-web.file_process",
            _confirm("chatgpt-web.file_process"),
        ),
        # the blob host's Put Blob, on any path (the signed upload_url's)
        _route(
            "PUT",
            None,
            "chatgpt-web.file_upload",
            _blob_put("chatgpt-web.file_upload"),
            "x-ms-blob-type",
        ),
    ),
    "claude-web": tuple(
        _route("POST", path, api, _multipart(api, _FILE_FIELDS))
        for path, api in (
            ("api/{}/upload", "claude-web.file_upload"),
            ("api/organizations/{}/upload", "claude-web.file_upload"),
            ("api/{}/convert_document", "claude-web.convert_document"),
            ("api/organizations/{}/convert_document", "claude-web.convert_document"),
            ("api/convert_document", "claude-web.convert_document"),
            (
                "api/organizations/{}/conversations/{}/wiggle/upload-file",
                "claude-web.file_upload",
            ),
        )
    ),
    "gemini-web": (
        _route(
            "POST|PUT",
            "upload",
            "gemini-web.file_upload",
            _google_resumable("gemini-web.file_upload"),
            "x-goog-upload-command",
        ),
    ),
    "gemini": tuple(
        _route(
            "POST|PUT",
            f"upload/{v}/files",
            "gemini.files",
            _google_resumable("gemini.files"),
            "x-goog-upload-command",
        )
        for v in ("v1beta", "v1", "v1alpha")
    ),
    "openai": (
        _route("POST", "v1/files", "openai.files", _multipart("openai.files", _FILE_FIELDS)),
        _route(
            "POST",
            "v1/uploads",
            "openai.uploads",
            _announce("openai.uploads", "filename", "bytes", "mime_type"),
        ),
        _route(
            "POST",
            "v1/uploads/{}/parts",
            "openai.upload_parts",
            _multipart("openai.upload_parts", _FILE_FIELDS),
        ),
        _route(
            "POST",
            "v1/uploads/{}/complete",
            "openai.uploads_complete",
            _confirm("openai.uploads_complete"),
        ),
    ),
    "anthropic": (
        _route("POST", "v1/files", "anthropic.files", _multipart("anthropic.files", _FILE_FIELDS)),
    ),
}

#: Every upload api id (for the audit record and the policy's documentation).
UPLOAD_APIS: Final = frozenset(r.api for routes in UPLOAD_ROUTES.values() for r in routes)


def upload_route(
    service_id: str, method: str, target: str, headers: Mapping[str, str]
) -> tuple[UploadRoute, tuple[str, ...]] | None:
    """The upload endpoint a request goes to, with what the path's ``ANY`` captured;
    ``None`` when it is no upload."""
    routes = UPLOAD_ROUTES.get(service_id)
    if not routes:
        return None
    method = method.upper()
    segments: tuple[str, ...] | None = None
    for route in routes:
        if method not in route.methods:
            continue
        if route.header is not None and route.header not in headers:
            continue
        if route.pattern is None:
            if segments is None:
                segments = split_target(target)
            return route, segments
        if segments is None:
            segments = split_target(target)
        captured = match(segments, route.pattern)
        if captured is not None:
            return route, captured
    return None


def read_upload(
    route: UploadRoute, captured: tuple[str, ...], headers: Mapping[str, str], body: bytes
) -> Upload:
    """The files and fields of an upload request's (decoded) ``body``; ``UploadError``
    when the body is not what the route expects."""
    try:
        return route.read(captured, headers, body)
    except UploadError:
        raise
    except (ValueError, RecursionError):
        raise UploadError("the upload request could not be read") from None
