"""`IntegrityScreen`: runs `warden.audit.verify` in a worker thread with a progress bar and
shows the result per tenant (of the reviewer's scope) and each tenant's last signed checkpoint.

A limited reviewer's verify runs tenant by tenant over their tenants only; the
administrator's runs over the whole file. The database is opened read-only by verify.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, ProgressBar, Static

from warden.audit import AuditStoreError, SigningKeyError, VerifyReport, load_public_key, verify
from warden.audit.findings import Finding
from warden.audit.verify import TenantSummary

from .context import ConsoleContext
from .flows import visible_tenants


class IntegrityScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("v", "verify", "Verify now"),
        Binding("ctrl+r", "refresh", "Refresh checkpoints"),
    ]

    def __init__(self, ctx: ConsoleContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.report: VerifyReport | None = None
        self.running = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Press v to verify every chain in your scope.", id="verify-status")
        yield ProgressBar(id="verify-progress", show_eta=False)
        yield Label("Per tenant", classes="section-title")
        yield DataTable(id="verify-tenants", cursor_type="row")
        yield Label("Findings", classes="section-title")
        yield Static("", id="verify-findings")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Integrity"
        self.sub_title = self.ctx.scope.describe()
        self.query_one("#verify-tenants", DataTable).add_columns(
            "Tenant", "Records", "Chain tail", "Checkpoints", "Last signed checkpoint",
            "Unsigned tail", "Result",
        )  # fmt: skip
        self.action_refresh()

    def action_refresh(self) -> None:
        """The last signed checkpoint of each tenant, without verifying."""
        if self.report is not None:
            self._show(self.report)
            return
        conn = self.ctx.audit()
        scope_sql, params = self.ctx.scope.sql("tenant")
        rows = conn.execute(
            "SELECT tenant, MAX(tenant_seq), MAX(ts), COUNT(*) FROM checkpoints "  # noqa: S608 - constant SQL
            f"WHERE {scope_sql} GROUP BY tenant ORDER BY tenant",
            params,
        ).fetchall()
        tenants = {row[0]: row for row in rows}
        table = self.query_one("#verify-tenants", DataTable)
        table.clear()
        for tenant in sorted(set(tenants) | set(visible_tenants(conn, self.ctx.scope))):
            row = tenants.get(tenant)
            last = f"#{row[1]} at {row[2]}" if row else "none"
            table.add_row(tenant, "", "", str(row[3]) if row else "0", last, "", "not verified")

    def action_verify(self) -> None:
        if self.running:
            self.notify("verify is running already")
            return
        try:
            key = load_public_key(self.ctx.audit_pub)
        except SigningKeyError as exc:
            self.query_one("#verify-status", Static).update(Text(str(exc), style="bold red"))
            return
        self.running = True
        self.query_one("#verify-status", Static).update("Verifying…")
        self.query_one("#verify-progress", ProgressBar).update(total=None, progress=0)
        self._verify(key)

    @work(thread=True, exclusive=True, group="verify")
    def _verify(self, key: object) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        assert isinstance(key, Ed25519PublicKey)
        scope = self.ctx.scope
        done = 0

        def progress(count: int, total: int) -> None:
            self.app.call_from_thread(self._progress, done + count, grand_total or total)

        try:
            if scope.tenants is None:
                grand_total = 0
                report = verify(self.ctx.audit_db, key, None, progress)
            else:
                conn = self.ctx.open_audit()
                try:
                    scope_sql, params = scope.sql("tenant")
                    (grand_total,) = conn.execute(
                        f"SELECT COUNT(*) FROM records WHERE {scope_sql}",  # noqa: S608 - constant SQL
                        params,
                    ).fetchone()
                finally:
                    conn.close()
                findings: list[Finding] = []
                summaries: list[TenantSummary] = []
                for tenant in sorted(scope.tenants):
                    part = verify(self.ctx.audit_db, key, tenant, progress)
                    findings += part.findings
                    summaries += part.tenants
                    done += sum(t.records for t in part.tenants)
                report = VerifyReport(tuple(findings), tuple(summaries))
        except AuditStoreError as exc:
            self.app.call_from_thread(self._failed, exc.diagnostics())
            return
        self.app.call_from_thread(self._finished, report)

    def _progress(self, count: int, total: int) -> None:
        bar = self.query_one("#verify-progress", ProgressBar)
        bar.update(total=max(total, count, 1) if total else max(count, 1), progress=count)

    def _failed(self, text: str) -> None:
        self.running = False
        self.query_one("#verify-status", Static).update(Text(text, style="bold red"))

    def _finished(self, report: VerifyReport) -> None:
        self.running = False
        self.report = report
        self._show(report)

    def _show(self, report: VerifyReport) -> None:
        bar = self.query_one("#verify-progress", ProgressBar)
        bar.update(total=max(1, bar.progress), progress=max(1, bar.progress))
        status = self.query_one("#verify-status", Static)
        if report.ok:
            status.update(Text("✓ OK: every chain in your scope verifies", style="bold green"))
        else:
            status.update(
                Text(f"✗ FAILED: {len(report.findings)} finding(s)", style="bold white on red")
            )
        bad = {f.tenant for f in report.findings}
        table = self.query_one("#verify-tenants", DataTable)
        table.clear()
        for t in report.tenants:
            table.add_row(*self._cells(t, t.tenant not in bad))
        findings = Text()
        for finding in report.findings[:200]:
            findings.append(finding.describe() + "\n", style="red")
        if len(report.findings) > 200:
            findings.append(f"… and {len(report.findings) - 200} more\n", style="red")
        self.query_one("#verify-findings", Static).update(findings or Text("none", style="green"))

    @staticmethod
    def _cells(t: TenantSummary, ok: bool) -> list[str | Text]:
        last = (
            f"#{t.newest_checkpoint_seq} at {t.newest_checkpoint_ts}"
            if t.newest_checkpoint_seq is not None
            else "none"
        )
        result = Text("✓ OK", style="green") if ok else Text("✗ FAILED", style="bold red")
        return [
            t.tenant, f"{t.records:,}", f"#{t.tail}", str(t.checkpoints), last,
            str(t.unsigned_tail), result,
        ]  # fmt: skip
