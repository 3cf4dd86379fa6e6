"""`ConsoleApp`, the review console, and `run_console`, its entry point.

The App stays thin: it holds the `ConsoleContext`, one mode per main screen (each with
its own stack, so a detail opened from Flows stays there while Sessions is visited), the
global keys, the help screen and the command palette's commands.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import ClassVar, cast

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from .context import ConsoleContext, StateReader, utc_now
from .flows_screen import FlowsScreen
from .help_screen import HelpScreen
from .integrity_screen import IntegrityScreen
from .revocation import GatewayControl
from .scope import ReviewerScope
from .sessions_screen import SessionsScreen
from .summary_screen import SummaryScreen

SCREENS_BY_MODE: dict[str, Callable[[ConsoleContext], Screen[None]]] = {
    "flows": FlowsScreen,
    "sessions": SessionsScreen,
    "integrity": IntegrityScreen,
    "summary": SummaryScreen,
}

#: The command palette's actions: (title, help, mode, action on that mode's screen).
COMMANDS: tuple[tuple[str, str, str, str], ...] = (
    ("Filter flows", "open the filter form", "flows", "filter_form"),
    ("Search flows", "free text over metadata", "flows", "search"),
    ("Clear flow filters", "show every record in scope", "flows", "clear_filter"),
    ("Sort flows by next column", "cycle the sort key", "flows", "next_sort"),
    ("Reverse flow order", "ascending / descending", "flows", "reverse_sort"),
    ("Jump to newest flows", "top of the list", "flows", "newest"),
    ("Jump to oldest flows", "end of the list", "flows", "oldest"),
    ("Toggle live follow", "pause or resume new records", "flows", "toggle_live"),
    ("Export current view", "to a .jsonl or .csv file", "flows", "export"),
    ("Open selected flow", "detail of the highlighted record", "flows", "open_detail"),
    ("Revoke selected session", "asks first", "sessions", "revoke_session"),
    ("Revoke all sessions of selected user", "asks first", "sessions", "revoke_user"),
    ("Show sessions of next tenant", "cycle the tenant", "sessions", "next_tenant"),
    ("Verify the audit chains", "with a progress bar", "integrity", "verify"),
    ("Summary of the last day", "per tenant and department", "summary", "range('day')"),
    ("Summary of the last week", "per tenant and department", "summary", "range('week')"),
)


class ConsoleApp(App[None]):
    TITLE = "Egress Warden"
    CSS_PATH = "console.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "switch_mode('flows')", "Flows"),
        Binding("2", "switch_mode('sessions')", "Sessions"),
        Binding("3", "switch_mode('integrity')", "Integrity"),
        Binding("4", "switch_mode('summary')", "Summary"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, ctx: ConsoleContext) -> None:
        super().__init__()
        self.ctx = ctx
        for mode, screen in SCREENS_BY_MODE.items():
            self.add_mode(mode, self._factory(screen))

    def _factory(
        self, screen: Callable[[ConsoleContext], Screen[None]]
    ) -> Callable[[], Screen[None]]:
        def make() -> Screen[None]:
            return screen(self.ctx)

        return make

    def on_mount(self) -> None:
        self.switch_mode("flows")

    def on_unmount(self) -> None:
        self.ctx.close()

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        sections: list[tuple[str, list[BindingType]]] = [("everywhere", list(self.BINDINGS))]
        sections += [
            (mode, list(cast(type[Screen[None]], cls).BINDINGS))
            for mode, cls in SCREENS_BY_MODE.items()
        ]
        self.push_screen(HelpScreen(sections))

    def _on(self, mode: str, action: str) -> Callable[[], object]:
        async def run() -> None:
            await self.switch_mode(mode)
            await self.screen.run_action(action)

        return run

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for mode in SCREENS_BY_MODE:
            yield SystemCommand(
                f"Go to {mode.title()}",
                f"switch to the {mode} screen",
                self._factory_switch(mode),
            )
        for title, help_text, mode, action in COMMANDS:
            yield SystemCommand(title, help_text, self._on(mode, action))
        yield SystemCommand("Show keys", "the help screen", self.action_help)

    def _factory_switch(self, mode: str) -> Callable[[], object]:
        def switch() -> object:
            return self.switch_mode(mode)

        return switch


def build_app(
    audit_db: Path,
    state_db: Path,
    audit_pub: Path,
    control_url: str | None,
    admin_token_file: Path | None,
    reviewer: ReviewerScope,
    *,
    clock: Callable[[], datetime.datetime] = utc_now,
    poll_interval: float = 1.0,
    state_reader: Callable[[], StateReader] | None = None,
) -> ConsoleApp:
    """The console for ``reviewer``; revocation is on when both control arguments are given.
    ``state_reader`` opens the state database when it is not the SQLite file ``state_db``."""
    control = (
        GatewayControl(control_url, admin_token_file)
        if control_url is not None and admin_token_file is not None
        else None
    )
    ctx = ConsoleContext(
        audit_db,
        state_db,
        audit_pub,
        reviewer,
        control,
        clock=clock,
        poll_interval=poll_interval,
        state_reader=state_reader,
    )
    ctx.audit()  # fail here, before the screen takes over, if the audit file is unreadable
    return ConsoleApp(ctx)


def run_console(
    audit_db: Path,
    state_db: Path,
    audit_pub: Path,
    control_url: str | None,
    admin_token_file: Path | None,
    reviewer: ReviewerScope,
    state_reader: Callable[[], StateReader] | None = None,
) -> None:
    """Run the review console in this terminal until the reviewer quits.

    Raises `ConsoleDataError` (message ready for the operator) when the audit database
    cannot be read.
    """
    build_app(
        audit_db,
        state_db,
        audit_pub,
        control_url,
        admin_token_file,
        reviewer,
        state_reader=state_reader,
    ).run()
