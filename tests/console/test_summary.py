"""The summary screen: aggregates over the last day and week."""

from __future__ import annotations

from textual.widgets import DataTable, Sparkline

from warden.console.summary_screen import SummaryScreen

from .conftest import RECORDS, MakeApp


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
