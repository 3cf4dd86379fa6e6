"""`FilterBar`: one line that says which filters, which order and which mode are active."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from .flows import FlowFilter, Sort

LABELS = {
    "tenant": "tenant",
    "user": "user",
    "department": "dept",
    "decision": "decision",
    "outcome": "outcome",
    "provider": "provider",
    "model": "model",
    "entity_type": "entity",
    "kind": "kind",
    "since": "since",
    "until": "until",
    "text": "text",
    "conversation": "conversation",
    "client": "client",
    "transport": "transport",
    "method": "method",
    "path": "path",
    "records": "records",
}


class FilterBar(Static):
    def show(
        self,
        flt: FlowFilter,
        sort: Sort,
        *,
        live: bool,
        matches: str,
        note: str = "",
    ) -> None:
        line = Text()
        active = flt.active()
        if active:
            line.append("filter ", style="bold")
            for i, (name, value) in enumerate(active):
                if i:
                    line.append(" · ", style="bright_black")
                line.append(f"{LABELS[name]}=", style="cyan")
                line.append(repr(value) if name == "text" else value, style="bold")
        else:
            line.append("no filter (every flow in scope)", style="bright_black")
        line.append("   sort ", style="bold")
        line.append(sort.describe())
        line.append("   ")
        line.append("● live" if live else "○ paused", style="green" if live else "yellow")
        if matches:
            line.append(f"   {matches}", style="bright_black")
        if note:
            line.append(f"   {note}", style="yellow")
        self.update(line)
