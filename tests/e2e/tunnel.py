"""A raw HTTP/1.1 client for the e2e tests that need to choose every name a proxy sees.

The CONNECT target, the TLS server name (SNI) and the Host header are set one by one, as
an attacker's own client would set them; SDKs and curl always make them agree.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, object]:
        return dict(json.loads(self.body))


def read_answer(sock: socket.socket | ssl.SSLSocket) -> Answer:
    """One HTTP/1.1 answer, with a Content-Length or chunked."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before the answer's head: {data[:200]!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    if "chunked" in headers.get("transfer-encoding", ""):
        while not body.endswith(b"0\r\n\r\n") and (chunk := sock.recv(65536)):
            body += chunk
        return Answer(int(status_line.split(" ")[1]), headers, _dechunk(body))
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return Answer(int(status_line.split(" ")[1]), headers, body[:length])


def post_in_tunnel(
    proxy_port: int,
    *,
    connect: str,
    sni: str | None,
    host: str,
    ca: Path | None,
    path: str,
    payload: Mapping[str, object],
    proxy_authorization: str | None = None,
) -> Answer:
    """CONNECT to ``connect`` through the proxy, TLS with ``sni`` (verified against ``ca``
    under that name; ``ca=None`` verifies nothing, as an attacker's own client does), then
    POST ``payload`` as JSON with ``Host: host``."""
    sock = socket.create_connection(("127.0.0.1", proxy_port), timeout=20)
    auth = f"Proxy-Authorization: {proxy_authorization}\r\n" if proxy_authorization else ""
    sock.sendall(f"CONNECT {connect} HTTP/1.1\r\nHost: {connect}\r\n{auth}\r\n".encode())
    established = read_answer(sock)
    if established.status != 200:
        sock.close()
        return established
    ctx = ssl.create_default_context(cafile=str(ca) if ca else None)
    if sni is None or ca is None:
        ctx.check_hostname = False
    if ca is None:
        ctx.verify_mode = ssl.CERT_NONE
    with ctx.wrap_socket(sock, server_hostname=sni) as tls:
        body = json.dumps(payload).encode()
        tls.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer sk-test\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        return read_answer(tls)


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2 :]
    return out
