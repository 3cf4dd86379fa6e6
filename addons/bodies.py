"""Bodies: request and answer bodies content-decoded within a bound on the DECODED size.

mitmproxy's ``get_content`` decodes a whole body at once, so 1 MB of gzip became 1 GiB in
memory before any size check saw it (issue 19, finding 5). Here decompression is
incremental: zlib's ``max_length``, brotli's ``output_buffer_limit`` and a zstd writer
that stops the decoder hand out at most ``STEP`` bytes at a time, and decoding stops as
soon as the output passes the limit. A bomb of any ratio costs at most the limit plus one
step, never more.

Windows are bounded too: zlib's is 32 KiB, brotli's 16 MiB; a zstd frame may ask for up
to 8 MiB, the most RFC 9659 lets an HTTP zstd coding use (the library's default lets a
frame ask for 128 MiB).

One content coding per body (the only form SDKs and browsers send); a list of codings
or an unknown one is ``UndecodableBody``, as is a corrupt body.
"""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Callable, Iterator
from typing import IO, Final, cast

import brotli
import zstandard

#: The most a decoder hands out at once (and the most it may run past the limit).
STEP: Final = 64 * 1024
#: RFC 9659 section 2: a zstd content coding uses a window of at most 8 MiB.
ZSTD_MAX_WINDOW: Final = 8 * 1024 * 1024

_IDENTITY: Final = frozenset({"", "identity", "none"})


class BodyTooLarge(Exception):
    """The body decodes to more than the limit; decoding stopped there."""

    def __init__(self, limit: int, encoding: str) -> None:
        self.limit = limit
        self.encoding = encoding
        coded = f" once {encoding}-decoded" if encoding else ""
        super().__init__(f"the body is larger than {limit} bytes{coded}")


class UndecodableBody(Exception):
    """The body's content coding is unknown, a list, or the body is corrupt."""


def decoded(raw: bytes, encoding: str | None, limit: int) -> bytes:
    """``raw`` decoded per its Content-Encoding, at most ``limit`` bytes of it.

    Raises ``BodyTooLarge`` (also for an identity body over the limit) or
    ``UndecodableBody``. An identity body is returned as it is, without a copy.
    """
    coding = (encoding or "").strip().lower()
    if coding in _IDENTITY:
        if len(raw) > limit:
            raise BodyTooLarge(limit, "")
        return raw
    decoder = Decoder(coding, limit)
    return b"".join([*decoder.pieces(raw), *decoder.finish()])


class Decoder:
    """Incremental decoding of one body; ``pieces`` raises ``BodyTooLarge`` as soon as the
    output passes ``limit`` in total."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.encoding = encoding.strip().lower()
        self.limit = limit
        self.total = 0
        self._step: Callable[[bytes], Iterator[bytes]]
        self._zlib: zlib._Decompress | None = None
        self._pending = b""  # deflate: the first bytes, until the wrapper is known
        match self.encoding:
            case "" | "identity" | "none":
                self._step = self._identity
            case "gzip" | "x-gzip":
                self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._step = self._inflate
            case "deflate":
                self._step = self._deflate
            case "br":
                self._brotli = brotli.Decompressor()
                self._step = self._unbrotli
            case "zstd":
                self._zstd_out: deque[bytes] = deque()
                sink = _Sink(self._zstd_out, limit)
                dctx = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
                self._zstd = dctx.stream_writer(
                    cast(IO[bytes], sink), write_size=STEP, write_return_read=True
                )
                self._step = self._unzstd
            case _:
                raise UndecodableBody(f"unknown or multiple content codings {encoding[:40]!r}")

    def pieces(self, chunk: bytes) -> Iterator[bytes]:
        """The decoded output of ``chunk``, in pieces of at most ``STEP`` bytes."""
        try:
            for piece in self._step(chunk):
                self.total += len(piece)
                if self.total > self.limit:
                    raise BodyTooLarge(self.limit, self.encoding)
                yield piece
        except (zlib.error, brotli.error, zstandard.ZstdError) as exc:
            raise UndecodableBody(f"corrupt {self.encoding} body: {exc}") from None

    def feed(self, chunk: bytes) -> bytes:
        return b"".join(self.pieces(chunk))

    def finish(self) -> Iterator[bytes]:
        """What is left once the body has ended (deflate's last byte); ``UndecodableBody``
        when the body stopped before its coding's end (truncated or corrupt)."""
        if self._pending:
            pending, self._pending = self._pending, b""
            self._zlib = zlib.decompressobj(_deflate_wbits(pending, final=True))
            self._step = self._inflate
            yield from self.pieces(pending)
        if self._zlib is not None and not self._zlib.eof:
            raise UndecodableBody(f"the {self.encoding} body ends before its data does")
        if self.encoding == "br" and not self._brotli.is_finished():
            raise UndecodableBody("the br body ends before its data does")

    # -- one step per coding ---------------------------------------------------------

    @staticmethod
    def _identity(chunk: bytes) -> Iterator[bytes]:
        for start in range(0, len(chunk), STEP):
            yield chunk[start : start + STEP]

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        # Input goes in at most STEP at a time: zlib copies what it has not consumed.
        view = memoryview(data)
        for start in range(0, len(view), STEP):
            part: bytes | memoryview = view[start : start + STEP]
            while part:
                d = self._zlib
                assert d is not None
                if d.eof:
                    if self.encoding == "deflate":
                        return  # bytes after the end of a deflate stream are ignored
                    # gzip: another member follows (RFC 1952 2.2)
                    d = self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
                out = d.decompress(part, STEP)
                part = d.unused_data if d.eof else d.unconsumed_tail
                if out:
                    yield out

    def _deflate(self, chunk: bytes) -> Iterator[bytes]:
        # "deflate" is meant to be zlib-wrapped (RFC 9110 8.4.1.2) but some servers send
        # raw deflate, as browsers and mitmproxy accept: decided on the first two bytes.
        self._pending += chunk
        if len(self._pending) < 2:
            return
        pending, self._pending = self._pending, b""
        self._zlib = zlib.decompressobj(_deflate_wbits(pending, final=False))
        self._step = self._inflate
        yield from self._inflate(pending)

    def _unbrotli(self, data: bytes) -> Iterator[bytes]:
        d = self._brotli
        out = d.process(data, output_buffer_limit=STEP)
        if out:
            yield out
        while not d.can_accept_more_data():
            out = d.process(b"", output_buffer_limit=STEP)
            if not out:
                return  # nothing more without more input
            yield out

    def _unzstd(self, data: bytes) -> Iterator[bytes]:
        # One write can decode to any size: the sink stops it (BodyTooLarge from inside
        # the decoder) as soon as the output passes the limit.
        self._zstd.write(data)
        out = self._zstd_out
        while out:
            yield out.popleft()


class _Sink:
    """Where the zstd writer puts its output, at most ``STEP`` per write; counts it."""

    def __init__(self, out: deque[bytes], limit: int) -> None:
        self._out = out
        self._limit = limit
        self._total = 0

    def write(self, data: bytes) -> int:
        self._total += len(data)
        if self._total > self._limit:
            raise BodyTooLarge(self._limit, "zstd")
        self._out.append(bytes(data))
        return len(data)


def _deflate_wbits(start: bytes, *, final: bool) -> int:
    if len(start) >= 2 and start[0] & 0x0F == 8 and (start[0] << 8 | start[1]) % 31 == 0:
        return zlib.MAX_WBITS  # zlib wrapper (RFC 1950)
    return -zlib.MAX_WBITS
