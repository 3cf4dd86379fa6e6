"""`SummaryScreen`: requests, blocks, redactions and tokens per tenant and department over
the last day or week, requests and blocks per hour as sparklines, DLP entity types as bars.

The aggregates (`summary.summarize`) run in a worker thread on their own connection.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, Sparkline, Static

from .context import ConsoleContext
from .summary import Summary, bar, summarize

RANGES = {"day": 24, "week": 24 * 7}


class SummaryScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "range('day')", "Last day"),
        Binding("w", "range('week')", "Last week"),
        Binding("ctrl+r", "refresh", "Refresh"),
    ]

    def __init__(self, ctx: ConsoleContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.range = "day"
        self.summary: Summary | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("computing…", id="summary-headline")
        with Horizontal(id="summary-sparks"):
            with Vertical():
                yield Label("requests per hour", classes="section-title")
                yield Sparkline([], id="spark-requests")
            with Vertical():
                yield Label("blocks per hour", classes="section-title")
                yield Sparkline([], id="spark-blocks")
        with Horizontal(id="summary-tables"):
            with Vertical(id="summary-groups-box"):
                yield Label("per tenant and department", classes="section-title")
                yield DataTable(id="summary-groups", cursor_type="row", zebra_stripes=True)
            with Vertical(id="summary-entities-box"):
                yield Label("redactions by entity type", classes="section-title")
                yield DataTable(id="summary-entities", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Summary"
        self.sub_title = self.ctx.scope.describe()
        self.query_one("#summary-groups", DataTable).add_columns(
            "Tenant", "Dept", "Requests", "", "Blocks", "Redactions", "Tokens"
        )
        self.query_one("#summary-entities", DataTable).add_columns("Entity type", "Count", "")
        self.action_refresh()

    def action_range(self, name: str) -> None:
        self.range = name
        self.action_refresh()

    def action_refresh(self) -> None:
        self.query_one("#summary-headline", Static).update(f"computing the last {self.range}…")
        self._compute(RANGES[self.range])

    @work(thread=True, exclusive=True, group="summary")
    def _compute(self, hours: int) -> None:
        conn = self.ctx.open_audit()
        try:
            result = summarize(conn, self.ctx.scope, self.ctx.clock(), hours)
        finally:
            conn.close()
        self.app.call_from_thread(self._show, result)

    def _show(self, summary: Summary) -> None:
        self.summary = summary
        headline = Text()
        headline.append(f"Last {self.range}", style="bold")
        headline.append(
            f" ({summary.since[:16]} to {summary.until[:16]} UTC): ", style="bright_black"
        )
        headline.append(f"{summary.requests:,} requests · ")
        headline.append(f"{summary.blocks:,} blocked", style="bold red")
        headline.append(
            f" · {sum(g.redactions for g in summary.groups):,} redacted", style="yellow"
        )
        headline.append(f" · {summary.tokens:,} tokens")
        self.query_one("#summary-headline", Static).update(headline)
        self.query_one("#spark-requests", Sparkline).data = list(summary.hourly)
        self.query_one("#spark-blocks", Sparkline).data = list(summary.hourly_blocks)
        groups = self.query_one("#summary-groups", DataTable)
        groups.clear()
        largest = max((g.requests for g in summary.groups), default=0)
        for g in summary.groups:
            groups.add_row(
                g.tenant, g.department, f"{g.requests:,}",
                Text(bar(g.requests, largest, 12), style="blue"),
                Text(f"{g.blocks:,}", style="red" if g.blocks else ""), f"{g.redactions:,}",
                f"{g.tokens:,}",
            )  # fmt: skip
        entities = self.query_one("#summary-entities", DataTable)
        entities.clear()
        top = max((n for _, n in summary.entities), default=0)
        for name, n in summary.entities:
            entities.add_row(name, f"{n:,}", Text(bar(n, top, 14), style="yellow"))
