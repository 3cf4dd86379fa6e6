"""Typed reading of untrusted JSON documents for the adapters, and collecting text segments.

Every accessor either returns the expected type or raises ``ShapeError`` with a fixed
phrase naming the field (never its value). Absent and ``null`` are the same: the APIs
treat them alike.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from .shapes import SegmentPath, TextSegment

#: Message roles kept as they are; anything else counts as "user" (the strictest reading).
KNOWN_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})


class ShapeError(ValueError):
    """A body that is JSON but not the API's shape. ``reason`` is a fixed phrase."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def as_object(value: object, what: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ShapeError(f"{what} is not an object")
    return value


def opt_list(obj: Mapping[str, object], key: str) -> list[object] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise ShapeError(f"{key} is not a list")
    return value


def req_list(obj: Mapping[str, object], key: str) -> list[object]:
    value = opt_list(obj, key)
    if value is None:
        raise ShapeError(f"missing {key}")
    return value


def opt_str(obj: Mapping[str, object], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ShapeError(f"{key} is not a string")
    return value


def opt_object(obj: Mapping[str, object], key: str) -> dict[str, object] | None:
    value = obj.get(key)
    return None if value is None else as_object(value, key)


def model_of(doc: Mapping[str, object]) -> str | None:
    return opt_str(doc, "model")


def stream_of(doc: Mapping[str, object]) -> bool:
    return doc.get("stream") is True


def role_of(message: Mapping[str, object], key: str = "role") -> str:
    role = opt_str(message, key)
    if role == "function":
        return "tool"
    return role if role in KNOWN_ROLES else "user"


class Segments:
    """Text segments in body order."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: list[TextSegment] = []

    def add(self, path: SegmentPath, role: str, text: str) -> None:
        self._items.append(TextSegment(path, role, text))

    def add_field(self, obj: Mapping[str, object], key: str, path: SegmentPath, role: str) -> None:
        """Adds ``obj[key]`` at ``path + (key,)`` when it is a string; null is skipped."""
        text = opt_str(obj, key)
        if text is not None:
            self.add((*path, key), role, text)

    def add_strings(self, value: object, path: SegmentPath, role: str, limit: int) -> None:
        """Adds every string inside ``value`` (a decoded JSON value) in document order,
        walked without recursion; object keys are names, not text. More than ``limit``
        segments in all raise ``ShapeError``: such a body is not read."""
        stack: list[tuple[SegmentPath, object]] = [(path, value)]
        while stack:
            at, node = stack.pop()
            if isinstance(node, str):
                if len(self._items) >= limit:
                    raise ShapeError("too many strings in the body")
                self.add(at, role, node)
            elif isinstance(node, dict):
                stack.extend(((*at, k), v) for k, v in reversed(list(node.items())))
            elif isinstance(node, list):
                stack.extend(((*at, i), v) for i, v in reversed(list(enumerate(node))))

    def __len__(self) -> int:
        return len(self._items)

    def freeze(self) -> tuple[TextSegment, ...]:
        return tuple(self._items)


def content_parts(
    segments: Segments, value: object, path: SegmentPath, role: str, what: str, part: str
) -> Iterator[tuple[int, dict[str, object]]]:
    """Content that is text or a list of parts, the shape most APIs share: a string is
    read whole into ``segments``; a list yields each part (an object, else ``ShapeError``
    naming ``part``) with its index, for the caller to read; absent is no content; anything
    else is a ``ShapeError`` naming ``what``."""
    if value is None:
        return
    if isinstance(value, str):
        segments.add(path, role, value)
        return
    if not isinstance(value, list):
        raise ShapeError(f"{what} is neither a string nor a list")
    for j, raw in enumerate(value):
        yield j, as_object(raw, part)
