"""A loopback stand-in for the upload endpoints aimock does not have.

aimock (@copilotkit/aimock) answers the OpenAI Files API (``POST /v1/files``), so those
uploads go to it; it has no ChatGPT, Claude or Gemini web backend, no Anthropic Files API
and no Google resumable upload. This server takes their place for the upload tests: the
gateway routes those hosts here (``unsafe_testing.routes``, keeping the ``Host`` header),
and it answers each upload as the real service's shape says (a file id, an upload URL,
Google's ``x-goog-upload-*`` headers) and records what reached "upstream" (method, host,
path, the body's SHA-256 and length, never kept beyond the test).
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: The file id ChatGPT's upload URL names (the blob PUT carries no file name).
FILE_ID = "00000000-2554-7230-b9ed-e110f49fccb5"


@dataclass(frozen=True)
class Received:
    method: str
    host: str
    path: str
    sha256: str
    length: int
    body: bytes


class UploadFixture:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self._lock = threading.Lock()
        fixture = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                host = (self.headers.get("host") or "").split(":")[0]
                with fixture._lock:
                    fixture.received.append(
                        Received(
                            self.command,
                            host,
                            self.path,
                            hashlib.sha256(body).hexdigest(),
                            len(body),
                            body,
                        )
                    )
                headers: dict[str, str] = {"content-type": "application/json"}
                answer: dict[str, object] = {"id": "file_fixture_1", "type": "file"}
                if host.endswith("oaiusercontent.com"):
                    self.send_response(201)  # Azure's Put Blob answers 201 Created, no body
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                command = self.headers.get("x-goog-upload-command", "")
                if "start" in command:
                    headers["x-goog-upload-status"] = "active"
                    headers["x-goog-upload-url"] = f"https://{host}/upload/?upload_id=fixture"
                    answer = {}
                elif "upload" in command:
                    headers["x-goog-upload-status"] = "final"
                    answer = {"file": {"name": "files/fixture"}}
                if self.path.startswith("/backend-api/files"):
                    answer = {
                        "status": "success",
                        "file_id": "file-fixture",
                        "upload_url": "https://sdmntprwestus.oaiusercontent.com/files/"
                        f"{FILE_ID}/raw?se=2026-12-02&sp=w&sig=x",
                    }
                data = json.dumps(answer).encode()
                self.send_response(200)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = _handle
            do_PUT = _handle
            do_GET = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def bodies(self) -> list[bytes]:
        with self._lock:
            return [r.body for r in self.received]

    def arrived(self, data: bytes) -> bool:
        """Whether ``data`` reached this upstream, alone or inside a multipart body."""
        return any(data in body for body in self.bodies())
