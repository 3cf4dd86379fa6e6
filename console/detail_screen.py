"""`DetailScreen`: one record in full — identity chain, decision, findings, prompt, chain status."""

from __future__ import annotations

import datetime
import json
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from warden.audit.evidence_access import OpenedEvidence

from .context import ConsoleContext
from .conversation_screen import ConversationScreen
from .db import ConsoleDataError
from .detail import RecordDetail, load_detail, prompt_spans
from .evidence_screen import EvidenceKeyScreen, EvidenceScreen
from .sessions_db import session_by_prefix
from .symbols import decision_text, outcome_text


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _section(title: str, rows: list[tuple[str, RenderableType | str | None]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", width=22)
    table.add_column()
    for name, value in rows:
        table.add_row(name, "-" if value is None or value == "" else value)
    table.title = title
    table.title_justify = "left"
    table.title_style = "bold reverse"
    return table


class DetailScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.pop_screen", "Back", show=False),
        Binding("j", "raw", "Raw JSON"),
        Binding("c", "conversation", "Conversation"),
        Binding("e", "evidence", "Evidence"),
    ]

    def __init__(self, ctx: ConsoleContext, seq: int) -> None:
        super().__init__()
        self.ctx = ctx
        self.seq = seq
        self.detail: RecordDetail | None = None
        self.show_raw = False

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="detail-scroll"):
            yield Static(id="detail-chain")
            yield Static(id="detail-body")
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"Flow #{self.seq}"
        self.sub_title = self.ctx.scope.describe()
        self.detail = load_detail(self.ctx.audit(), self.ctx.scope, self.seq, self.ctx.public_key())
        self.refresh_body()

    def action_conversation(self) -> None:
        """The conversation this flow belongs to, where its record names one."""
        detail = self.detail
        request = detail.raw.get("request") if detail is not None else None
        conversation = request.get("conversation") if isinstance(request, dict) else None
        if detail is None or not isinstance(conversation, str):
            self.notify("this flow names no conversation", severity="warning")
            return
        principal = detail.raw.get("principal")
        subject = principal.get("subject") if isinstance(principal, dict) else None
        self.app.push_screen(
            ConversationScreen(
                self.ctx,
                str(detail.raw.get("tenant")),
                conversation,
                subject if isinstance(subject, str) else None,
            )
        )

    def action_evidence(self) -> None:
        """Open the record's sealed evidence with a private key the reviewer names."""
        details = (self.detail.raw.get("details") if self.detail else None) or {}
        evidence_id = details.get("evidence_id") if isinstance(details, dict) else None
        if not isinstance(evidence_id, str):
            self.notify("This record has no sealed evidence.", severity="warning")
            return

        def show(opened: OpenedEvidence | None) -> None:
            if opened is not None:
                self.app.push_screen(EvidenceScreen(opened))

        self.app.push_screen(EvidenceKeyScreen(self.ctx, evidence_id), show)

    def action_raw(self) -> None:
        self.show_raw = not self.show_raw
        self.refresh_body()

    def refresh_body(self) -> None:
        chain = self.query_one("#detail-chain", Static)
        body = self.query_one("#detail-body", Static)
        detail = self.detail
        if detail is None:
            chain.update(Text(f"No record #{self.seq} in your scope.", style="bold red"))
            body.update("")
            return
        status = detail.chain
        line = Text("chain  ", style="bold")
        line.append(
            ("✓ " if status.ok else "✗ ") + status.summary,
            style="bold green" if status.ok else "bold red",
        )
        if status.checkpoint:
            line.append(f"\n       {status.checkpoint}", style="bright_black")
        line.append(
            f"\n       tenant #{detail.tenant_seq} · hash {detail.hash.hex()[:16]}… · "
            f"prev {detail.prev_hash.hex()[:16]}…",
            style="bright_black",
        )
        chain.update(line)
        if self.show_raw:
            body.update(Text(json.dumps(detail.raw, indent=2, ensure_ascii=False)))
            return
        body.update(Group(*self._sections(detail)))

    def _sections(self, detail: RecordDetail) -> list[RenderableType]:
        raw = detail.raw
        principal = raw.get("principal") or {}
        destination = raw.get("destination") or {}
        decision = raw.get("decision") or {}
        usage = raw.get("usage") or {}
        timing = raw.get("timing") or {}
        assert isinstance(principal, dict) and isinstance(destination, dict)
        assert isinstance(decision, dict) and isinstance(usage, dict) and isinstance(timing, dict)
        tenant = str(raw.get("tenant"))
        session_rows = self._session_rows(tenant, principal.get("session_id"))
        parts: list[RenderableType] = [
            _section(
                " Record ",
                [
                    ("time", str(raw.get("ts"))),
                    ("tenant", tenant),
                    (
                        "kind",
                        f"{raw.get('kind')}" + (f" · {raw['event']}" if raw.get("event") else ""),
                    ),
                    ("outcome", outcome_text(str(raw.get("outcome")))),
                    ("status", str(raw.get("status") or "-")),
                    ("record id", str(raw.get("record_id"))),
                ],
            ),
            Text(""),
            _section(
                " Identity chain ",
                [
                    ("auth method", principal.get("auth_method")),
                    ("issuer", principal.get("issuer")),
                    ("subject", principal.get("subject")),
                    ("e-mail", principal.get("email")),
                    ("department", principal.get("department")),
                    ("groups", ", ".join(principal.get("groups") or ())),
                    ("session", principal.get("session_id")),
                    *session_rows,
                    ("client address", principal.get("client_addr")),
                ],
            ),
            Text(""),
            _section(
                " Destination and decision ",
                [
                    (
                        "provider / service",
                        f"{destination.get('provider')} / {destination.get('service')}",
                    ),
                    ("host", destination.get("host")),
                    ("api", f"{destination.get('api_kind')} · {destination.get('api') or '-'}"),
                    ("model", destination.get("model")),
                    ("decision", decision_text(decision.get("action"))),
                    ("rule", decision.get("rule_id")),
                    ("policy version", decision.get("policy_version")),
                    ("reason", decision.get("reason")),
                ],
            ),
            Text(""),
        ]
        request = raw.get("request")
        if isinstance(request, dict):
            parts += [
                _section(
                    " Request ",
                    [
                        ("method / path", f"{request.get('method')} {request.get('path')}"),
                        ("transport", request.get("transport")),
                        ("client", request.get("client")),
                        (
                            "conversation",
                            f"{request['conversation']}  (c: show the conversation)"
                            if request.get("conversation")
                            else None,
                        ),
                    ],
                ),
                Text(""),
            ]
        if raw.get("evidence") is not None:
            parts += [
                _section(" Evidence ", [("sealed", "evidence was captured for this flow")]),
                Text(""),
            ]
        findings = raw.get("findings") or []
        assert isinstance(findings, list)
        found = Table(title=" DLP findings ", title_justify="left", title_style="bold reverse")
        found.add_column("entity type", style="cyan")
        found.add_column("count", justify="right")
        found.add_column("segment")
        for item in findings:
            found.add_row(str(item["entity_type"]), str(item["count"]), str(item["segment"]))
        if not findings:
            found.add_row("none", "", "")
        parts += [found, Text("")]
        tokens_in, tokens_out = usage.get("tokens_in"), usage.get("tokens_out")
        parts += [
            _section(
                " Usage and timing ",
                [
                    (
                        "tokens in / out",
                        f"{tokens_in if tokens_in is not None else '-'} / "
                        f"{tokens_out if tokens_out is not None else '-'}"
                        + (" (estimated)" if usage.get("estimated") else ""),
                    ),
                    ("started", timing.get("started_at")),
                    ("upstream latency", _ms(timing.get("upstream_latency_ms"))),
                    ("time to first byte", _ms(timing.get("ttfb_ms"))),
                    ("total", _ms(timing.get("total_ms"))),
                ],
            ),
            Text(""),
        ]
        details = raw.get("details") or {}
        if details:
            assert isinstance(details, dict)
            parts += [
                _section(" Details ", [(str(k), str(v)) for k, v in details.items()]),
                Text(""),
            ]
        prompt = raw.get("prompt")
        title = Text(" Redacted prompt ", style="bold reverse")
        if isinstance(prompt, str):
            text = Text()
            for piece, placeholder in prompt_spans(prompt):
                text.append(piece, style="bold black on yellow" if placeholder else "")
            parts += [title, text]
        else:
            parts += [title, Text("not logged for this tenant", style="bright_black")]
        return parts

    def _session_rows(self, tenant: str, prefix: object) -> list[tuple[str, str | None]]:
        if not isinstance(prefix, str):
            return []
        try:
            conn = self.ctx.open_state()
        except ConsoleDataError:
            return [("session state", "state database not readable")]
        try:
            session, devices, revoked = session_by_prefix(conn, self.ctx.scope, tenant, prefix)
        finally:
            conn.close()
        if session is None:
            return [("session state", "not found in the state database")]
        now = self.ctx.clock().timestamp()
        if revoked is not None:
            state = f"revoked {_when(revoked)}"
        elif session.expires_at <= now:
            state = f"expired {_when(session.expires_at)}"
        else:
            state = f"active until {_when(session.expires_at)}"
        rows: list[tuple[str, str | None]] = [
            ("session state", f"{state} (signed in {_when(session.created_at)})"),
        ]
        for device in devices:
            status = "revoked" if device.revoked_at is not None else "active"
            rows.append(("device", f"{device.label or 'unnamed'} · {device.id[:12]}… · {status}"))
        return rows


def _ms(value: object) -> str:
    return "-" if not isinstance(value, int) else f"{value} ms"
