"""Response: stream LLM answers through unbuffered, and read the usage they report.

Server-sent events, AWS event streams and chunked bodies of unknown length are streamed:
each chunk goes to the client as it arrives. A ``StreamTap`` sees a copy of every chunk,
decodes the content-encoding incrementally and feeds the provider's stream parser, so
token usage of streamed answers is known when the stream ends without holding it back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from mitmproxy import http

from warden.addons.answers import answer_error
from warden.addons.bodies import BodyTooLarge, Decoder, UndecodableBody, decoded
from warden.context import FlowContext, Usage
from warden.providers.parse import parse_usage, stream_parser_for
from warden.providers.streams import StreamParser

logger = logging.getLogger("warden.response")

#: The default bound on an answer once content-decoded (``proxy.limits``).
DECODED_BODY_BYTES = 64 * 1024 * 1024

STREAMING_TYPES = (
    "text/event-stream",
    "application/vnd.amazon.eventstream",
    "application/x-ndjson",
)


class _Decoder:
    """Incremental content-decoding of a streamed answer, for the parser's copy only.

    Bounded (``addons/bodies.py``): past the limit, or on a corrupt body, it stops
    decoding and the parser sees no more; the stream itself goes on to the client as sent.
    """

    def __init__(self, encoding: str, limit: int) -> None:
        self._decoder: Decoder | None
        try:
            self._decoder = Decoder(encoding, limit)
        except UndecodableBody:
            self._decoder = None

    def __call__(self, chunk: bytes) -> Iterator[bytes]:
        if self._decoder is None:
            return
        try:
            yield from self._decoder.pieces(chunk)
        except (BodyTooLarge, UndecodableBody) as exc:
            logger.warning("stopped reading a streamed answer's usage: %s", exc)
            self._decoder = None


class StreamTap:
    """A mitmproxy ``stream`` callable that passes chunks through and reads usage on the side."""

    def __init__(
        self,
        flow: http.HTTPFlow,
        parser: StreamParser,
        encoding: str,
        limit: int = DECODED_BODY_BYTES,
    ) -> None:
        self._flow = flow
        self._parser = parser
        self._decode = _Decoder(encoding, limit)
        self._input: int | None = None
        self._output: int | None = None

    def _take(self, events: list) -> None:  # type: ignore[type-arg]
        for event in events:
            if event.usage is not None:
                self._input = event.usage.input_tokens or self._input
                self._output = event.usage.output_tokens or self._output

    def __call__(self, chunk: bytes) -> bytes:
        if chunk:
            for piece in self._decode(chunk):
                self._take(self._parser.feed(piece))
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
    def __init__(self, decoded_body_bytes: int = DECODED_BODY_BYTES) -> None:
        self.decoded_body_bytes = decoded_body_bytes

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
        flow.response.stream = StreamTap(flow, parser, encoding, self.decoded_body_bytes)

    def response(self, flow: http.HTTPFlow) -> None:
        if flow.response is None or flow.response.stream:
            return
        ctx = FlowContext.of(flow)
        if ctx.destination is None or ctx.destination.api is None or ctx.outcome:
            return
        raw = flow.response.raw_content or b""
        try:
            body = decoded(
                raw, flow.response.headers.get("content-encoding"), self.decoded_body_bytes
            )
        except BodyTooLarge as exc:
            # Withheld: the client's SDK would inflate it too, and the redactor that runs
            # after this stage decodes the answer to restore pseudonyms.
            logger.warning("withheld an answer from %s: %s", flow.request.pretty_host, exc)
            answer_error(
                flow,
                502,
                f"Egress Warden withheld the answer of {ctx.destination.host}: it is larger "
                f"than {exc.limit} bytes once decoded (proxy.limits.decoded_body_bytes).",
                "warden_answer_too_large",
                "upstream_error",
            )
            return
        except UndecodableBody:
            body = raw  # as before: the usage reader finds nothing in it
        usage = parse_usage(ctx.destination.api, body)
        if usage is not None:
            ctx.replace(usage=Usage(usage.input_tokens, usage.output_tokens, usage.estimated)).save(
                flow
            )
