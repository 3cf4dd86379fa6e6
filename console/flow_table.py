"""`FlowTable`: the flow list, a light table that draws only the rows on screen.

It shows only the rows `FlowWindow` loaded; moving past the last (or first) loaded row,
or scrolling to the bottom with the mouse, posts `EdgeReached` so the screen loads the
next page. ``home``/``end`` mean the newest and the oldest record of the filter, not the
loaded slice, so they are the screen's to handle.

Why not Textual's ``DataTable``: on every new page it measured each cell of the 200
loaded rows (~25 ms) and drew each visible cell through Rich's padding and line
splitting (~40 ms), most of the ~100 ms a filter or sort cost the UI thread
(`bench/console.py`). The columns here have fixed widths, every row is one line, and a
row's cells become segments once, when it is first drawn; a new page costs the few rows
that are visible. It keeps the parts of ``DataTable`` the screen uses: a header that sorts
when clicked (`HeaderChosen`), a row cursor (`RowChosen` on Enter or a click), zebra
stripes, and the cursor's look focused and blurred.
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from .flows import FlowRow
from .messages import EdgeReached, HeaderChosen, RowChosen
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
#: Where each column starts and ends on a line (one space of padding either side).
_SPANS: tuple[tuple[str, int, int], ...] = tuple(
    (key, sum(w + 2 for _, _, w in COLUMNS[:i]), sum(w + 2 for _, _, w in COLUMNS[: i + 1]))
    for i, (key, _, _) in enumerate(COLUMNS)
)
LINE_WIDTH = _SPANS[-1][2]
#: Entity types shortened for the list (the detail screen shows them in full).
_SHORT = (("_ADDRESS", ""), ("_NUMBER", ""), ("CREDIT_CARD", "CARD"))

type Cell = Text | str


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


def cells(row: FlowRow, today: str = "") -> list[Cell]:
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


def _cell_segments(cell: Cell, width: int) -> list[Segment]:
    """One cell as segments exactly ``width + 2`` cells wide (a space either side)."""
    text = Text(cell) if isinstance(cell, str) else cell
    plain = text.plain
    if len(plain) > width:
        plain = plain[:width]  # cropped, as DataTable did: cells() clips with "…" where it matters
    pad = " " * max(0, width - len(plain))
    body = pad + plain if text.justify == "right" else plain + pad
    style = text.style if isinstance(text.style, Style) else Style.parse(text.style or "")
    return [Segment(" "), Segment(body, style or None), Segment(" ")]


def _line(row: list[Cell]) -> list[Segment]:
    widths = (w for _, _, w in COLUMNS)
    return [s for cell, w in zip(row, widths, strict=True) for s in _cell_segments(cell, w)]


class FlowTable(ScrollView, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Select", show=False),
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "screen.newest", "Newest", show=False),
        Binding("end", "screen.oldest", "Oldest", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "flowtable--header",
        "flowtable--cursor",
        "flowtable--even-row",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: list[list[Cell]] = []
        #: Each row's segments, made when it is first drawn.
        self._lines: dict[int, list[Segment]] = {}
        self._cursor = 0

    # -- what the screen uses (the parts of DataTable's surface it had) ------------------

    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def cursor_row(self) -> int:
        return self._cursor

    def clear(self) -> None:
        self._rows = []
        self._lines.clear()
        self._cursor = 0
        self._resized()

    def add_rows(self, rows: list[list[Cell]]) -> None:
        self._rows += rows
        self._resized()

    def move_cursor(self, *, row: int, animate: bool = False) -> None:
        self._cursor = max(0, min(row, len(self._rows) - 1))
        self._show_cursor(animate)
        self.refresh()

    # -- drawing -------------------------------------------------------------------------

    def _resized(self) -> None:
        self.virtual_size = Size(LINE_WIDTH, len(self._rows) + 1)
        self.refresh()

    @property
    def _page_rows(self) -> int:
        """Rows visible below the header."""
        return max(1, self.scrollable_content_region.height - 1)

    def _show_cursor(self, animate: bool) -> None:
        top = round(self.scroll_offset.y)
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=animate, immediate=True)
        elif self._cursor >= top + self._page_rows:
            self.scroll_to(y=self._cursor - self._page_rows + 1, animate=animate, immediate=True)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            header = self.get_component_rich_style("flowtable--header")
            segments = [s for _, label, w in COLUMNS for s in _cell_segments(label, w)]
            return Strip(segments).adjust_cell_length(width).apply_style(base + header)
        index = round(self.scroll_offset.y) + y - 1
        if index >= len(self._rows):
            return Strip.blank(width, base)
        cached = self._lines.get(index)
        segments = cached if cached is not None else _line(self._rows[index])
        self._lines[index] = segments
        style = base
        if index % 2 == 0:
            style += self.get_component_rich_style("flowtable--even-row")
        strip = Strip(segments).adjust_cell_length(width).apply_style(style)
        if index == self._cursor:
            cursor = self.get_component_rich_style("flowtable--cursor")
            strip = Strip(Segment.apply_style(strip, post_style=cursor), strip.cell_length)
        return strip

    # -- moving ----------------------------------------------------------------------------

    def action_select_cursor(self) -> None:
        if self._rows:
            self.post_message(RowChosen(self._cursor))

    def action_cursor_down(self) -> None:
        if self._rows and self._cursor >= len(self._rows) - 1:
            self.post_message(EdgeReached("bottom"))
        self.move_cursor(row=self._cursor + 1)

    def action_cursor_up(self) -> None:
        if self._cursor <= 0:
            self.post_message(EdgeReached("top"))
        self.move_cursor(row=self._cursor - 1)

    def action_page_down(self) -> None:
        self.move_cursor(row=self._cursor + self._page_rows)
        if self._rows and self._cursor >= len(self._rows) - 1:
            self.post_message(EdgeReached("bottom"))

    def action_page_up(self) -> None:
        self.move_cursor(row=self._cursor - self._page_rows)

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            x = offset.x + round(self.scroll_offset.x)
            key = next((key for key, start, end in _SPANS if start <= x < end), None)
            if key is not None:
                self.post_message(HeaderChosen(key))
            return
        index = round(self.scroll_offset.y) + offset.y - 1
        if 0 <= index < len(self._rows):
            self.move_cursor(row=index)
            self.post_message(RowChosen(index))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value > old_value and new_value >= self.max_scroll_y - 1 and self._rows:
            self.post_message(EdgeReached("bottom"))
