"""`FlowsScreen`: the live flow list with its filter bar, search line, sorting and export.

The table shows a `FlowWindow` (a bounded slice loaded page by page); new records are
polled every ``poll_interval`` seconds and go on top while the newest-first order is
shown from the top, otherwise the bar counts them. Body-scanning filters (free text,
entity type) continue their scan in short steps between frames until a page is found.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import ClassVar, Final

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Label
from textual.worker import get_current_worker

from .context import ConsoleContext
from .conversation_screen import ConversationScreen
from .detail_screen import DetailScreen
from .export_screen import ExportScreen
from .exporting import ExportError, export_view
from .filter_bar import FilterBar
from .filter_screen import FilterScreen
from .flow_table import COLUMNS, FlowTable, cells
from .flows import (
    SORT_KEYS,
    FilterError,
    FlowFilter,
    FlowQuery,
    FlowRow,
    FlowWindow,
    Sort,
)
from .messages import EdgeReached, FilterApplied, HeaderChosen, RowChosen

#: Counting stops here ("10,000+ matches"): an exact count of a million rows is not worth
#: the CPU it takes from the screen.
COUNT_CAP: Final = 10_000


class FlowsScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_detail", "Detail", show=False),
        Binding("f", "filter_form", "Filter"),
        Binding("slash", "search", "Search"),
        Binding("u", "filter_row('user')", "This user"),
        Binding("t", "filter_row('tenant')", "This tenant", show=False),
        Binding("o", "filter_row('outcome')", "This outcome", show=False),
        Binding("c", "conversation", "Conversation"),
        Binding("x", "clear_filter", "Clear"),
        Binding("s", "next_sort", "Sort"),
        Binding("r", "reverse_sort", "Reverse", show=False),
        Binding("g", "newest", "Newest", show=False),
        Binding("G", "oldest", "Oldest", show=False),
        Binding("l", "toggle_live", "Live"),
        Binding("e", "export", "Export"),
        Binding("ctrl+r", "refresh", "Refresh", show=False),
    ]

    def __init__(self, ctx: ConsoleContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.query_ = FlowQuery(ctx.audit(), ctx.scope)
        self.window = FlowWindow(self.query_)
        self.live = True
        self.new_below = 0
        self.matches = ""
        self.note = ""
        self._generation = 0
        self._count_conn: sqlite3.Connection | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield FilterBar(id="filter-bar")
        with Horizontal(id="search-row"):
            yield Label("search", id="search-label")
            yield Input(placeholder="free text over metadata, Enter to apply", id="search")
        yield FlowTable(id="flows")
        yield Footer()

    @property
    def table(self) -> FlowTable:
        return self.query_one(FlowTable)

    def on_mount(self) -> None:
        self.title = "Flows"
        self.sub_title = self.ctx.scope.describe()
        self.reload()
        self.set_interval(self.ctx.poll_interval, self.poll)
        self.table.focus()

    # -- loading ---------------------------------------------------------------------

    def reload(self, flt: FlowFilter | None = None, sort: Sort | None = None) -> None:
        """Show the first page of the (new) filter and order."""
        previous = (self.window.filter, self.window.sort)
        try:
            self.window.reset(flt, sort)
        except FilterError as exc:
            self.window.filter, self.window.sort = previous
            self.notify(str(exc), title="Filter not applied", severity="error", timeout=8)
            return
        self._generation += 1
        self.new_below = 0
        self.note = ""
        self._render_rows(cursor=0)
        self.matches = "counting…"
        # After the repaint: the count's thread must not take the interpreter from it.
        self.call_after_refresh(self._count, self.window.filter, self._generation)
        self._continue_scan(self._generation)
        self._update_bar()

    def _render_rows(self, cursor: int) -> None:
        table = self.table
        table.clear()
        table.add_rows([cells(row, self._today()) for row in self.window.rows])
        if self.window.rows:
            table.move_cursor(row=max(0, min(cursor, len(self.window.rows) - 1)), animate=False)

    def _today(self) -> str:
        return self.ctx.clock().strftime("%Y-%m-%d")

    def _current(self) -> FlowRow | None:
        index = self.table.cursor_row
        if 0 <= index < len(self.window.rows):
            return self.window.rows[index]
        return None

    def _append_new_rows(self, before: int, dropped: int) -> None:
        table = self.table
        cursor = table.cursor_row
        if dropped:
            self._render_rows(cursor - dropped)
            return
        table.add_rows([cells(row, self._today()) for row in self.window.rows[before:]])
        table.move_cursor(row=cursor, animate=False)

    def _continue_scan(self, generation: int) -> None:
        """Keep scanning a body filter in budgeted steps until a page shows or it ends."""
        if generation != self._generation or self.window.scanned_to is None:
            return
        if len(self.window.rows) >= self.query_.page_size:
            return
        if self.window.sort == Sort():
            high = max(1, self.window.high_mark)
            done = 100 - round(100 * self.window.scanned_to / high)
            self.note = f"searching… {done}% of the log read"
        else:
            self.note = "searching…"
        self._update_bar()
        self.set_timer(0.01, lambda: self._scan_step(generation))

    def _scan_step(self, generation: int) -> None:
        if generation != self._generation:
            return
        before = len(self.window.rows)
        dropped = self.window.load_after()
        self._append_new_rows(before, dropped)
        if self.window.scanned_to is None:
            self.note = ""
            self._update_bar()
        self._continue_scan(generation)

    def _count(self, flt: FlowFilter, generation: int) -> None:
        if self._count_conn is not None:
            self._count_conn.interrupt()  # the previous filter's count is moot
        self._count_worker(flt, generation)

    @work(thread=True, exclusive=True, group="count")
    def _count_worker(self, flt: FlowFilter, generation: int) -> None:
        conn = self.ctx.open_audit()
        self._count_conn = conn
        try:
            n, capped = FlowQuery(conn, self.ctx.scope).count(flt, COUNT_CAP)
        except sqlite3.OperationalError:  # interrupted by a newer filter
            return
        finally:
            self._count_conn = None
            conn.close()
        if get_current_worker().is_cancelled:
            return
        text = f"{n:,}+ matches" if capped else f"{n:,} match" + ("" if n == 1 else "es")
        self.app.call_from_thread(self._counted, text, generation)

    def _counted(self, text: str, generation: int) -> None:
        if generation == self._generation:
            self.matches = text
            self._update_bar()

    def _update_bar(self) -> None:
        note = self.note
        if self.new_below:
            note = f"{self.new_below} new (g: newest)" + (f" · {note}" if note else "")
        self.query_one(FilterBar).show(
            self.window.filter,
            self.window.sort,
            live=self.live,
            matches=self.matches,
            note=note,
        )

    def poll(self) -> None:
        """Look for new records; put them on top when following, else count them."""
        if not self.live:
            return
        rows = self.window.poll()
        if not rows:
            return
        if self.window.follows:
            cursor = self.table.cursor_row
            self.window.prepend_new(rows)
            self._render_rows(cursor + len(rows) if cursor > 0 else 0)
        else:
            self.new_below += len(rows)
        self._update_bar()

    @on(EdgeReached)
    def _edge(self, event: EdgeReached) -> None:
        event.stop()
        if event.edge == "bottom" and self.window.more_after:
            before = len(self.window.rows)
            dropped = self.window.load_after()
            self._append_new_rows(before, dropped)
        elif event.edge == "top" and self.window.more_before:
            cursor = self.table.cursor_row
            added = self.window.load_before()
            self._render_rows(cursor + added - 1 if cursor == 0 else cursor + added)

    # -- actions ---------------------------------------------------------------------

    @on(RowChosen)
    def _selected(self, event: RowChosen) -> None:
        event.stop()
        self.action_open_detail()

    def action_open_detail(self) -> None:
        row = self._current()
        if row is not None:
            self.app.push_screen(DetailScreen(self.ctx, row.seq))

    def action_conversation(self) -> None:
        """The highlighted flow's conversation (every turn of it, in order)."""
        row = self._current()
        if row is None:
            return
        if row.conversation is None:
            self.notify("this flow names no conversation", severity="warning")
            return
        self.app.push_screen(
            ConversationScreen(self.ctx, row.tenant, row.conversation, row.subject)
        )

    def action_filter_form(self) -> None:
        def apply(result: FlowFilter | None) -> None:
            if result is not None:
                self.post_message(FilterApplied(result))

        self.app.push_screen(
            FilterScreen(self.window.filter, self.query_.tenants(), self.ctx.clock), apply
        )

    @on(FilterApplied)
    def _filter_applied(self, event: FilterApplied) -> None:
        event.stop()
        self.query_one("#search", Input).value = event.filter.text or ""
        self.reload(event.filter)

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    @on(Input.Submitted, "#search")
    def _search(self, event: Input.Submitted) -> None:
        event.stop()
        self.reload(self.window.filter.with_value("text", event.value))
        self.table.focus()

    def key_escape(self) -> None:
        if self.query_one("#search", Input).has_focus:
            self.table.focus()

    def action_filter_row(self, name: str) -> None:
        row = self._current()
        if row is None:
            return
        value = {"user": row.subject, "tenant": row.tenant, "outcome": row.outcome}[name]
        if value is None:
            self.notify(f"this record has no {name}", severity="warning")
            return
        self.reload(self.window.filter.with_value(name, value))

    def action_clear_filter(self) -> None:
        self.query_one("#search", Input).value = ""
        self.reload(FlowFilter())

    def action_next_sort(self) -> None:
        key = SORT_KEYS[(SORT_KEYS.index(self.window.sort.key) + 1) % len(SORT_KEYS)]
        self.reload(sort=Sort(key, self.window.sort.descending))

    def action_reverse_sort(self) -> None:
        sort = self.window.sort
        self.reload(sort=Sort(sort.key, not sort.descending))

    @on(HeaderChosen)
    def _header(self, event: HeaderChosen) -> None:
        event.stop()
        key = event.key
        sort_key = next((k for k in SORT_KEYS if k == key), None)
        if sort_key is None:  # entity types: no order
            return
        current = self.window.sort
        descending = not current.descending if current.key == sort_key else True
        self.reload(sort=Sort(sort_key, descending))

    def action_newest(self) -> None:
        self.reload()

    def action_oldest(self) -> None:
        self._generation += 1
        self.window.to_end()
        self._render_rows(cursor=len(self.window.rows) - 1)
        self._update_bar()

    def action_toggle_live(self) -> None:
        self.live = not self.live
        self._update_bar()

    def action_refresh(self) -> None:
        self.reload()

    def action_export(self) -> None:
        def chosen(path: Path | None) -> None:
            if path is not None:
                self._export(path)

        self.app.push_screen(ExportScreen(self.window.filter), chosen)

    @work(thread=True, exclusive=True, group="export")
    def _export(self, path: Path) -> None:
        flt, sort = self.window.filter, self.window.sort
        conn = self.ctx.open_audit()
        try:
            count = export_view(FlowQuery(conn, self.ctx.scope), flt, sort, path)
        except (ExportError, FilterError) as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", timeout=8)
            return
        finally:
            conn.close()
        self.app.call_from_thread(self.notify, f"exported {count:,} records to {path}")


__all__ = ["COLUMNS", "FlowsScreen"]
