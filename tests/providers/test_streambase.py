from __future__ import annotations

from warden.providers.shapes import StreamEvent, Usage
from warden.providers.sse import SseEvent
from warden.providers.streambase import (
    SseStreamParser,
    UsageTotals,
    event_name,
    json_object,
    sub_object,
)


def test_usage_totals_keep_known_counts() -> None:
    totals = UsageTotals()
    assert totals.merge(None) is None
    assert totals.merge(Usage(10, None)) == Usage(10, None)
    assert totals.merge(Usage(None, 4)) == Usage(10, 4)
    assert totals.merge(Usage(None, 9)) == Usage(10, 9)
    assert totals.merge(Usage(12, None)) == Usage(12, 9)


def test_helpers() -> None:
    assert json_object('{"a": 1}') == {"a": 1}
    assert json_object("[1]") is None and json_object("{") is None
    assert sub_object({"a": {"b": 1}, "c": 1}, "a") == {"b": 1}
    assert sub_object({"c": 1}, "c") is None
    assert event_name(SseEvent("delta", "{}"), {"type": "x"}) == "delta"
    assert event_name(SseEvent("message", "{}"), {"type": "x"}) == "x"
    assert event_name(SseEvent("message", "{}"), {"type": 1}) is None
    assert event_name(SseEvent("message", "{}"), None) is None


class _Exploding(SseStreamParser):
    def _on_event(self, event: SseEvent) -> StreamEvent | None:
        if event.data == "boom":
            raise KeyError(event.data)
        return StreamEvent(event.data, None, None)


def test_a_handler_error_drops_one_event_only() -> None:
    parser = _Exploding()
    assert parser.feed(b"data: a\n\ndata: boom\n\ndata: [DONE]\n\ndata: b\n\n") == [
        StreamEvent("a", None, None),
        StreamEvent("b", None, None),
    ]
    assert not parser.broken
