"""A loopback stand-in for chatgpt.com, for the browser e2e test.

The gateway routes ``chatgpt.com`` here (``unsafe_testing.routes``), keeping the ``Host``
header. ``GET /`` serves a small page whose button POSTs a ChatGPT-web shaped body to
``/backend-api/conversation`` and shows the streamed (SSE) answer; every request is
recorded (method, path, headers, body) so the test can see what reached "upstream".
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TITLE = "ChatGPT fixture"
PROMPT = "hello from the browser"
ANSWER = "Hello from the ChatGPT fixture."
CONVERSATION_PATH = "/backend-api/conversation"

PAGE = f"""<!doctype html>
<html lang=en><head><meta charset=utf-8><title>{TITLE}</title></head>
<body>
<h1>{TITLE}</h1>
<button id=send type=button>Send</button>
<p id=answer></p>
<script>
document.getElementById("send").addEventListener("click", async () => {{
  const out = document.getElementById("answer");
  out.textContent = "...";
  try {{
    const r = await fetch("{CONVERSATION_PATH}", {{
      method: "POST",
      headers: {{"Content-Type": "application/json", "Accept": "text/event-stream"}},
      body: JSON.stringify({{
        action: "next",
        messages: [{{author: {{role: "user"}},
                     content: {{content_type: "text", parts: ["{PROMPT}"]}}}}],
        model: "gpt-4o",
      }}),
    }});
    let text = "";
    for (const line of (await r.text()).split("\\n")) {{
      if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
      const doc = JSON.parse(line.slice(6));
      if (doc.message) text = doc.message.content.parts.join("");
    }}
    out.textContent = r.ok ? text : "HTTP " + r.status;
  }} catch (e) {{
    out.textContent = "error: " + e;
  }}
}});
</script>
</body></html>
"""


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _sse_answer() -> bytes:
    message = {
        "message": {
            "id": "msg-fixture-1",
            "author": {"role": "assistant"},
            "content": {"content_type": "text", "parts": [ANSWER]},
            "status": "finished_successfully",
        },
        "conversation_id": "conv-fixture-1",
    }
    return f"data: {json.dumps(message)}\n\ndata: [DONE]\n\n".encode()


@dataclass
class WebAppFixture:
    """``with WebAppFixture() as app:`` serves on ``app.url`` until the block ends."""

    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests_to(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def _record(self, r: Received) -> None:
        with self._lock:
            self.received.append(r)

    def start(self) -> None:
        fixture = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _receive(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fixture._record(
                    Received(
                        self.command,
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                    )
                )

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._receive()
                if self.path.split("?", 1)[0] == "/":
                    self._send(200, "text/html; charset=utf-8", PAGE.encode())
                else:
                    self._send(404, "text/plain", b"not found\n")

            def do_POST(self) -> None:
                self._receive()
                if self.path == CONVERSATION_PATH:
                    self._send(200, "text/event-stream; charset=utf-8", _sse_answer())
                else:
                    self._send(404, "text/plain", b"not found\n")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="webapp-fixture", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> WebAppFixture:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
