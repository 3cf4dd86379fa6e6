"""A loopback LLM upstream of our own that cuts its streamed answers where a test says.

aimock streams an answer in chunks of its own choosing; it cannot write an SSE event's
``data:`` line and its blank line in separate TCP writes, or one byte per write, or a
16 MB line, which is what the stream tests need to provoke. This server can: each answer
is a list of pieces, each piece goes out as its own HTTP/1.1 chunk (``TCP_NODELAY``,
a short pause after each so the gateway most likely reads it on its own; a read that
merges pieces only makes a test weaker, never wrongly red). It keeps connections alive,
answers every path with the pieces ``answer(path, body)`` returns, and keeps a journal.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Received:
    path: str
    body: bytes


#: (path, request body) -> the pieces of the answer; each becomes one HTTP chunk.
Answer = Callable[[str, bytes], Iterable[bytes]]


class SplitUpstream:
    def __init__(self, answer: Answer, gap_s: float = 0.002) -> None:
        self.answer = answer
        self.gap_s = gap_s
        self.journal: list[Received] = []
        self.connections = 0
        self._changed = threading.Condition()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._closing = False
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> SplitUpstream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing = True
        self._sock.close()

    def wait_for_requests(self, count: int, timeout: float = 60) -> list[Received]:
        """Waits until ``count`` requests have arrived (an event, not a sleep)."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.journal) >= count, timeout):
                raise TimeoutError(f"{count} requests did not reach the upstream")
            return list(self.journal)

    def _serve(self) -> None:
        while not self._closing:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connections += 1
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        try:
            self._requests(conn)
        except OSError:
            return  # the gateway closed the connection (a cut answer, the end of a test)

    def _requests(self, conn: socket.socket) -> None:
        buffer = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                while len(buffer) < length:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                body, buffer = buffer[:length], buffer[length:]
                with self._changed:
                    self.journal.append(Received(path, body))
                    self._changed.notify_all()
                self._write_answer(conn, self.answer(path, body))

    def _write_answer(self, conn: socket.socket, pieces: Iterable[bytes]) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        for piece in pieces:
            if piece:
                conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                if self.gap_s:
                    time.sleep(self.gap_s)
        conn.sendall(b"0\r\n\r\n")


def sse_event(data: bytes, name: bytes | None = None) -> list[bytes]:
    """One event as the pieces a splitting upstream writes separately: the ``event:`` and
    ``data:`` lines, then the blank line that ends the event."""
    head = [b"event: " + name + b"\n"] if name else []
    return [*head, b"data: " + data + b"\n", b"\n"]


def every_byte(pieces: Iterable[bytes]) -> list[bytes]:
    raw = b"".join(pieces)
    return [raw[i : i + 1] for i in range(len(raw))]
