"""Syslog transports on asyncio: UDP (RFC 5426), TCP with octet counting (RFC 6587), TLS (RFC 5425).

A transport moves already formatted messages; it owns framing, the connection and what
can be known about delivery. Syslog over TCP has no application-level acknowledgement, so
a successful write proves only that the bytes reached our kernel. `acknowledged()` goes
one step further on Linux: the socket's unacknowledged send queue (``SIOCOUTQ``) tells
how many of the bytes written so far the collector's TCP stack has acknowledged. Bytes
acknowledged there can still be lost if the collector process dies before reading them;
that window is small and is why delivery is "at least once, nearly always", never
"exactly once". The shipper keeps every message until `acknowledged()` passes its end and
sends again what was not, so a SIEM sees duplicates after a reconnect and drops them by
``record_id``.

- TCP: exact per-byte acknowledgement (bytes written - kernel queue - asyncio buffer).
- TLS: ciphertext and plaintext sizes differ, so everything written counts as
  acknowledged only when both the kernel queue and the TLS buffers are empty.
- UDP: nothing can be known; a message counts as delivered when the datagram left.
  Messages longer than ``max_datagram`` are cut (`truncate_5424`), and an ICMP
  "port unreachable" reported by the kernel makes the next send fail.
- Platforms without ``SIOCOUTQ``: a write counts as acknowledged once asyncio has handed it
  to the kernel.

A connection the collector closed is noticed before the next write (end of stream on the
read side), not after it.
"""

from __future__ import annotations

import array
import asyncio
import fcntl
import logging
import socket
import ssl
import sys
import termios
from collections.abc import Sequence
from pathlib import Path
from typing import Final, Literal, Protocol

from .syslog_format import truncate_5424

__all__ = [
    "StreamTransport",
    "SyslogTransport",
    "TransportKind",
    "UdpTransport",
    "open_transport",
    "tls_client_context",
]

log = logging.getLogger(__name__)

TransportKind = Literal["udp", "tcp", "tls"]

# RFC 5426 section 3.2: receivers must take 480 bytes and should take 2048; on a LAN or
# loopback far more is fine. 8 KiB keeps a typical flow record whole.
DEFAULT_MAX_DATAGRAM: Final = 8192
# SIOCOUTQ == TIOCOUTQ on Linux: bytes in the send queue not yet acknowledged by the peer.
_SIOCOUTQ: Final[int | None] = (
    getattr(termios, "TIOCOUTQ", None) if sys.platform == "linux" else None
)


class SyslogTransport(Protocol):
    """What the shipper needs from a transport."""

    @property
    def target(self) -> str:
        """``kind://host:port`` for log lines and errors."""
        ...

    @property
    def connected(self) -> bool: ...

    async def connect(self) -> None:
        """Open the connection; raises ``OSError`` (TLS errors included) or ``TimeoutError``."""
        ...

    async def send(self, messages: Sequence[bytes]) -> list[int]:
        """Write messages in order; return each one's end as a byte offset on this connection.

        Raises ``OSError``/``TimeoutError`` when the connection is gone or stuck.
        """
        ...

    def acknowledged(self) -> int:
        """Byte offset up to which the collector has acknowledged this connection's writes."""
        ...

    def check(self) -> None:
        """Raise ``ConnectionResetError`` if the collector has closed the connection."""
        ...

    async def close(self) -> None: ...


def tls_client_context(
    ca_file: Path, *, client_cert: Path | None = None, client_key: Path | None = None
) -> ssl.SSLContext:
    """A TLS client context that trusts only ``ca_file`` and checks the collector's name."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    if client_cert is not None:
        context.load_cert_chain(str(client_cert), str(client_key) if client_key else None)
    return context


def open_transport(
    kind: TransportKind,
    host: str,
    port: int,
    *,
    ca_file: Path | None = None,
    server_name: str | None = None,
    client_cert: Path | None = None,
    client_key: Path | None = None,
    max_datagram: int = DEFAULT_MAX_DATAGRAM,
    connect_timeout: float = 5.0,
    write_timeout: float = 10.0,
) -> SyslogTransport:
    """The transport for a configured destination (nothing is opened yet)."""
    if kind == "udp":
        return UdpTransport(host, port, max_datagram=max_datagram)
    if kind == "tcp":
        return StreamTransport(
            host, port, connect_timeout=connect_timeout, write_timeout=write_timeout
        )
    if kind == "tls":
        if ca_file is None:
            raise ValueError(
                "syslog over TLS needs the CA file that signed the collector's certificate "
                "(ca_file); without it the collector cannot be verified"
            )
        context = tls_client_context(ca_file, client_cert=client_cert, client_key=client_key)
        return StreamTransport(
            host,
            port,
            ssl_context=context,
            server_name=server_name or host,
            connect_timeout=connect_timeout,
            write_timeout=write_timeout,
        )
    raise ValueError(f"unknown syslog transport {kind!r}: use 'udp', 'tcp' or 'tls'")


class StreamTransport:
    """Octet-counted syslog (``LEN SP MSG``) over TCP, or over TLS with a context."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        server_name: str | None = None,
        connect_timeout: float = 5.0,
        write_timeout: float = 10.0,
    ) -> None:
        self.host, self.port = host, port
        self._ssl = ssl_context
        self._server_name = server_name
        self._connect_timeout = connect_timeout
        self._write_timeout = write_timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._written = 0
        self._acked = 0

    @property
    def target(self) -> str:
        return f"{'tls' if self._ssl else 'tcp'}://{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def connect(self) -> None:
        await self.close()
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                self.host,
                self.port,
                ssl=self._ssl,
                server_hostname=self._server_name if self._ssl else None,
            ),
            self._connect_timeout,
        )
        self._reader, self._writer = reader, writer
        self._written = self._acked = 0
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)

    def check(self) -> None:
        if self._writer is None or self._reader is None:
            raise ConnectionResetError(f"not connected to the syslog collector {self.target}")
        if self._writer.is_closing() or self._reader.at_eof() or self._reader.exception():
            raise ConnectionResetError(f"the syslog collector {self.target} closed the connection")

    async def send(self, messages: Sequence[bytes]) -> list[int]:
        self.check()
        assert self._writer is not None
        ends: list[int] = []
        frames: list[bytes] = []
        for message in messages:
            frame = b"%d %b" % (len(message), message)
            frames.append(frame)
            self._written += len(frame)
            ends.append(self._written)
        self._writer.write(b"".join(frames))
        try:
            await asyncio.wait_for(self._writer.drain(), self._write_timeout)
        except TimeoutError:
            raise TimeoutError(
                f"the syslog collector {self.target} took no data for {self._write_timeout} s"
            ) from None
        return ends

    def acknowledged(self) -> int:
        writer = self._writer
        if writer is None:
            return self._acked
        sock = writer.get_extra_info("socket")
        if self._reader is None or self._reader.at_eof() or not _established(sock):
            # After a FIN or RST the peer's TCP acknowledges nothing we wrote since.
            return self._acked
        buffered = writer.transport.get_write_buffer_size()
        queued = _unacked_in_kernel(sock)
        if queued is None:
            acked = self._written - buffered
        elif self._ssl is None:
            acked = self._written - buffered - queued
        else:
            acked = self._written if buffered == 0 and queued == 0 else self._acked
        self._acked = max(self._acked, acked)
        return self._acked

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is None:
            return
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 1.0)
        except (OSError, TimeoutError, ssl.SSLError):
            writer.transport.abort()


class _DatagramProtocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.error: Exception | None = None

    def error_received(self, exc: Exception) -> None:
        self.error = exc


class UdpTransport:
    """One RFC 5424 message per datagram, cut to ``max_datagram`` bytes when longer."""

    def __init__(self, host: str, port: int, *, max_datagram: int = DEFAULT_MAX_DATAGRAM) -> None:
        if max_datagram < 480:
            raise ValueError(f"max_datagram {max_datagram} is below RFC 5426's minimum of 480")
        self.host, self.port = host, port
        self.max_datagram = max_datagram
        self.truncated = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._protocol: _DatagramProtocol | None = None
        self._written = 0

    @property
    def target(self) -> str:
        return f"udp://{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    async def connect(self) -> None:
        await self.close()
        loop = asyncio.get_running_loop()
        self._transport, self._protocol = await loop.create_datagram_endpoint(
            _DatagramProtocol, remote_addr=(self.host, self.port)
        )
        self._written = 0

    def check(self) -> None:
        if self._transport is None or self._protocol is None:
            raise ConnectionResetError(f"not connected to the syslog collector {self.target}")
        if self._protocol.error is not None:
            error, self._protocol.error = self._protocol.error, None
            raise ConnectionRefusedError(
                f"the syslog collector {self.target} is not receiving: {error}"
            ) from error

    async def send(self, messages: Sequence[bytes]) -> list[int]:
        self.check()
        assert self._transport is not None
        ends: list[int] = []
        for message in messages:
            datagram = message
            if len(message) > self.max_datagram:
                datagram = truncate_5424(message, self.max_datagram)
                self.truncated += 1
                log.warning(
                    "syslog message of %d bytes cut to %d for UDP (max_datagram); use TCP or "
                    "TLS to keep whole records",
                    len(message),
                    len(datagram),
                )
            self._transport.sendto(datagram)
            self._written += len(message)
            ends.append(self._written)
        return ends

    def acknowledged(self) -> int:
        return self._written

    async def close(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()


_TCP_ESTABLISHED: Final = 1  # tcp_states.h


def _established(sock: object) -> bool:
    """False when the kernel knows the connection is no longer ESTABLISHED (Linux)."""
    if sys.platform != "linux" or sock is None or not hasattr(socket, "TCP_INFO"):
        return True
    getsockopt = getattr(sock, "getsockopt", None)
    if getsockopt is None:
        return True
    try:
        info = getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
    except OSError:
        return False
    return bool(info[0] == _TCP_ESTABLISHED)


def _unacked_in_kernel(sock: object) -> int | None:
    """Bytes the peer has not acknowledged yet (Linux ``SIOCOUTQ``), or None if unknown."""
    if _SIOCOUTQ is None or sock is None:
        return None
    fileno = getattr(sock, "fileno", None)
    if fileno is None:
        return None
    buf = array.array("i", [0])
    try:
        fcntl.ioctl(fileno(), _SIOCOUTQ, buf, True)
    except OSError:
        return None
    return buf[0]
