"""The summary screen: aggregates over the last day and week."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

from textual.widgets import DataTable, Sparkline

from warden.audit import AuditLog, DlpFinding, Usage
from warden.console import ReviewerScope
from warden.console.summary import summarize
from warden.console.summary_screen import SummaryScreen

from .conftest import NOW, RECORDS, MakeApp, record


async def test_day_and_week(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("4")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SummaryScreen)
        summary = screen.summary
        assert summary is not None
        assert summary.requests == RECORDS
        assert summary.blocks == sum(1 for n in range(RECORDS) if n % 7 == 3)
        assert {g.tenant for g in summary.groups} == {"acme", "globex"}
        assert {name for name, _ in summary.entities} == {
            "EMAIL_ADDRESS",
            "PHONE_NUMBER",
            "CREDIT_CARD",
        }
        assert sum(summary.hourly) == RECORDS and len(summary.hourly) == 24
        assert screen.query_one("#summary-groups", DataTable).row_count == 5
        assert sum(screen.query_one("#spark-requests", Sparkline).data or []) == RECORDS
        await pilot.press("w")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.summary is not None and len(screen.summary.hourly) == 24 * 7


def test_a_flow_with_several_records_counts_once(tmp_path: Path) -> None:
    """The gateway records a flow before its request leaves and again with its answer (a
    stream also at its end); those later records name the first: one request, one
    redaction, its findings once, and the tokens of the answer."""
    sessions = {("acme", "alice"): "s" * 16}
    base = record(0, sessions)
    found = (DlpFinding("EMAIL_ADDRESS", 2, "messages[0].content"),)
    first = dataclasses.replace(
        base, outcome="redacted", findings=found, usage=None, details={"phase": "request"}
    )
    answer = dataclasses.replace(
        first,
        record_id="a" * 32,
        usage=Usage(tokens_in=100, tokens_out=10),
        details={"flow_record": first.record_id},
    )
    end = dataclasses.replace(
        answer,
        record_id="b" * 32,
        usage=Usage(tokens_in=0, tokens_out=5),
        details={"phase": "stream_end", "flow_record": first.record_id},
    )
    log = AuditLog.open(tmp_path / "audit.db")
    log.append([first, answer, end])
    log.close()
    conn = sqlite3.connect(tmp_path / "audit.db")
    summary = summarize(conn, ReviewerScope.administrator(), NOW, 24)
    assert summary.requests == 1 and sum(summary.hourly) == 1
    assert [g.redactions for g in summary.groups] == [1]
    assert summary.tokens == 115
    assert summary.entities == (("EMAIL_ADDRESS", 2),)
