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
APP_ORIGIN = "https://chatgpt.com"

#: ChatGPT's attach flow as its page runs it: announce the file (same origin), PUT the
#: bytes to the signed blob URL (cross-origin, so the browser sends a CORS preflight
#: for x-ms-blob-type), then confirm; the page shows the status and what it was told.
PAGE = r"""<!doctype html>
<html lang=en><head><meta charset=utf-8><title>ChatGPT upload fixture</title></head>
<body>
<input id=file type=file>
<button id=attach type=button>Attach</button>
<pre id=result></pre>
<script>
document.getElementById("attach").addEventListener("click", async () => {
  const out = document.getElementById("result");
  const file = document.getElementById("file").files[0];
  try {
    const created = await fetch("/backend-api/files", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({file_name: file.name, file_size: file.size, use_case: "multimodal"}),
    });
    if (!created.ok) { out.textContent = created.status + "\n" + await created.text(); return; }
    const {upload_url, file_id} = await created.json();
    const put = await fetch(upload_url, {
      method: "PUT", credentials: "include",
      headers: {"x-ms-blob-type": "BlockBlob", "Content-Type": file.type || "application/octet-stream"},
      body: file,
    });
    if (!put.ok) { out.textContent = put.status + "\n" + await put.text(); return; }
    await fetch("/backend-api/files/" + file_id + "/uploaded", {method: "POST", body: "{}"});
    out.textContent = "uploaded " + file_id;
  } catch (e) {
    out.textContent = "error: " + e;
  }
});
</script>
</body></html>
"""


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
                if self.command == "GET" and self.path == "/":
                    page = PAGE.encode()
                    self.send_response(200)
                    self.send_header("content-type", "text/html; charset=utf-8")
                    self.send_header("content-length", str(len(page)))
                    self.end_headers()
                    self.wfile.write(page)
                    return
                if host.endswith("oaiusercontent.com"):
                    # Azure answers a Put Blob 201 Created, no body, and a preflight 200
                    self.send_response(200 if self.command == "OPTIONS" else 201)
                    self.send_header("access-control-allow-origin", APP_ORIGIN)
                    self.send_header("access-control-allow-credentials", "true")
                    self.send_header("access-control-allow-methods", "PUT")
                    self.send_header("access-control-allow-headers", "x-ms-blob-type, content-type")
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
                        "file_id": FILE_ID,
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
            do_OPTIONS = _handle

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
