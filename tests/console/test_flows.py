"""The flow list: paging, filters, search, sorting, live follow, detail, export, help."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console
from textual.widget import Widget
from textual.widgets import Input, Static

from warden.audit import AuditLog
from warden.console.app import ConsoleApp
from warden.console.detail_screen import DetailScreen
from warden.console.filter_screen import FilterScreen
from warden.console.flows_screen import FlowsScreen
from warden.console.help_screen import HelpScreen

from .conftest import RECORDS, Files, MakeApp, record


async def flows(app: ConsoleApp) -> FlowsScreen:
    screen = app.screen
    assert isinstance(screen, FlowsScreen)
    return screen


async def test_newest_first_one_page(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        screen = await flows(app)
        assert screen.table.row_count == 200  # one page, not the whole log
        assert [r.seq for r in screen.window.rows[:3]] == [RECORDS, RECORDS - 1, RECORDS - 2]
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.matches == f"{RECORDS} matches"


async def test_scrolling_loads_the_next_page_and_end_jumps_to_the_oldest(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        screen = await flows(app)
        screen.table.move_cursor(row=199)
        await pilot.press("down")
        await pilot.pause()
        assert len(screen.window.rows) == RECORDS
        assert screen.table.row_count == RECORDS
        await pilot.press("g")
        await pilot.press("end")
        await pilot.pause()
        assert screen.window.rows[-1].seq == 1
        assert screen.table.cursor_row == screen.table.row_count - 1
        await pilot.press("home")
        await pilot.pause()
        assert screen.window.rows[0].seq == RECORDS


async def test_filter_by_the_rows_user_and_clear(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        screen = await flows(app)
        user = screen.window.rows[0].subject
        await pilot.press("u")
        await pilot.pause()
        assert screen.window.filter.user == user
        assert screen.window.rows and all(r.subject == user for r in screen.window.rows)
        assert f"user={user}" in str(screen.query_one("#filter-bar").render())
        await pilot.press("x")
        await pilot.pause()
        assert screen.window.filter.active() == []


async def test_filter_form_outcome_and_time_range(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        screen = await flows(app)
        await pilot.press("f")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, FilterScreen)
        form.query_one("#filter-outcome", Input).value = "blocked"
        form.query_one("#filter-since", Input).value = "1h"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is screen
        rows = screen.window.rows
        assert rows and all(r.outcome == "blocked" for r in rows)
        assert all(r.ts >= "2025-03-02T11:00:00.000Z" for r in rows)
        assert len(rows) == sum(
            1
            for n in range(RECORDS - 60, RECORDS)
            if record(n, {k: "x" * 16 for k in _users()}).outcome == "blocked"
        )


def _users() -> list[tuple[str, str]]:
    from .conftest import USERS

    return [(t, u) for t, users in USERS.items() for u, _ in users]


async def test_filter_form_rejects_a_bad_time(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("f")
        await pilot.pause()
        app.screen.query_one("#filter-since", Input).value = "yesterday-ish"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, FilterScreen)
        assert "is not a time" in str(app.screen.query_one("#filter-error").render())
        await pilot.press("escape")


async def test_free_text_search_and_entity_filter(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        screen = await flows(app)
        await pilot.press("slash")
        await pilot.press(*"case", "space", *"17", "space", *"of")
        assert screen.query_one("#search", Input).value == "case 17 of"
        await pilot.press("enter")
        await pilot.pause()
        assert [r.seq for r in screen.window.rows] == [18]  # record n=17 is seq 18
        assert screen.table.has_focus
        screen.reload(
            screen.window.filter.with_value("text", None).with_value("entity_type", "CREDIT_CARD")
        )
        await pilot.pause()
        assert screen.window.rows and all(
            r.entity_types == ("CREDIT_CARD",) for r in screen.window.rows
        )


async def test_sort_cycles_and_reverses(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        screen = await flows(app)
        await pilot.press("s")  # time -> tenant
        await pilot.pause()
        assert screen.window.sort.key == "tenant"
        tenants = [r.tenant for r in screen.window.rows]
        assert tenants == sorted(tenants, reverse=True)
        await pilot.press("r")
        await pilot.pause()
        assert screen.window.rows[0].tenant == "acme"
        await pilot.click("#flows", offset=(30, 0))  # the User header: sorts by user
        await pilot.pause()
        assert screen.window.sort.key == "user"


async def test_live_follow_puts_new_records_on_top(make_app: MakeApp, copy_files: Files) -> None:
    app = make_app(data=copy_files)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        screen = await flows(app)
        log = AuditLog.open(copy_files.audit_db)
        try:
            log.append([record(n, copy_files.session_ids) for n in range(RECORDS, RECORDS + 3)])
        finally:
            log.close()
        screen.poll()
        await pilot.pause()
        assert [r.seq for r in screen.window.rows[:3]] == [RECORDS + 3, RECORDS + 2, RECORDS + 1]
        await pilot.press("l")  # paused: new records are not added
        log = AuditLog.open(copy_files.audit_db)
        try:
            log.append([record(RECORDS + 3, copy_files.session_ids)])
        finally:
            log.close()
        screen.poll()
        assert screen.window.rows[0].seq == RECORDS + 3


def text_of(widget: Widget) -> str:
    assert isinstance(widget, Static)
    """What a Static shows, as plain text."""
    console = Console(width=118, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


async def test_detail_shows_identity_decision_findings_prompt_and_chain(
    make_app: MakeApp, files: Files
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        screen = await flows(app)
        screen.reload(screen.window.filter.with_value("outcome", "blocked"))
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        detail = app.screen
        assert isinstance(detail, DetailScreen)
        assert detail.detail is not None and detail.detail.chain.ok
        chain = text_of(detail.query_one("#detail-chain"))
        assert "✓ verified: hash recomputed and linked to #" in chain
        assert "not yet covered by a signed checkpoint" in chain  # the newest records
        body = text_of(detail.query_one("#detail-body"))
        for expected in ("Identity chain", "auth method", "active until", "-laptop",
                         "rule-blocked", "2025-03-01.1", "DLP findings", "Redacted prompt",
                         "<EMAIL_ADDRESS_1>", "Usage and timing"):  # fmt: skip
            assert expected in body, expected
        await pilot.press("j")
        await pilot.pause()
        assert '"rule_id": "rule-blocked"' in text_of(detail.query_one("#detail-body"))
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
        # An older record is covered by the checkpoint signed after the first half.
        app.push_screen(DetailScreen(app.ctx, 5))
        await pilot.pause()
        assert "(signature valid)" in text_of(app.screen.query_one("#detail-chain"))


async def test_export_writes_the_filtered_view(make_app: MakeApp, tmp_path: Path) -> None:
    app = make_app()
    out = tmp_path / "blocked.jsonl"
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        screen = await flows(app)
        screen.reload(screen.window.filter.with_value("outcome", "blocked"))
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one("#export-path", Input).value = str(out)
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines and all(line["record"]["outcome"] == "blocked" for line in lines)
    assert len(lines) == sum(1 for n in range(RECORDS) if n % 7 == 3)
    assert out.stat().st_mode & 0o777 == 0o600


async def test_help_and_command_palette(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Go to Summary")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert app.current_mode == "summary"
        await pilot.press("2")
        await pilot.pause()
        assert app.current_mode == "sessions"
