"""`ConversationScreen`: one conversation, its turns in order — time, model, decision,
findings, tokens and whether evidence was captured; Enter opens a turn's record."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from .context import ConsoleContext
from .conversations import MAX_RECORDS, Conversation, Turn, load_conversation
from .symbols import decision_text, outcome_text

#: (label, width) of the turn table's columns (they fit 120 columns with the scrollbar).
TURN_COLUMNS: tuple[tuple[str, int], ...] = (
    ("#", 3),
    ("Time UTC", 19),
    ("Model", 16),
    ("Decision", 9),
    ("Outcome", 13),
    ("Findings", 16),
    ("Tokens in / out", 16),
    ("Evidence", 8),
)
#: Shown where a turn's record names sealed evidence; opening it is the detail's to do.
EVIDENCE_MARK = "sealed"


def _findings(turn: Turn) -> str:
    if not turn.findings:
        return "-"
    return ", ".join(f"{name}:{count}" for name, count in sorted(turn.findings.items()))


def turn_cells(index: int, turn: Turn) -> list[str | Text]:
    return [
        str(index),
        turn.ts.replace("T", " ")[:19],
        turn.model or "-",
        decision_text(turn.decision),
        outcome_text(turn.outcome),
        _findings(turn),
        turn.tokens,
        EVIDENCE_MARK if turn.evidence else "-",
    ]


class ConversationScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.pop_screen", "Back", show=False),
        Binding("enter", "open_turn", "Open turn", show=False),
    ]

    def __init__(
        self, ctx: ConsoleContext, tenant: str, conversation: str, subject: str | None
    ) -> None:
        super().__init__()
        self.ctx = ctx
        self.tenant = tenant
        self.conversation_id = conversation
        self.subject = subject
        self.conversation: Conversation | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="conversation-head")
        yield DataTable(id="conversation-turns", cursor_type="row", zebra_stripes=True)
        yield Footer()

    @property
    def table(self) -> DataTable[str | Text]:
        return self.query_one("#conversation-turns", DataTable)

    def on_mount(self) -> None:
        self.title = "Conversation"
        self.sub_title = self.ctx.scope.describe()
        for label, width in TURN_COLUMNS:
            self.table.add_column(label, width=width)
        self.reload()
        self.table.focus()

    def reload(self) -> None:
        found = load_conversation(
            self.ctx.audit(), self.ctx.scope, self.tenant, self.conversation_id, self.subject
        )
        self.conversation = found
        self.table.clear()
        for i, turn in enumerate(found.turns, start=1):
            self.table.add_row(*turn_cells(i, turn), key=turn.key)
        head = Text()
        head.append("conversation ", style="bold")
        head.append(found.conversation, style="bold cyan")
        head.append(f"   tenant {found.tenant}", style="bright_black")
        who = found.email or found.subject
        if who:
            head.append(f"   person {who}", style="bright_black")
        clients = sorted({t.client for t in found.turns if t.client})
        if clients:
            head.append(f"   client {', '.join(clients)}", style="bright_black")
        head.append(f"\n{len(found.turns)} turn{'s' if len(found.turns) != 1 else ''}")
        if found.truncated:
            head.append(
                f" (the newest of {MAX_RECORDS:,} records; older turns not shown)", style="yellow"
            )
        if any(t.evidence for t in found.turns):
            head.append("   evidence sealed on some turns: open a turn to see it", style="yellow")
        self.query_one("#conversation-head", Static).update(head)

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.action_open_turn()

    def action_open_turn(self) -> None:
        from .detail_screen import DetailScreen  # the detail opens conversations in turn

        found = self.conversation
        if found is None or not found.turns:
            return
        row = self.table.cursor_row
        if 0 <= row < len(found.turns):
            self.app.push_screen(DetailScreen(self.ctx, found.turns[row].seq))
