"""Response: stream LLM answers through unbuffered, and read the usage they report.

Server-sent events, AWS event streams and chunked bodies of unknown length are streamed:
each chunk goes to the client as it arrives. A ``StreamTap`` sees a copy of every chunk,
decodes the content-encoding incrementally and feeds the provider's stream parser, so
token usage of streamed answers is known when the stream ends without holding it back.
Decoding, streamed or whole, stops at ``proxy.limits.decoded_body_bytes``
(``addons/bodies.py``): a plain answer past it is withheld (502), a stream's usage tap
stops reading.

A streamed flow has one mitmproxy stream callable, ``AnswerStream``. Other stages add
their rewriting steps to it (``add_stream_stage``: the pseudonym restorer), and it hands
mitmproxy only chunks that are not empty. mitmproxy 12 sends every chunk a stream
callable returns as its own HTTP/1.1 chunk, and an empty one is ``0\r\n\r\n``, the end
of the body: a step that holds a partial event back (and so has nothing to pass on yet)
must yield no chunk at all, or the client sees the answer end there and reads the rest
as the next response.

Bounded: every parser and stage holds at most ``streams.max_event_bytes`` of one line,
event or message. Beyond it the answer is cut (fail closed): the client gets an error
event in the stream's own framing (when the body is not compressed; a compressed body
just ends), the rest of the upstream's body is dropped as it arrives, and the flow's
record says ``upstream_error``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator
from typing import Protocol

from mitmproxy import http

from warden.addons.answers import answer_error
from warden.addons.bodies import BodyTooLarge, Decoder, UndecodableBody, decoded
from warden.addons.flowcontext import FlowContext, Usage
from warden.policy.usage import estimate_tokens
from warden.providers.conversations import ResponseThreads, answer_id
from warden.providers.errors import stream_error_event
from warden.providers.parse import parse_usage, stream_parser_for
from warden.providers.sse import DEFAULT_MAX_EVENT_BYTES, StreamTooLarge
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
        threads: ResponseThreads | None = None,
    ) -> None:
        self._flow = flow
        self._parser = parser
        self._threads = threads
        self._answer_id: str | None = None
        self._decode = _Decoder(encoding, limit)
        self._input: int | None = None
        self._output: int | None = None
        #: Output tokens estimated from the streamed text, for a provider (or a web app)
        #: that reports none.
        self._estimated_output = 0

    @property
    def too_large(self) -> bool:
        """The parser met a line, event or message over its limit (see the module doc)."""
        return self._parser.too_large

    def _take(self, events: list) -> None:  # type: ignore[type-arg]
        for event in events:
            if event.text:
                # Per delta: a streamed delta is mostly one token, so ceil(chars / 4) of each
                # comes closer than the total's; no text is kept, only the count.
                self._estimated_output += estimate_tokens((event.text,))
            if event.response_id is not None and self._answer_id is None:
                self._answer_id = event.response_id
            if event.usage is not None:
                self._input = event.usage.input_tokens or self._input
                self._output = event.usage.output_tokens or self._output

    def __call__(self, chunk: bytes) -> bytes:
        if chunk:
            for piece in self._decode(chunk):
                self._take(self._parser.feed(piece))
        else:  # mitmproxy signals the end of the body with an empty chunk
            self._take(self._parser.close())
            if self._threads is not None:
                answered(self._flow, self._threads, self._answer_id)
            if self._output is None and self._estimated_output:
                # No output count from the provider: the streamed text's, marked estimated
                # (the quota counter estimates a missing input count the same way).
                usage = Usage(self._input, self._estimated_output, True)
                FlowContext.of(self._flow).replace(usage=usage).save(self._flow)
            elif self._input is not None or self._output is not None:
                ctx = FlowContext.of(self._flow)
                ctx.replace(usage=Usage(self._input, self._output, False)).save(self._flow)
        return chunk


def answered(flow: http.HTTPFlow, threads: ResponseThreads, response_id: str | None) -> None:
    """An OpenAI Responses answer ``response_id``: later turns that name it belong to this
    flow's conversation; a first turn's conversation is its own answer's id."""
    if response_id is None:
        return
    ctx = FlowContext.of(flow)
    dest = ctx.destination
    if dest is None:
        return
    thread = threads.answered(response_id, dest.conversation)
    if dest.conversation is None:
        ctx.replace(destination=dataclasses.replace(dest, conversation=thread)).save(flow)


class StreamStage(Protocol):
    """A rewriting step of a streamed answer: bytes in, the bytes to pass on now out."""

    def feed(self, chunk: bytes) -> bytes: ...

    def close(self) -> bytes:
        """What is left when the upstream's body ends."""
        ...


class AnswerStream:
    """The one mitmproxy stream callable of a streamed flow: its stages in order, then the
    usage tap; never an empty chunk before the end, cut when a limit is met (see the
    module doc)."""

    def __init__(
        self,
        flow: http.HTTPFlow,
        tap: StreamTap | None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        cut_event: bytes | None = None,
    ) -> None:
        self.max_event_bytes = max_event_bytes
        self._flow = flow
        self._stages: list[StreamStage] = []
        self._tap = tap
        self._cut_event = cut_event
        self._cut = False
        self._readers: list[Callable[[bytes], None]] = []

    def add(self, stage: StreamStage) -> None:
        self._stages.append(stage)

    def add_reader(self, reader: Callable[[bytes], None]) -> None:
        """``reader`` sees every chunk the client is sent, as sent (after every stage)."""
        self._readers.append(reader)

    def __call__(self, chunk: bytes) -> list[bytes]:
        if self._cut:
            return []  # what the upstream sends after the cut is dropped as it comes
        try:
            out = self._pass(chunk)
        except StreamTooLarge as exc:
            out = self._cut_here(str(exc))
        for reader in self._readers:
            for piece in out:
                reader(piece)
        return out

    def _pass(self, chunk: bytes) -> list[bytes]:
        if chunk:
            out = chunk
            for stage in self._stages:
                out = stage.feed(out)
                if not out:
                    return []
            self._read(out)
            return [out]
        out = b""  # the end of the body: every stage lets go of what it holds
        for stage in self._stages:
            out = (stage.feed(out) if out else b"") + stage.close()
        if out:
            self._read(out)
        if self._tap is not None:
            self._tap(b"")
        return [out] if out else []

    def _read(self, out: bytes) -> None:
        if self._tap is not None:
            self._tap(out)
            if self._tap.too_large:
                raise StreamTooLarge(self.max_event_bytes)

    def _cut_here(self, reason: str) -> list[bytes]:
        self._cut = True
        self._stages = []
        logger.warning("cut a streamed answer from %s: %s", self._flow.request.pretty_host, reason)
        FlowContext.of(self._flow).replace(outcome="upstream_error").save(self._flow)
        return [self._cut_event] if self._cut_event else []


def add_stream_reader(flow: http.HTTPFlow, reader: Callable[[bytes], None]) -> bool:
    """``reader`` sees the flow's streamed answer as the client gets it; ``False`` when the
    answer is not streamed through an ``AnswerStream`` (then nothing was added)."""
    stream = flow.response.stream if flow.response is not None else None
    if not isinstance(stream, AnswerStream):
        return False
    stream.add_reader(reader)
    return True


def add_stream_stage(flow: http.HTTPFlow, make: Callable[[int], StreamStage]) -> bool:
    """Adds the stage ``make(max_event_bytes)`` to the flow's streamed answer; ``False``
    when the answer is not streamed through an ``AnswerStream`` (then nothing was added)."""
    stream = flow.response.stream if flow.response is not None else None
    if not isinstance(stream, AnswerStream):
        return False
    stream.add(make(stream.max_event_bytes))
    return True


_CUT_MESSAGE = (
    "Egress Warden cut this answer: the AI service sent a single stream event larger "
    "than {limit} bytes, more than the gateway holds (streams.max_event_bytes). Try "
    "again; if such answers are expected, ask your administrator to raise that limit."
)


def wants_streaming(response: http.Response, stream_requested: bool) -> bool:
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in STREAMING_TYPES:
        return True
    # A body of unknown length on a request that asked for a stream (Gemini's default
    # streamed JSON array) is streamed too.
    return stream_requested and "content-length" not in response.headers


class ResponseReader:
    def __init__(
        self,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        decoded_body_bytes: int = DECODED_BODY_BYTES,
        threads: ResponseThreads | None = None,
    ) -> None:
        self.max_event_bytes = max_event_bytes
        self.decoded_body_bytes = decoded_body_bytes
        #: OpenAI Responses chains, shared with scope, which maps later turns through it.
        self.threads = threads if threads is not None else ResponseThreads()

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response is None or flow.error:
            return
        ctx = FlowContext.of(flow)
        dest = ctx.destination
        if dest is None or not wants_streaming(flow.response, dest.stream):
            return
        limit = self.max_event_bytes
        parser = stream_parser_for(dest.api, limit) if dest.api else None
        encoding = flow.response.headers.get("content-encoding", "")
        tap = (
            StreamTap(flow, parser, encoding, self.decoded_body_bytes, self.threads)
            if parser is not None
            else None
        )
        cut = None
        if encoding.strip().lower() in ("", "identity"):  # else an event cannot be added
            message = _CUT_MESSAGE.format(limit=limit)
            cut = stream_error_event(dest.provider, dest.api or "", message, "warden_stream_cut")
        flow.response.stream = AnswerStream(flow, tap, limit, cut)

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
        api = ctx.destination.api
        answered(flow, self.threads, answer_id(api, body))
        ctx = FlowContext.of(flow)
        usage = parse_usage(api, body)
        if usage is not None:
            ctx.replace(usage=Usage(usage.input_tokens, usage.output_tokens, usage.estimated)).save(
                flow
            )
