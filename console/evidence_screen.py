"""Sealed evidence in the console: ask for a private key, open, show request and answer.

`EvidenceKeyScreen` asks the reviewer for the path of their private key file; the path
is used for this one attempt and never stored (not in settings, not in history). The
opening runs in a worker thread through `audit.evidence_access.open_evidence`, which
checks the evidence against the chain and records the access (success or failure) in the
audit trail under the reviewer's name before anything is shown. A wrong key, a damaged
blob or an access that cannot be recorded leaves the dialog open with the reason.
`EvidenceScreen` shows the decrypted request and answer; leaving it drops them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

from rich.console import Group
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Header, Input, Label, Static

from warden.audit.errors import AuditStoreError
from warden.audit.evidence import CapturedBody, EvidenceError
from warden.audit.evidence_access import OpenedEvidence, open_evidence

from .context import ConsoleContext


class EvidenceKeyScreen(ModalScreen[OpenedEvidence | None]):
    """Asks for the private key file and opens evidence ``key`` with it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, ctx: ConsoleContext, evidence_id: str) -> None:
        super().__init__()
        self.ctx = ctx
        self.evidence_id = evidence_id

    def compose(self) -> ComposeResult:
        with Vertical(id="evidence-dialog", classes="dialog"):
            yield Label(
                f"Open sealed evidence {self.evidence_id[:16]}…\n"
                "Path of your investigator private key file (used once, never stored). "
                "This access is recorded in the audit trail.",
                id="evidence-question",
            )
            yield Input(placeholder="~/.config/warden/investigator.key", id="evidence-key")
            yield Label("", id="evidence-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Open", variant="primary", id="evidence-open")
                yield Button("Cancel", id="evidence-cancel")

    def on_mount(self) -> None:
        self.query_one("#evidence-key", Input).focus()

    @on(Input.Submitted, "#evidence-key")
    @on(Button.Pressed, "#evidence-open")
    async def _open(self) -> None:
        field = self.query_one("#evidence-key", Input)
        typed = field.value.strip()
        error = self.query_one("#evidence-error", Label)
        if not typed:
            error.update(Text("Give the path of your private key file.", style="bold red"))
            return
        field.value = ""  # the path is not kept on screen either
        error.update(Text("opening…", style="bright_black"))
        ctx, evidence_id = self.ctx, self.evidence_id

        def attempt() -> OpenedEvidence:
            return open_evidence(
                ctx.audit_db,
                evidence_id,
                Path(typed).expanduser(),
                reviewer=ctx.scope.reviewer,
                via="console",
                allows=ctx.scope.allows,
            )

        try:
            opened = await asyncio.to_thread(attempt)
        except (EvidenceError, AuditStoreError) as exc:
            error.update(Text(f"{exc.message}\n{exc.fix}", style="bold red"))
            return
        self.dismiss(opened)

    @on(Button.Pressed, "#evidence-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def _body(title: str, body: CapturedBody | None, note: str | None) -> Text:
    text = Text(f" {title} ", style="bold reverse")
    if body is None:
        text.append(f"\nnot captured ({note or 'none'})\n", style="bright_black")
        return text
    facts = [body.content_type or "no type", f"{body.size} bytes"]
    if body.truncated:
        facts.append(f"truncated to {len(body.data)}")
    if body.content_encoding:
        facts.append(f"still {body.content_encoding}-coded")
    if note:  # a stream or socket cut before its end: what passed until then
        facts.append(note)
    text.append(f"  {', '.join(facts)}\n", style="bright_black")
    text.append(body.text())
    text.append("\n")
    return text


class EvidenceScreen(Screen[None]):
    """The decrypted request and answer of one capture."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.pop_screen", "Back", show=False),
    ]

    def __init__(self, opened: OpenedEvidence) -> None:
        super().__init__()
        self.opened = opened

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="evidence-scroll"):
            yield Static(id="evidence-head")
            yield Static(id="evidence-body")
        yield Footer()

    def on_mount(self) -> None:
        opened, env = self.opened, self.opened.envelope
        self.title = f"Evidence {env.evidence_id[:16]}…"
        head = Text("✓ ", style="bold green")
        head.append(
            f"sealed evidence of {opened.tenant} record #{opened.tenant_seq}; its SHA-256 "
            f"{opened.sha256[:16]}… matches the record in the chain",
            style="bold green",
        )
        head.append(
            f"\n  captured {env.captured_at} · {env.method} {env.host}{env.path}",
            style="bright_black",
        )
        self.query_one("#evidence-head", Static).update(head)
        self.query_one("#evidence-body", Static).update(
            Group(
                _body("Request as sent", env.request, None),
                _body("Answer", env.answer, env.answer_note),
            )
        )
