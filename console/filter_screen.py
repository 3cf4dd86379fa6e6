"""`FilterScreen`: a form with every filter of the flow list; Enter applies, Escape cancels."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import fields
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Label

from warden.audit.record import KINDS, OUTCOMES, TRANSPORTS
from warden.providers.clients import CLIENT_FAMILIES

from .filter_bar import LABELS
from .flows import (
    RECORDS_ALL,
    FilterError,
    FlowFilter,
    check_filter,
    checked_request_filters,
    parse_time,
)
from .symbols import DECISIONS

ENTITY_TYPES = (
    "EMAIL_ADDRESS", "PHONE_NUMBER", "PERSON", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS",
    "LOCATION", "US_SSN", "API_KEY", "AWS_ACCESS_KEY", "PRIVATE_KEY",
)  # fmt: skip
HINTS = {
    "user": "subject, or an e-mail address",
    "since": "24h, 7d, 2025-03-01 or 2025-03-01T12:00 (UTC)",
    "until": "same forms as since",
    "text": "free text over the record (case-insensitive)",
    "conversation": "a conversation id (c on a flow's detail shows its conversation)",
    "client": "client software, or its start: claude-code, openai-python/1.54",
    "transport": "http or websocket",
    "method": "POST, GET …",
    "path": "path, or its start: /v1/chat (never a query)",
    "records": "all: a flow's request and stream-start records too",
}


class FilterScreen(ModalScreen[FlowFilter | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "apply", "Apply"),
        Binding("ctrl+x", "clear", "Clear all"),
    ]

    def __init__(
        self,
        current: FlowFilter,
        tenants: list[str],
        clock: Callable[[], datetime.datetime],
    ) -> None:
        super().__init__()
        self.current = current
        self.tenants = tenants
        self.clock = clock

    def compose(self) -> ComposeResult:
        suggestions = {
            "tenant": self.tenants,
            "decision": list(DECISIONS),
            "outcome": sorted(OUTCOMES),
            "entity_type": list(ENTITY_TYPES),
            "kind": sorted(KINDS),
            "transport": sorted(TRANSPORTS),
            "records": [RECORDS_ALL],
            "client": list(CLIENT_FAMILIES),
            "method": ["POST", "GET", "DELETE", "PUT", "PATCH", "CONNECT"],
        }
        with Vertical(id="filter-dialog"):
            yield Label("Filter flows", id="filter-title")
            with Grid(id="filter-grid"):
                for f in fields(FlowFilter):
                    yield Label(LABELS[f.name], classes="filter-label")
                    words = suggestions.get(f.name)
                    yield Input(
                        value=getattr(self.current, f.name) or "",
                        placeholder=HINTS.get(f.name, ""),
                        id=f"filter-{f.name}",
                        suggester=SuggestFromList(words, case_sensitive=False) if words else None,
                    )
            yield Label("", id="filter-error")
            with Horizontal(id="filter-buttons"):
                yield Button("Apply", variant="primary", id="filter-apply")
                yield Button("Clear all", id="filter-clear")
                yield Button("Cancel", id="filter-cancel")

    def on_mount(self) -> None:
        self.query_one("#filter-tenant", Input).focus()

    def _read(self) -> FlowFilter:
        values: dict[str, str | None] = {}
        for f in fields(FlowFilter):
            text = self.query_one(f"#filter-{f.name}", Input).value.strip()
            values[f.name] = text or None
        now = self.clock()
        for name in ("since", "until"):
            value = values[name]
            if value is not None:
                values[name] = parse_time(value, now)
        values.update(checked_request_filters(values))
        if values["tenant"] is not None and values["tenant"] not in self.tenants:
            raise FilterError(f"tenant {values['tenant']!r} has no records in your scope")
        result = FlowFilter(**values)
        check_filter(result)
        return result

    @on(Input.Submitted)
    @on(Button.Pressed, "#filter-apply")
    def action_apply(self) -> None:
        try:
            result = self._read()
        except FilterError as exc:
            self.query_one("#filter-error", Label).update(str(exc))
            return
        self.dismiss(result)

    @on(Button.Pressed, "#filter-clear")
    def action_clear(self) -> None:
        self.dismiss(FlowFilter())

    @on(Button.Pressed, "#filter-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
