"""Splitting an HTTP request target into path segments, and matching them against routes.

Each segment is percent-decoded on its own, so an encoded ``/`` inside a Bedrock model ARN
stays inside its segment. Empty and ``.`` segments are dropped and ``..`` goes up one, as
servers normalize them; literal route segments compare case-insensitively. Recognizing a
disguised spelling of an inference path matters more than being exact about it: an
unrecognized POST is reported as "not an inference endpoint" and its text is not seen.
"""

from __future__ import annotations

from urllib.parse import unquote

#: A route segment that captures whatever segment stands there.
ANY = "{}"


def split_target(target: str) -> tuple[str, ...]:
    """Path segments of ``target`` (path plus optional query), percent-decoded."""
    path = target.split("?", 1)[0].split("#", 1)[0]
    segments: list[str] = []
    for raw in path.split("/"):
        segment = unquote(raw, errors="replace")
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    return tuple(segments)


def match(segments: tuple[str, ...], route: tuple[str, ...]) -> tuple[str, ...] | None:
    """The segments captured by ``ANY`` when ``segments`` fits ``route``, else ``None``."""
    if len(segments) != len(route):
        return None
    captured: list[str] = []
    for segment, expected in zip(segments, route, strict=True):
        if expected == ANY:
            captured.append(segment)
        elif segment.lower() != expected:
            return None
    return tuple(captured)
