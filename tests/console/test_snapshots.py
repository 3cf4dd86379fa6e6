"""SVG snapshots of the main screens (deterministic data, frozen clock, workers awaited).

Update after an intended change: ``pytest tests/console/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from warden.console.app import ConsoleApp
from warden.console.detail_screen import DetailScreen

from .conftest import ACME, MakeApp

SIZE = (120, 36)


async def settle(pilot: Pilot[Any]) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_flows(snap_compare: Any, make_app: MakeApp) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=settle)


def test_flows_filtered_reviewer(snap_compare: Any, make_app: MakeApp) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("o")  # this row's outcome
        await settle(pilot)

    assert snap_compare(make_app(ACME), terminal_size=SIZE, run_before=run_before)


def pressed(*keys: str) -> Any:
    """Settle, press ``keys``, settle again: what the pressed keys start (a screen's
    workers) is finished before the picture is taken. Passing ``press=`` to snap_compare
    took it after one pause, which on a loaded machine caught the form half-filled."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press(*keys)
        await settle(pilot)

    return run_before


def test_filter_form(snap_compare: Any, make_app: MakeApp) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await pressed("f")(pilot)
        # The focused field's cursor blinks every 0.5 s of wall time: whether the picture
        # caught it on or off depended on how loaded the machine was. Held on.
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_detail(snap_compare: Any, make_app: MakeApp) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        app = pilot.app
        assert isinstance(app, ConsoleApp)
        app.push_screen(DetailScreen(app.ctx, 235))  # a redacted flow with a prompt
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_sessions(snap_compare: Any, make_app: MakeApp) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=pressed("2"))


def test_integrity_verified(snap_compare: Any, make_app: MakeApp) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.press("3", "v")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_summary(snap_compare: Any, make_app: MakeApp) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.press("4")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_help(snap_compare: Any, make_app: MakeApp) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=pressed("question_mark"))
