"""Response: stream LLM answers through unbuffered, and read the usage they report.

Server-sent events, AWS event streams and chunked bodies of unknown length are streamed:
each chunk goes to the client as it arrives. A ``StreamTap`` sees a copy of every chunk,
decodes the content-encoding incrementally and feeds the provider's stream parser, so
token usage of streamed answers is known when the stream ends without holding it back.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable

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
        if parser is None:
            flow.response.stream = True
            return
        encoding = flow.response.headers.get("content-encoding", "")
        flow.response.stream = StreamTap(flow, parser, encoding)

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
