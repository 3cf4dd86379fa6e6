"""`SessionsScreen`: active sessions, device credentials and surrogate bindings per tenant,
with revocation of one session or all of a user's through the running gateway.

The lists come from the state database (read-only, scoped; the local SQLite file, or
PostgreSQL through the reader the composition root gives, ``ConsoleContext.state_reader``);
a revocation is asked of the
gateway's control plane after a confirmation, and the lists are re-read when it answers.
"""

from __future__ import annotations

import datetime
import sqlite3
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, Static

from .confirm_screen import ConfirmScreen
from .context import ConsoleContext
from .db import ConsoleDataError
from .messages import SessionsRevoked
from .revocation import RevocationError, RevokeRequest
from .scope import OutOfScope
from .sessions_db import (
    DeviceRow,
    SessionRow,
    SurrogateRow,
    active_sessions,
    device_credentials,
    surrogate_bindings,
)


def _when(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%m-%d %H:%M")


class SessionsScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "revoke_session", "Revoke session"),
        Binding("R", "revoke_user", "Revoke all of user"),
        Binding("t", "next_tenant", "Tenant"),
        Binding("tab", "focus_next", "Next list", show=False),
        Binding("ctrl+r", "refresh", "Refresh"),
    ]

    def __init__(self, ctx: ConsoleContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.tenant: str | None = None
        self.tenants: list[str] = []
        self.sessions: list[SessionRow] = []
        self.devices: list[DeviceRow] = []
        self.surrogates: list[SurrogateRow] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="sessions-status")
        yield Label("Active sessions", classes="section-title")
        yield DataTable(id="sessions", cursor_type="row", zebra_stripes=True)
        yield Label("Device credentials", classes="section-title")
        yield DataTable(id="devices", cursor_type="row", zebra_stripes=True)
        yield Label("Surrogate-IP bindings", classes="section-title")
        yield DataTable(id="surrogates", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Sessions"
        self.sub_title = self.ctx.scope.describe()
        self.query_one("#sessions", DataTable).add_columns(
            "Tenant", "User", "Dept", "Auth", "Session", "Signed in", "Expires", "Devices", "IPs"
        )
        self.query_one("#devices", DataTable).add_columns(
            "Tenant", "Subject", "Label", "Credential", "Session", "Created", "Expires", "State"
        )
        self.query_one("#surrogates", DataTable).add_columns(
            "Tenant", "Subject", "Client address", "Session", "Expires"
        )
        self.refresh_lists()
        self.query_one("#sessions", DataTable).focus()

    def _status(self, text: str | Text) -> None:
        self.query_one("#sessions-status", Static).update(text)

    def refresh_lists(self) -> None:
        now = self.ctx.clock().timestamp()
        try:
            conn = self.ctx.open_state()
        except ConsoleDataError as exc:
            self._status(Text(str(exc), style="bold red"))
            return
        try:
            everything = active_sessions(conn, self.ctx.scope, now)
            self.devices = device_credentials(conn, self.ctx.scope, now)
            self.surrogates = surrogate_bindings(conn, self.ctx.scope, now)
        except sqlite3.Error as exc:  # PostgreSQL's errors arrive as sqlite3's too
            self._status(Text(f"cannot read the state database: {exc}", style="bold red"))
            return
        finally:
            conn.close()
        self.tenants = sorted({s.tenant for s in everything})
        self.sessions = [s for s in everything if self.tenant in (None, s.tenant)]
        devices = [d for d in self.devices if self.tenant in (None, d.tenant)]
        surrogates = [b for b in self.surrogates if self.tenant in (None, b.tenant)]
        self.devices, self.surrogates = devices, surrogates
        table = self.query_one("#sessions", DataTable)
        table.clear()
        for s in self.sessions:
            table.add_row(
                s.tenant, s.user, s.department or "-", s.auth_method, s.id[:16],
                _when(s.created_at), _when(s.expires_at), str(s.devices), str(s.surrogates),
            )  # fmt: skip
        table = self.query_one("#devices", DataTable)
        table.clear()
        for d in devices:
            state = Text("revoked", style="red") if d.revoked_at else Text("active", style="green")
            table.add_row(
                d.tenant, d.subject, d.label or "-", d.id[:12], d.session_id[:16],
                _when(d.created_at), _when(d.expires_at), state,
            )  # fmt: skip
        table = self.query_one("#surrogates", DataTable)
        table.clear()
        for b in surrogates:
            table.add_row(
                b.tenant, b.subject, b.client_addr, b.session_id[:16], _when(b.expires_at)
            )
        where = self.tenant or "every tenant in scope"
        control = "" if self.ctx.control else " · revocation off (no control URL)"
        self._status(
            f"{len(self.sessions)} active sessions, {len(devices)} device credentials, "
            f"{len(surrogates)} bindings · {where}{control}"
        )

    def _selected_session(self) -> SessionRow | None:
        focused = self.focused
        sid: str | None = None
        if isinstance(focused, DataTable) and focused.row_count:
            index = focused.cursor_row
            if focused.id == "sessions" and index < len(self.sessions):
                return self.sessions[index]
            if focused.id == "devices" and index < len(self.devices):
                sid = self.devices[index].session_id
            if focused.id == "surrogates" and index < len(self.surrogates):
                sid = self.surrogates[index].session_id
        elif self.sessions:
            table = self.query_one("#sessions", DataTable)
            return self.sessions[min(table.cursor_row, len(self.sessions) - 1)]
        return next((s for s in self.sessions if s.id == sid), None)

    def action_revoke_session(self) -> None:
        session = self._selected_session()
        if session is None:
            self.notify("select a session first", severity="warning")
            return
        self._ask(
            f"Revoke session {session.id[:16]}… of {session.user} ({session.tenant})?\n"
            "The gateway ends it and its device credentials at once.",
            RevokeRequest(session.tenant, session_id=session.id),
        )

    def action_revoke_user(self) -> None:
        session = self._selected_session()
        if session is None:
            self.notify("select a session of the user first", severity="warning")
            return
        count = sum(
            1 for s in self.sessions
            if (s.tenant, s.issuer, s.subject) == (session.tenant, session.issuer, session.subject)
        )  # fmt: skip
        self._ask(
            f"Revoke ALL {count} session(s) of {session.user} in {session.tenant}?\n"
            "Every session and device credential of this user ends at once.",
            RevokeRequest(session.tenant, subject=session.subject, issuer=session.issuer),
        )

    def _ask(self, question: str, request: RevokeRequest) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.revoke(request)

        self.app.push_screen(ConfirmScreen(question, "Revoke"), answered)

    @work(exclusive=True, group="revoke")
    async def revoke(self, request: RevokeRequest) -> None:
        """Ask the gateway to revoke (the scope is checked again before sending)."""
        if self.ctx.control is None:
            self._error("revocation needs the gateway: start the console with --control-url "
                        "and --admin-token-file")  # fmt: skip
            return
        try:
            revoked = await self.ctx.control.revoke(self.ctx.scope, request)
        except (RevocationError, OutOfScope) as exc:
            self._error(str(exc))
            return
        self.post_message(SessionsRevoked(request.tenant, revoked))

    def _error(self, text: str) -> None:
        self._status(Text(f"✗ {text}", style="bold red"))
        self.notify(text, title="Revocation failed", severity="error", timeout=10)

    @on(SessionsRevoked)
    def _revoked(self, event: SessionsRevoked) -> None:
        self.refresh_lists()
        self._status(Text(f"✓ the gateway revoked {event.revoked} session(s) in {event.tenant}",
                          style="bold green"))  # fmt: skip
        self.notify(f"revoked {event.revoked} session(s)")

    def action_next_tenant(self) -> None:
        choices: list[str | None] = [None, *self.tenants]
        self.tenant = choices[(choices.index(self.tenant) + 1) % len(choices)]
        self.refresh_lists()

    def action_refresh(self) -> None:
        self.refresh_lists()
