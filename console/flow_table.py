"""`FlowTable`: the flow list's DataTable, which says when the reviewer reaches a loaded edge.

It shows only the rows `FlowWindow` loaded; moving past the last (or first) loaded row,
or scrolling to the bottom with the mouse, posts `EdgeReached` so the screen loads the
next page. ``home``/``end`` mean the newest and the oldest record of the filter, not the
loaded slice, so they are the screen's to handle.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from .flows import FlowRow
from .messages import EdgeReached
from .symbols import decision_text, outcome_text

#: (key, label, width)
#: Widths fit 120 columns with the scrollbar (each cell also has one space either side).
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("time", "Time UTC", 11),
    ("tenant", "Tenant", 8),
    ("user", "User", 12),
    ("department", "Dept", 8),
    ("provider", "Provider/model", 15),
    ("decision", "Decision", 8),
    ("entities", "Entities", 10),
    ("tokens", "Tokens", 5),
    ("latency", "Latency", 6),
    ("outcome", "Outcome", 15),
)
_WIDTH = {key: width for key, _, width in COLUMNS}
#: Entity types shortened for the list (the detail screen shows them in full).
_SHORT = (("_ADDRESS", ""), ("_NUMBER", ""), ("CREDIT_CARD", "CARD"))


def _clip(value: str, width: int) -> str:
    return value if len(value) <= width else value[: width - 1] + "…"


def _ms(value: int | None) -> str:
    if value is None:
        return "-"
    return f"{value}ms" if value < 1000 else f"{value / 1000:.1f}s"


def _count(value: int | None) -> str:
    if value is None:
        return "-"
    return str(value) if value < 100_000 else f"{value / 1000:.0f}k"


def _entity(name: str) -> str:
    for long, short in _SHORT:
        name = name.replace(long, short)
    return name


def cells(row: FlowRow, today: str = "") -> list[Text | str]:
    """The cells of ``row`` in `COLUMNS` order; on ``today`` (YYYY-MM-DD) the time only."""
    if row.kind == "flow":
        where = "/".join(p for p in (row.provider, row.model) if p) or "-"
    else:
        where = f"{row.kind}: {row.event or '-'}"
    same_day = bool(today) and row.ts.startswith(today)
    when = row.ts[11:19] if same_day else f"{row.ts[5:10]} {row.ts[11:16]}"
    entities = ",".join(_entity(e) for e in row.entity_types) or "-"
    return [
        Text(when, style="bright_black"),
        _clip(row.tenant, _WIDTH["tenant"]),
        _clip(row.user, _WIDTH["user"]),
        _clip(row.department or "-", _WIDTH["department"]),
        _clip(where, _WIDTH["provider"]),
        decision_text(row.decision),
        Text(_clip(entities, _WIDTH["entities"]), style="cyan"),
        Text(_count(row.tokens), justify="right"),
        Text(_ms(row.total_ms), justify="right"),
        outcome_text(row.outcome),
    ]


class FlowTable(DataTable[Text | str]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "screen.newest", "Newest", show=False),
        Binding("end", "screen.oldest", "Oldest", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)

    def action_cursor_down(self) -> None:
        if self.row_count and self.cursor_row >= self.row_count - 1:
            self.post_message(EdgeReached("bottom"))
        super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if self.cursor_row <= 0:
            self.post_message(EdgeReached("top"))
        super().action_cursor_up()

    def action_page_down(self) -> None:
        super().action_page_down()
        if self.row_count and self.cursor_row >= self.row_count - 1:
            self.post_message(EdgeReached("bottom"))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value > old_value and new_value >= self.max_scroll_y - 1 and self.row_count:
            self.post_message(EdgeReached("bottom"))
