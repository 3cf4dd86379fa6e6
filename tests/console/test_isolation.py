"""A reviewer of tenant acme can neither see nor revoke anything of tenant globex: not in the
flow list, free-text search, a tenant filter, export, a detail opened by number, the
summary, the integrity report or the sessions screen, and not by a forged revocation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from warden.console.detail_screen import DetailScreen
from warden.console.exporting import export_view
from warden.console.flows import FlowFilter, FlowQuery, Sort
from warden.console.flows_screen import FlowsScreen
from warden.console.revocation import GatewayControl, RevokeRequest
from warden.console.scope import OutOfScope
from warden.console.sessions_screen import SessionsScreen
from warden.console.summary_screen import SummaryScreen

from .conftest import ACME, Files, GatewayStandIn, MakeApp
from .test_flows import text_of

GLOBEX_SEQ = 3  # record n=2 is globex's first


async def test_acme_reviewer_sees_nothing_of_globex(
    make_app: MakeApp, files: Files, gateway: GatewayStandIn, tmp_path: Path
) -> None:
    app = make_app(ACME, gateway=gateway)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        flows = app.screen
        assert isinstance(flows, FlowsScreen)
        assert {r.tenant for r in flows.window.rows} == {"acme"}
        await pilot.press("end")  # the whole list, both ends
        await pilot.pause()
        assert {r.tenant for r in flows.window.rows} == {"acme"}
        for flt in (
            FlowFilter(text="globex"),
            FlowFilter(tenant="globex"),
            FlowFilter(user="gina"),
            FlowFilter(user="gina@globex.example"),
            FlowFilter(department="finance"),
        ):
            flows.reload(flt)
            await pilot.pause()
            assert flows.window.rows == [], flt
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert flows.matches == "0 matches"
        assert flows.query_.tenants() == ["acme"]

        # a detail opened by number
        app.push_screen(DetailScreen(app.ctx, GLOBEX_SEQ))
        await pilot.pause()
        assert "No record #3 in your scope" in text_of(app.screen.query_one("#detail-chain"))
        app.pop_screen()

        # the sessions screen and its revocations
        await pilot.press("2")
        await pilot.pause()
        sessions = app.screen
        assert isinstance(sessions, SessionsScreen)
        assert {s.tenant for s in sessions.sessions} == {"acme"}
        assert {d.tenant for d in sessions.devices} == {"acme"}
        assert {b.tenant for b in sessions.surrogates} == {"acme"}
        gina = files.session_ids[("globex", "gina")]
        sessions.revoke(RevokeRequest("globex", session_id=gina))
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "outside rita@acme.example's scope" in text_of(
            sessions.query_one("#sessions-status")
        )

        # the summary
        await pilot.press("4")
        await app.workers.wait_for_complete()
        await pilot.pause()
        summary = app.screen
        assert isinstance(summary, SummaryScreen) and summary.summary is not None
        assert {g.tenant for g in summary.summary.groups} == {"acme"}

    assert gateway.calls == []

    # export of a view that asks for everything
    out = tmp_path / "all.jsonl"
    query = FlowQuery(app.ctx.open_audit(), ACME)
    count = export_view(query, FlowFilter(), Sort(), out)
    tenants = {json.loads(line)["record"]["tenant"] for line in out.read_text().splitlines()}
    assert tenants == {"acme"} and count == 160


async def test_forged_revocation_is_refused_before_sending(gateway: GatewayStandIn) -> None:
    control = GatewayControl(gateway.url, gateway.token_file)
    with pytest.raises(OutOfScope):
        await control.revoke(
            ACME, RevokeRequest("globex", subject="gina", issuer="https://idp.globex.example")
        )
    assert gateway.calls == []
    assert await control.revoke(ACME, RevokeRequest("acme", session_id="x" * 64)) == 1
    assert gateway.calls == [{"tenant": "acme", "session_id": "x" * 64}]
