"""`ExportScreen`: asks where to write the current view; the suffix chooses JSONL or CSV."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from .exporting import ExportError, format_for
from .flows import FlowFilter


class ExportScreen(ModalScreen[Path | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, flt: FlowFilter) -> None:
        super().__init__()
        self.filter = flt

    def compose(self) -> ComposeResult:
        active = ", ".join(f"{k}={v}" for k, v in self.filter.active()) or "no filter"
        with Vertical(id="export-dialog", classes="dialog"):
            yield Label("Export the current view", classes="dialog-title")
            yield Label(f"Records of: {active} (within your scope)")
            yield Input(placeholder="path/to/file.jsonl or .csv", id="export-path")
            yield Label("", id="export-error", classes="error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Export", variant="primary", id="export-ok")
                yield Button("Cancel", id="export-cancel")

    def on_mount(self) -> None:
        self.query_one("#export-path", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#export-ok")
    def action_export(self) -> None:
        text = self.query_one("#export-path", Input).value.strip()
        if not text:
            self.query_one("#export-error", Label).update("type a file path")
            return
        path = Path(text).expanduser()
        try:
            format_for(path)
        except ExportError as exc:
            self.query_one("#export-error", Label).update(str(exc))
            return
        if path.exists():
            self.query_one("#export-error", Label).update(f"{path} exists: choose another name")
            return
        self.dismiss(path)

    @on(Button.Pressed, "#export-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
