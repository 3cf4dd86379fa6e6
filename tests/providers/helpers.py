"""Shared test helpers: parse a sample, compact segment tables."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol

from warden.providers.catalog import Catalog
from warden.providers.parse import parse_request
from warden.providers.shapes import ParsedRequest, SegmentPath, StreamEvent
from warden.providers.streams import StreamParser

from .payloads import Sample

CATALOG = Catalog.default()


class StreamParserLike(Protocol):
    def feed(self, chunk: bytes) -> list[StreamEvent]: ...
    def close(self) -> list[StreamEvent]: ...


def is_broken(parser: StreamParser) -> bool:
    """``parser.broken``, read through a call so that type checkers do not narrow it."""
    return parser.broken


def parse(
    service_id: str,
    path: str,
    body: bytes,
    headers: Mapping[str, str] | None = None,
    method: str = "POST",
) -> ParsedRequest:
    return parse_request(CATALOG.service(service_id), method, path, headers or {}, body)


def parse_sample(sample: Sample) -> ParsedRequest:
    return parse(sample.service_id, sample.path, sample.body, dict(sample.headers), sample.method)


def table(parsed: ParsedRequest) -> list[tuple[SegmentPath, str, str]]:
    return [(s.path, s.role, s.text) for s in parsed.segments]


def feed_all(parser: StreamParserLike, chunks: Iterable[bytes]) -> list[StreamEvent]:
    events: list[StreamEvent] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    return events + parser.close()


def splits(data: bytes) -> Iterator[list[bytes]]:
    """The whole stream in one chunk, cut at every byte boundary, and byte by byte."""
    for i in range(len(data) + 1):
        yield [data[:i], data[i:]]
    yield [data[i : i + 1] for i in range(len(data))]
    yield [data[i : i + 7] for i in range(0, len(data), 7)]
