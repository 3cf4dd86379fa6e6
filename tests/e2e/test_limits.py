"""proxy.limits end to end: bombs, endless heads and half-open connections against a real
gateway process, with its resident memory measured (issue 19, finding 5).

Memory bound: each attack may grow the gateway's peak RSS by at most ``GROWTH`` (128
MiB). Generous on purpose: the limits under test are 8 MiB decoded and 64 KiB of head,
but CPython keeps freed arenas, mitmproxy holds a body in up to three copies while it
reads it (its buffer, the request's bytes, our decoded copy), and the audit record, TLS
buffers and the event loop's own growth count too. Before these limits each attack grew
it by about 1 GiB (a bomb) or by everything the client sent (a head), so the bound still
tells the two apart by an order of magnitude.
"""

from __future__ import annotations

import http.server
import socket
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Iterator

import httpx
import pytest
import yaml

from tests.e2e import memory
from tests.peers import UNSAFE_ENV, Aimock, WardenProcess

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024
GROWTH = 128 * MIB
DECODED_LIMIT = 8 * MIB
BODY_LIMIT = 2 * MIB  # above the 1 MB bombs, so they reach the decoding bound
HEADER_SECONDS = 2  # short, so the test is quick; the wait for it below is generous
PENDING_HEADS = 20


def gzip_bomb(decoded_size: int) -> bytes:
    """One gzip member (mitmproxy's own decoder reads only the first) that inflates to
    ``decoded_size`` zeros: about 1 MB per GiB. Built from one deflate block of 16 MiB
    repeated (a full flush makes each block stand alone), in well under a second."""
    piece = bytes(16 * MIB)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = deflate.compress(piece) + deflate.flush(zlib.Z_FULL_FLUSH)
    count = decoded_size // len(piece)
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(piece, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    trailer = struct.pack("<II", crc, (count * len(piece)) & 0xFFFFFFFF)
    return header + block * count + deflate.flush() + trailer


class _BombHandler(http.server.BaseHTTPRequestHandler):
    """An upstream that answers every request with a gzip bomb (1 MB: 1 GiB decoded)."""

    bomb = b""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(self.bomb)))
        self.end_headers()
        self.wfile.write(self.bomb)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def bomb_upstream() -> Iterator[str]:
    _BombHandler.bomb = gzip_bomb(1024 * MIB)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BombHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(5)


@pytest.fixture(scope="module")
def limited(
    aimock: Aimock, bomb_upstream: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WardenProcess]:
    w = WardenProcess(
        tmp_path_factory.mktemp("limited"),
        {
            "unsafe_testing": {
                "route_catalog_hosts_to": aimock.url,
                "routes": {"api.anthropic.com": bomb_upstream},
            },
        },
        env=UNSAFE_ENV,
    )
    cfg = yaml.safe_load(w.config_path.read_text())
    cfg["proxy"]["limits"] = {
        "body_bytes": BODY_LIMIT,
        "decoded_body_bytes": DECODED_LIMIT,
        "header_seconds": HEADER_SECONDS,
        "pending_heads_per_client": PENDING_HEADS,
    }
    w.config_path.write_text(yaml.safe_dump(cfg))
    w.start()
    yield w
    w.stop()


def _client(w: WardenProcess) -> httpx.Client:
    return httpx.Client(
        proxy=w.proxy_url,
        verify=ssl.create_default_context(cafile=str(w.ca_cert)),
        timeout=60,
        trust_env=False,
    )


class _Peak:
    """The growth of the proxy process's peak RSS over what it was before the block."""

    def __init__(self, w: WardenProcess) -> None:
        (self.pid,) = w.proxy_pids

    def __enter__(self) -> _Peak:
        self.before = memory.rss_bytes(self.pid)
        memory.reset_peak(self.pid)
        return self

    def __exit__(self, *exc: object) -> None:
        self.growth = memory.peak_rss_bytes(self.pid) - self.before


CHAT = "https://api.openai.com/v1/chat/completions"
HELLO = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello warden"}]}


def test_a_request_bomb_is_refused_with_413_and_little_memory(limited: WardenProcess) -> None:
    bomb = gzip_bomb(1024 * MIB)
    with _client(limited) as c:
        assert c.post(CHAT, json=HELLO).status_code == 200  # warm: first flow's one-off costs
        with _Peak(limited) as peak:
            answers = [
                c.post(
                    CHAT,
                    content=bomb,
                    headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
                )
                for _ in range(3)
            ]
    for answer in answers:
        assert answer.status_code == 413, answer.text
        assert (
            f"larger than {DECODED_LIMIT} bytes once decoded" in answer.json()["error"]["message"]
        )
    assert peak.growth < GROWTH, f"peak RSS grew by {peak.growth / MIB:.0f} MiB"
    refused = [
        r
        for r in limited.audit_records()
        if (r.get("decision") or {}).get("rule_id") == "limits.decoded_body_bytes"
    ]
    assert len(refused) >= 3 and all(r["status"] == 413 for r in refused)


def test_an_answer_bomb_is_withheld_with_502_and_little_memory(limited: WardenProcess) -> None:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [HELLO["messages"][0]]}
    with _client(limited) as c, _Peak(limited) as peak:
        answers = [
            c.post(
                "https://api.anthropic.com/v1/messages",
                json=body,
                headers={"x-api-key": "sk-test", "anthropic-version": "2023-06-01"},
            )
            for _ in range(3)
        ]
    for answer in answers:
        assert answer.status_code == 502, answer.text[:300]
        assert "larger than" in answer.json()["error"]["message"]
    assert peak.growth < GROWTH, f"peak RSS grew by {peak.growth / MIB:.0f} MiB"
    records = [
        r
        for r in limited.audit_records()
        if (r.get("destination") or {}).get("service") == "anthropic"
    ]
    # (with fail_closed the request has a record of its own before it leaves; the answer's
    # record joins it)
    withheld = [r for r in records if r["outcome"] == "upstream_error" and r["status"] == 502]
    assert len(withheld) >= 3, records


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_the_limit_is_not_read(limited: WardenProcess, chunked: bool) -> None:
    body = b'{"messages": [' + b" " * (2 * BODY_LIMIT) + b"]}"
    with _client(limited) as c, _Peak(limited) as peak:
        answer = c.post(
            CHAT,
            content=iter([body]) if chunked else body,  # an iterator goes out chunked
            headers={"Content-Type": "application/json"},
        )
    assert answer.status_code == 413, answer.text[:300]
    # The gateway's words, naming its own setting (it was mitmproxy's text, naming an
    # option of mitmproxy's that no admin of the gateway sets).
    assert f"larger than {BODY_LIMIT} bytes (proxy.limits.body_bytes)" in answer.text
    assert "mitmproxy" not in answer.text
    assert peak.growth < GROWTH, f"peak RSS grew by {peak.growth / MIB:.0f} MiB"
    recorded = [
        r
        for r in limited.audit_records()
        if (r.get("decision") or {}).get("rule_id") == "limits.body_bytes"
    ]
    assert recorded and recorded[-1]["destination"]["service"] == "openai"


def _send_until_closed(sock: socket.socket, first: bytes, total: int) -> int:
    """Send ``first`` then filler until ``total`` bytes or until the gateway hangs up;
    the bytes that went out."""
    sent = 0
    filler = b"a" * 65536
    try:
        sock.sendall(first)
        sent = len(first)
        while sent < total:
            sock.sendall(filler)
            sent += len(filler)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return sent


def _answer(sock: socket.socket) -> bytes:
    try:
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data
    except (ConnectionResetError, TimeoutError):
        return data
    finally:
        sock.close()


@pytest.mark.parametrize(
    "first",
    [
        b"GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\nX-Endless: ",
        b"CONNECT api.openai.com:443 HTTP/1.1\r\nX-Endless: ",
        b"GET http://example.test/",  # an endless request line
    ],
    ids=["header", "connect-header", "request-line"],
)
def test_an_endless_head_is_cut_at_the_limit(limited: WardenProcess, first: bytes) -> None:
    with _Peak(limited) as peak:
        sock = socket.create_connection(("127.0.0.1", limited.proxy_port), timeout=30)
        sent = _send_until_closed(sock, first, 256 * MIB)
        answer = _answer(sock)
    assert sent < 64 * MIB, "the gateway kept reading an endless head"
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert b"proxy.limits.header_bytes" in answer
    assert peak.growth < GROWTH, f"peak RSS grew by {peak.growth / MIB:.0f} MiB"


def test_an_endless_head_inside_a_tunnel_is_cut(limited: WardenProcess) -> None:
    """Inside a CONNECT, mitmproxy keeps what it reads until it sees a Host line."""
    with _Peak(limited) as peak:
        sock = socket.create_connection(("127.0.0.1", limited.proxy_port), timeout=30)
        sock.sendall(b"CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n")
        assert b" 200 " in sock.recv(4096)
        sent = _send_until_closed(sock, b"GET /", 256 * MIB)
        _answer(sock)
    assert sent < 64 * MIB, "the gateway kept reading an endless head"
    assert peak.growth < GROWTH, f"peak RSS grew by {peak.growth / MIB:.0f} MiB"


def test_half_sent_heads_are_capped_per_client_and_timed_out(limited: WardenProcess) -> None:
    socks = []
    for _ in range(3 * PENDING_HEADS):
        sock = socket.create_connection(("127.0.0.1", limited.proxy_port), timeout=30)
        sock.sendall(b"CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.open")
        socks.append(sock)
    started = time.monotonic()
    answers = [_answer(sock) for sock in socks]  # each returns when the gateway closes it
    elapsed = time.monotonic() - started
    timed_out = [a for a in answers if a.startswith(b"HTTP/1.1 408")]
    refused = [a for a in answers if a == b""]
    # The first PENDING_HEADS wait for their head and get 408 after HEADER_SECONDS; the
    # others are over the per-client count and closed at once.
    assert len(timed_out) == PENDING_HEADS, answers[:3]
    assert len(refused) == 2 * PENDING_HEADS
    assert b"proxy.limits.header_seconds" in timed_out[0]
    # Closed by the timer, not by the 600 s idle timeout (30 s: generous for a busy CI).
    assert elapsed < 30
    # And the client can connect again once they are gone.
    with _client(limited) as c:
        assert c.post(CHAT, json=HELLO).status_code == 200
    metrics = limited.metrics()
    assert 'warden_limits_total{limit="header_seconds"}' in metrics
    assert 'warden_limits_total{limit="pending_heads_per_client"}' in metrics
