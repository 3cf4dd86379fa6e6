"""Response: stream LLM answers through unbuffered, and read the usage they report.

Server-sent events, AWS event streams and chunked bodies of unknown length are streamed:
each chunk goes to the client as it arrives. A ``StreamTap`` sees a copy of every chunk,
decodes the content-encoding incrementally and feeds the provider's stream parser, so
token usage of streamed answers is known when the stream ends without holding it back.

A streamed flow has one mitmproxy stream callable, ``AnswerStream``. Other stages add
their rewriting steps to it (``add_stream_stage``: the pseudonym restorer), and it hands
mitmproxy only chunks that are not empty. mitmproxy 12 sends every chunk a stream
callable returns as its own HTTP/1.1 chunk, and an empty one is ``0\r\n\r\n``, the end
of the body: a step that holds a partial event back (and so has nothing to pass on yet)
must yield no chunk at all, or the client sees the answer end there and reads the rest
as the next response.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from typing import Protocol

import brotli
import zstandard
from mitmproxy import http

from warden.context import FlowContext, Usage
from warden.providers.parse import parse_usage, stream_parser_for
from warden.providers.streams import StreamParser

logger = logging.getLogger("warden.response")

STREAMING_TYPES = (
    "text/event-stream",
    "application/vnd.amazon.eventstream",
    "application/x-ndjson",
)


class _Decoder:
    """Incremental content-decoding of a response body, for the parser's copy only."""

    def __init__(self, encoding: str) -> None:
        self._fn: Callable[[bytes], bytes] | None
        match encoding.strip().lower():
            case "" | "identity":
                self._fn = lambda b: b
            case "gzip" | "x-gzip":
                self._fn = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress
            case "deflate":
                self._fn = zlib.decompressobj().decompress
            case "br":
                self._fn = brotli.Decompressor().process
            case "zstd":
                self._fn = zstandard.ZstdDecompressor().decompressobj().decompress
            case _:
                self._fn = None

    def __call__(self, chunk: bytes) -> bytes:
        if self._fn is None:
            return b""
        try:
            return self._fn(chunk)
        except Exception:  # a corrupt body is the client's to notice; we stop reading it
            logger.debug("stopped decoding a streamed body after a decoding error")
            self._fn = None
            return b""


class StreamTap:
    """A mitmproxy ``stream`` callable that passes chunks through and reads usage on the side."""

    def __init__(self, flow: http.HTTPFlow, parser: StreamParser, encoding: str) -> None:
        self._flow = flow
        self._parser = parser
        self._decode = _Decoder(encoding)
        self._input: int | None = None
        self._output: int | None = None

    def _take(self, events: list) -> None:  # type: ignore[type-arg]
        for event in events:
            if event.usage is not None:
                self._input = event.usage.input_tokens or self._input
                self._output = event.usage.output_tokens or self._output

    def __call__(self, chunk: bytes) -> bytes:
        if chunk:
            self._take(self._parser.feed(self._decode(chunk)))
        else:  # mitmproxy signals the end of the body with an empty chunk
            self._take(self._parser.close())
            if self._input is not None or self._output is not None:
                ctx = FlowContext.of(self._flow)
                ctx.replace(usage=Usage(self._input, self._output, False)).save(self._flow)
        return chunk


class StreamStage(Protocol):
    """A rewriting step of a streamed answer: bytes in, the bytes to pass on now out."""

    def feed(self, chunk: bytes) -> bytes: ...

    def close(self) -> bytes:
        """What is left when the upstream's body ends."""
        ...


class AnswerStream:
    """The one mitmproxy stream callable of a streamed flow: its stages in order, then the
    usage tap; never an empty chunk before the end (see the module doc)."""

    def __init__(self, tap: StreamTap | None) -> None:
        self._stages: list[StreamStage] = []
        self._tap = tap

    def add(self, stage: StreamStage) -> None:
        self._stages.append(stage)

    def __call__(self, chunk: bytes) -> list[bytes]:
        if chunk:
            out = chunk
            for stage in self._stages:
                out = stage.feed(out)
                if not out:
                    return []
            if self._tap is not None:
                self._tap(out)
            return [out]
        out = b""  # the end of the body: every stage lets go of what it holds
        for stage in self._stages:
            out = (stage.feed(out) if out else b"") + stage.close()
        if self._tap is not None:
            if out:
                self._tap(out)
            self._tap(b"")
        return [out] if out else []


def add_stream_stage(flow: http.HTTPFlow, stage: StreamStage) -> bool:
    """Adds ``stage`` to the flow's streamed answer; ``False`` when the answer is not
    streamed through an ``AnswerStream`` (then nothing was added)."""
    stream = flow.response.stream if flow.response is not None else None
    if not isinstance(stream, AnswerStream):
        return False
    stream.add(stage)
    return True


def wants_streaming(response: http.Response, stream_requested: bool) -> bool:
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in STREAMING_TYPES:
        return True
    # A body of unknown length on a request that asked for a stream (Gemini's default
    # streamed JSON array) is streamed too.
    return stream_requested and "content-length" not in response.headers


class ResponseReader:
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response is None or flow.error:
            return
        ctx = FlowContext.of(flow)
        dest = ctx.destination
        if dest is None or not wants_streaming(flow.response, dest.stream):
            return
        parser = stream_parser_for(dest.api) if dest.api else None
        encoding = flow.response.headers.get("content-encoding", "")
        tap = StreamTap(flow, parser, encoding) if parser is not None else None
        flow.response.stream = AnswerStream(tap)

    def response(self, flow: http.HTTPFlow) -> None:
        if flow.response is None or flow.response.stream:
            return
        ctx = FlowContext.of(flow)
        if ctx.destination is None or ctx.destination.api is None or ctx.outcome:
            return
        body = flow.response.get_content(strict=False) or b""
        usage = parse_usage(ctx.destination.api, body)
        if usage is not None:
            ctx.replace(usage=Usage(usage.input_tokens, usage.output_tokens, usage.estimated)).save(
                flow
            )
