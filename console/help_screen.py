"""`HelpScreen` (``?``): every key binding of every screen, read from the screens' BINDINGS."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


def _keys(bindings: list[BindingType]) -> list[tuple[str, str]]:
    rows = []
    for item in bindings:
        binding = item if isinstance(item, Binding) else Binding(*item)
        key = binding.key.replace("slash", "/").replace("question_mark", "?")
        rows.append((key, binding.description or binding.action))
    return rows


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def __init__(self, sections: list[tuple[str, list[BindingType]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        table = Table(title="Egress Warden review console — keys", expand=True, show_header=False)
        table.add_column("key", style="bold cyan", width=12)
        table.add_column("does")
        for title, bindings in self.sections:
            table.add_row(f"[bold reverse] {title} [/]", "")
            for key, description in _keys(bindings):
                table.add_row(key, description)
        table.add_row("", "")
        table.add_row("ctrl+p", "command palette: every screen and action by name")
        table.add_row("mouse", "click rows to open, headers to sort, buttons in dialogs")
        with VerticalScroll(id="help-dialog"):
            yield Static(table)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
