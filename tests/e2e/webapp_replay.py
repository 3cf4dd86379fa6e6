"""A loopback stand-in for the backends of chatgpt.com, claude.ai and gemini.google.com that
replays their request and answer shapes, for the web-app e2e tests.

A test double of our own, on purpose: aimock (and llmock) speak the providers' public
APIs only; none of them answers ChatGPT's ``/backend-api`` pre-flight and delta-encoded
SSE, Claude's ``chat_conversations`` and its app events, or Gemini's ``batchexecute`` and
length-prefixed ``StreamGenerate`` frames. The shapes are the apps' as public clients
replay them (acheong08/ChatGPT, st1vms/unofficial-claude-api, HanaokaYuzu/Gemini-API, and
the ChatGPT sentinel/conduit sequence as the 2025-2026 bridges send it); see
``tests/providers/test_companions.py`` and ``tests/dlp/test_webrestore.py``.

The gateway routes the three hosts here (``unsafe_testing.routes``), keeping ``Host``.
Every request is recorded. The conversation endpoints check what the app's own server
checks in the sequence (ChatGPT: the requirements token and the conduit token the
pre-flight handed out; Claude: a conversation created first), and answer with a text that
repeats the placeholder they received (``Dear <CUSTOMER_1>, ...``), streamed in chunks
cut inside the placeholder: what reaches the client shows whether the gateway restored it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote_plus

from warden.providers.geminiframes import encode_frame

REQUIREMENTS_TOKEN = "gAAAAABreplay-requirements"
CONDUIT_TOKEN = "conduit-replay-7d1e"
ORG = "0f1e2d3c-0000-4000-8000-00000000000a"
GEMINI_STREAM = "/_/BardChatUi/data/assistant.lamda.BardFrontendService/StreamGenerate"
_PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*_\d+>")


def answer_text(placeholder: str | None) -> str:
    who = placeholder or "there"
    return f"Dear {who}, your order has shipped. Regards to {who}!"


def _cut(text: str, size: int = 7) -> list[str]:
    """``text`` in pieces of ``size`` characters: placeholders are cut inside."""
    return [text[i : i + size] for i in range(0, len(text), size)]


def _sse(name: str | None, doc: object) -> bytes:
    head = f"event: {name}\n" if name else ""
    data = doc if isinstance(doc, str) else json.dumps(doc)
    return f"{head}data: {data}\n\n".encode()


def chatgpt_events(text: str) -> Iterator[bytes]:
    """ChatGPT's delta-encoded answer (``event: delta_encoding`` / ``"v1"``, then patches)."""
    message = {
        "id": "m-replay-2",
        "author": {"role": "assistant"},
        "content": {"content_type": "text", "parts": [""]},
        "status": "in_progress",
    }
    yield _sse("delta_encoding", '"v1"')
    yield _sse("delta", {"p": "", "o": "add", "v": {"message": message, "conversation_id": "c1"}})
    pieces = _cut(text)
    yield _sse("delta", {"p": "/message/content/parts/0", "o": "append", "v": pieces[0]})
    for piece in pieces[1:-1]:
        yield _sse("delta", {"v": piece})
    ops = [
        {"p": "/message/content/parts/0", "o": "append", "v": pieces[-1]},
        {"p": "/message/status", "o": "replace", "v": "finished_successfully"},
    ]
    yield _sse("delta", {"p": "", "o": "patch", "v": ops})
    yield _sse(None, {"type": "message_stream_complete", "conversation_id": "c1"})
    yield _sse(None, "[DONE]")


def claude_events(text: str) -> Iterator[bytes]:
    """Claude's app events: no model, no usage, a thinking block, ``message_limit``."""

    def ev(name: str, **fields: object) -> bytes:
        return _sse(name, {"type": name, **fields})

    yield ev("message_start", message={"id": "m", "model": "", "role": "assistant", "content": []})
    yield ev("content_block_start", index=0, content_block={"type": "thinking", "thinking": ""})
    yield ev(
        "content_block_delta", index=0, delta={"type": "thinking_delta", "thinking": "Polite."}
    )
    yield ev("content_block_stop", index=0)
    yield ev("content_block_start", index=1, content_block={"type": "text", "text": ""})
    for piece in _cut(text):
        yield ev("content_block_delta", index=1, delta={"type": "text_delta", "text": piece})
    yield ev("content_block_stop", index=1)
    yield ev("message_delta", delta={"stop_reason": "end_turn"})
    yield ev("message_limit", message_limit={"type": "within_limit"})
    yield ev("message_stop")


def _frame(doc: object) -> bytes:
    return encode_frame("\n" + json.dumps(doc, separators=(",", ":")) + "\n").encode()


def gemini_frames(text: str) -> Iterator[bytes]:
    """Gemini's answer: ``)]}'`` then frames of the cumulative text, each cut in two."""
    yield b")]}'\n"
    so_far = ""
    for piece in _cut(text, 11):
        so_far += piece
        inner = [None, ["c_replay", "r_replay"], None, None, [["rc_replay", [so_far]]]]
        frame = b"\n" + _frame([["wrb.fr", None, json.dumps(inner)]])
        half = len(frame) // 2
        yield frame[:half]
        yield frame[half:]
    yield b"\n" + _frame([["di", 120], ["af.httprm", 119, "-1", 3]])
    yield b"\n" + _frame([["e", 4, None, None, 230]]) + b"\n"


@dataclass(frozen=True)
class Received:
    host: str
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes


@dataclass
class WebAppReplay:
    """``with WebAppReplay() as replay:`` serves on ``replay.url`` until the block ends."""

    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def to(self, host: str, path_start: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.host == host and r.path.startswith(path_start)]

    def _record(self, r: Received) -> None:
        with self._lock:
            self.received.append(r)

    def start(self) -> None:
        replay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _receive(self) -> Received:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                host = (self.headers.get("Host") or "").split(":")[0].lower()
                r = Received(
                    host,
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                replay._record(r)
                return r

            def _json(self, status: int, doc: object) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _stream(self, content_type: str, pieces: Iterator[bytes]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for piece in pieces:
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

            def do_GET(self) -> None:
                r = self._receive()
                path = r.path.split("?", 1)[0]
                if path == "/" and r.host in PAGES:
                    body = PAGES[r.host].encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                elif r.host == "chatgpt.com" and path == "/backend-api/conversations":
                    self._json(200, {"items": [], "total": 0, "limit": 28, "offset": 0})
                elif r.host == "claude.ai" and path.endswith("/chat_conversations"):
                    self._json(200, [])
                else:
                    self._json(404, {"detail": "not found"})

            def do_POST(self) -> None:
                r = self._receive()
                path = r.path.split("?", 1)[0]
                text = unquote_plus(r.body.decode("utf-8", "replace"))
                found = _PLACEHOLDER.search(text)
                answer = answer_text(found.group(0) if found else None)
                if r.host == "chatgpt.com":
                    self._chatgpt(r, path, answer)
                elif r.host == "claude.ai":
                    self._claude(r, path, answer)
                elif r.host == "gemini.google.com":
                    self._gemini(path, answer)
                else:
                    self._json(404, {"detail": "not found"})

            def _chatgpt(self, r: Received, path: str, answer: str) -> None:
                if path == "/backend-api/sentinel/chat-requirements":
                    self._json(
                        200,
                        {
                            "persona": "chatgpt-paid",
                            "token": REQUIREMENTS_TOKEN,
                            "proofofwork": {"required": False},
                            "turnstile": {"required": False},
                        },
                    )
                elif path == "/backend-api/f/conversation/prepare":
                    self._json(200, {"status": "ok", "conduit_token": CONDUIT_TOKEN})
                elif path == "/backend-api/f/conversation":
                    h = r.headers
                    if (
                        h.get("openai-sentinel-chat-requirements-token") != REQUIREMENTS_TOKEN
                        or h.get("x-conduit-token") != CONDUIT_TOKEN
                    ):
                        self._json(403, {"detail": "Unusual activity has been detected"})
                        return
                    self._stream("text/event-stream; charset=utf-8", chatgpt_events(answer))
                else:
                    self._json(404, {"detail": "not found"})

            def _claude(self, r: Received, path: str, answer: str) -> None:
                base = f"/api/organizations/{ORG}/chat_conversations"
                if path == base:
                    doc = json.loads(r.body)
                    self._json(201, {"uuid": doc["uuid"], "name": doc.get("name", "")})
                elif path.startswith(base + "/") and path.endswith("/completion"):
                    created = [
                        json.loads(c.body).get("uuid")
                        for c in replay.to("claude.ai", base)
                        if c.method == "POST" and c.path.split("?")[0] == base
                    ]
                    if path.split("/")[-2] not in created:
                        self._json(404, {"error": {"type": "not_found_error"}})
                        return
                    self._stream("text/event-stream; charset=utf-8", claude_events(answer))
                else:
                    self._json(404, {"detail": "not found"})

            def _gemini(self, path: str, answer: str) -> None:
                if path == "/_/BardChatUi/data/batchexecute":
                    frame = _frame([["wrb.fr", "MaZiqc", "[[]]", None, None, None, "generic"]])
                    body = b")]}'\n\n" + frame
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                elif path == GEMINI_STREAM:
                    self._stream("application/json; charset=utf-8", gemini_frames(answer))
                else:
                    self._json(404, {"detail": "not found"})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="webapp-replay", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> WebAppReplay:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the apps' pages: each performs its app's fetch calls, in order, as the app does ----

#: The prompt the pages send; ``SHOWN`` is where each page writes the answer it read.
PAGE_PROMPT = "Write a short note to Jane Roe that her order has shipped."

_PAGE = """<!doctype html>
<html lang=en><head><meta charset=utf-8><title>%(title)s replay</title></head>
<body><h1>%(title)s replay</h1>
<button id=send type=button>Send</button>
<p id=answer></p>
<script>
const PROMPT = %(prompt)s;
const out = document.getElementById("answer");
async function post(path, body, headers) {
  return fetch(path, {method: "POST", body: body, headers: headers || {"Content-Type": "application/json"}});
}
%(script)s
document.getElementById("send").addEventListener("click", async () => {
  out.textContent = "...";
  try { out.textContent = await converse(); } catch (e) { out.textContent = "error: " + e; }
});
</script></body></html>
"""

_CHATGPT_SCRIPT = r"""
async function converse() {
  const list = await fetch("/backend-api/conversations?offset=0&limit=28");
  if (!list.ok) return "listing: HTTP " + list.status;
  const req = await post("/backend-api/sentinel/chat-requirements", JSON.stringify({p: "gAAAAACproof"}));
  if (!req.ok) return "requirements: HTTP " + req.status;
  const token = (await req.json()).token;
  const message = {id: crypto.randomUUID(), author: {role: "user"},
                   content: {content_type: "text", parts: [PROMPT]}};
  const body = {action: "next", messages: [message], parent_message_id: "client-created-root",
                model: "auto", supported_encodings: ["v1"]};
  const prep = await post("/backend-api/f/conversation/prepare",
    JSON.stringify({...body, partial_query: {content: {parts: [PROMPT]}}}),
    {"Content-Type": "application/json", "x-conduit-token": "no-token"});
  if (!prep.ok) return "prepare: HTTP " + prep.status;
  const conduit = (await prep.json()).conduit_token;
  const r = await post("/backend-api/f/conversation", JSON.stringify(body), {
    "Content-Type": "application/json", "Accept": "text/event-stream",
    "openai-sentinel-chat-requirements-token": token, "x-conduit-token": conduit});
  if (!r.ok) return "conversation: HTTP " + r.status;
  // the delta encoding: {"p","o","v"}, a bare {"v"} continues the last path and operation
  let text = "", lastP = "", lastO = "append";
  const apply = (op) => {
    const p = op.p !== undefined ? op.p : lastP, o = op.o !== undefined ? op.o : lastO;
    if (o === "patch") { op.v.forEach(apply); return; }
    lastP = p; lastO = o;
    if (o === "append" && p === "/message/content/parts/0") text += op.v;
  };
  for (const line of (await r.text()).split("\n")) {
    if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
    const doc = JSON.parse(line.slice(6));
    if (doc !== null && typeof doc === "object" && ("v" in doc || "o" in doc)) apply(doc);
  }
  return text;
}
"""

_CLAUDE_SCRIPT = r"""
async function converse() {
  const base = "/api/organizations/%(org)s/chat_conversations";
  const uuid = crypto.randomUUID();
  const created = await post(base, JSON.stringify({uuid: uuid, name: ""}));
  if (!created.ok) return "create: HTTP " + created.status;
  const r = await post(base + "/" + uuid + "/completion", JSON.stringify({
    prompt: PROMPT, timezone: "Europe/Berlin", attachments: [], files: [], sync_sources: [],
    personalized_styles: [{type: "default", key: "Default", name: "Normal", prompt: "Normal"}],
    rendering_mode: "messages"}), {"Content-Type": "application/json", "Accept": "text/event-stream"});
  if (!r.ok) return "completion: HTTP " + r.status;
  let text = "";
  for (const line of (await r.text()).split("\n")) {
    if (!line.startsWith("data: ")) continue;
    const doc = JSON.parse(line.slice(6));
    if (doc.type === "content_block_delta" && doc.delta.type === "text_delta") text += doc.delta.text;
  }
  return text;
}
""".replace("%(org)s", ORG)

_GEMINI_SCRIPT = r"""
const FORM = {"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8",
              "x-goog-ext-525001261-jspb": '[1,null,null,null,"9d8ca3786ebdfbea",null,null,0,[4]]'};
function form(freq) { return "f.req=" + encodeURIComponent(JSON.stringify(freq)) + "&at=AJvLN6x&"; }
async function converse() {
  const rpc = [[["MaZiqc", JSON.stringify([13, null, [0, null, 1]]), null, "generic"]]];
  const batch = await post("/_/BardChatUi/data/batchexecute?rpcids=MaZiqc&rt=c", form(rpc), FORM);
  if (!batch.ok) return "batchexecute: HTTP " + batch.status;
  const inner = JSON.stringify([[PROMPT, 0, null, null, null, null, 0], ["en"], ["", "", ""]]);
  const r = await post("/_/BardChatUi/data/assistant.lamda.BardFrontendService/StreamGenerate?rt=c",
                       form([null, inner]), FORM);
  if (!r.ok) return "StreamGenerate: HTTP " + r.status;
  // length-prefixed frames; a JavaScript string's length is in UTF-16 units, as the prefix
  let s = await r.text(), pos = s.startsWith(")]}'") ? 4 : 0, text = "";
  while (pos < s.length) {
    while (pos < s.length && /\s/.test(s[pos])) pos++;
    const digits = /^\d+/.exec(s.slice(pos));
    if (!digits) break;
    pos += digits[0].length;
    const frame = JSON.parse(s.substr(pos, Number(digits[0])));
    pos += Number(digits[0]);
    for (const env of frame) {
      if (env[0] !== "wrb.fr" || typeof env[2] !== "string") continue;
      const doc = JSON.parse(env[2]);
      if (doc[4]) text = doc[4][0][1][0];  // cumulative: the latest is the whole answer
    }
  }
  return text;
}
"""

PAGES = {
    host: _PAGE % {"title": title, "prompt": json.dumps(PAGE_PROMPT), "script": script}
    for host, title, script in (
        ("chatgpt.com", "ChatGPT", _CHATGPT_SCRIPT),
        ("claude.ai", "Claude", _CLAUDE_SCRIPT),
        ("gemini.google.com", "Gemini", _GEMINI_SCRIPT),
    )
}
