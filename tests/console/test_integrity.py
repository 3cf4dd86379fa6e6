"""The integrity screen: verify with progress, OK on the real file, FAILED on a tampered copy."""

from __future__ import annotations

import sqlite3

from textual.pilot import Pilot
from textual.widgets import DataTable, ProgressBar

from warden.console.app import ConsoleApp
from warden.console.integrity_screen import IntegrityScreen

from .conftest import ACME, Files, MakeApp
from .test_flows import text_of


async def run_verify(app: ConsoleApp, pilot: Pilot[None]) -> IntegrityScreen:
    await pilot.pause()
    await pilot.press("3")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, IntegrityScreen)
    await pilot.press("v")
    await app.workers.wait_for_complete()
    await pilot.pause()
    return screen


async def test_verify_ok_with_last_checkpoint(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await run_verify(app, pilot)
        assert screen.report is not None and screen.report.ok
        assert "OK" in text_of(screen.query_one("#verify-status"))
        table = screen.query_one("#verify-tenants", DataTable)
        assert table.row_count == 2
        assert "#80 at 2025-03-02T12:00:00.000Z" in str(table.get_row_at(0)[4])
        bar = screen.query_one("#verify-progress", ProgressBar)
        assert bar.percentage == 1.0


async def test_verify_fails_on_a_tampered_copy(make_app: MakeApp, copy_files: Files) -> None:
    conn = sqlite3.connect(copy_files.audit_db)
    conn.execute("DROP TRIGGER records_no_update")
    conn.execute(
        'UPDATE records SET body = replace(body, \'"outcome":"blocked"\', \'"outcome":"allowed"\') '
        "WHERE seq = 4"
    )
    conn.commit()
    conn.close()
    app = make_app(data=copy_files)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await run_verify(app, pilot)
        assert screen.report is not None and not screen.report.ok
        assert "FAILED" in text_of(screen.query_one("#verify-status"))
        assert "edited seq 4" in text_of(screen.query_one("#verify-findings"))


async def test_reviewer_verifies_only_their_tenants(make_app: MakeApp) -> None:
    app = make_app(ACME)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await run_verify(app, pilot)
        assert screen.report is not None
        assert [t.tenant for t in screen.report.tenants] == ["acme"]
