"""The sessions screen: lists per tenant, revocation through the gateway stand-in."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import cast

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from warden.config import parse_config
from warden.console.app import ConsoleApp, build_app
from warden.console.confirm_screen import ConfirmScreen
from warden.console.sessions_screen import SessionsScreen
from warden.gateway.state.postgres import DSN_ENV, PgConnection, open_pool
from warden.gateway.state.store import migrate_state, open_state_reader
from warden.identity.sessions import SessionStore, UserIdentity

from .conftest import ACME, NOW, Files, GatewayStandIn, MakeApp, issuer
from .test_flows import text_of


async def open_sessions(app: ConsoleApp, pilot: Pilot[None]) -> SessionsScreen:
    await pilot.pause()
    await pilot.press("2")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, SessionsScreen)
    return screen


async def test_lists_sessions_devices_and_bindings(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_sessions(app, pilot)
        assert len(screen.sessions) == 6  # five users, alice twice
        assert screen.query_one("#devices", DataTable).row_count == 5
        assert screen.query_one("#surrogates", DataTable).row_count == 5
        await pilot.press("t")  # acme only
        assert {s.tenant for s in screen.sessions} == {"acme"}
        await pilot.press("t")
        assert {s.tenant for s in screen.sessions} == {"globex"}


async def test_revoke_one_session_after_confirmation(
    make_app: MakeApp, gateway: GatewayStandIn, files: Files
) -> None:
    app = make_app(gateway=gateway)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_sessions(app, pilot)
        target = screen.sessions[0]
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # declined: nothing is sent
        await pilot.pause()
        assert gateway.calls == []
        await pilot.press("r")
        await pilot.pause()
        await pilot.click("#confirm-yes")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert gateway.calls == [{"tenant": target.tenant, "session_id": target.id}]
        assert "the gateway revoked 1 session(s)" in text_of(screen.query_one("#sessions-status"))


async def test_revoke_all_of_a_user(make_app: MakeApp, gateway: GatewayStandIn) -> None:
    gateway.answer = 2
    app = make_app(gateway=gateway)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_sessions(app, pilot)
        alice = next(i for i, s in enumerate(screen.sessions) if s.subject == "alice")
        screen.query_one("#sessions", DataTable).move_cursor(row=alice)
        await pilot.press("R")
        await pilot.pause()
        assert "ALL 2 session(s)" in str(app.screen.query_one("#confirm-question").render())
        await pilot.press("y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert gateway.calls == [
            {"tenant": "acme", "subject": "alice", "issuer": "https://idp.acme.example"}
        ]


async def test_revoke_from_the_device_list(make_app: MakeApp, gateway: GatewayStandIn) -> None:
    app = make_app(gateway=gateway)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_sessions(app, pilot)
        devices = screen.query_one("#devices", DataTable)
        devices.focus()
        devices.move_cursor(row=1)
        await pilot.press("r", "y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        device = screen.devices[1] if len(screen.devices) > 1 else None
        assert gateway.calls and gateway.calls[0]["session_id"] == (
            device.session_id if device else None
        )


async def test_gateway_unreachable_is_a_clear_error(
    make_app: MakeApp, gateway: GatewayStandIn
) -> None:
    gateway.url = "http://127.0.0.1:9"  # nothing listens there
    app = make_app(gateway=gateway)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_sessions(app, pilot)
        await pilot.press("r", "y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        status = text_of(screen.query_one("#sessions-status"))
        assert "unreachable" in status and "nothing was revoked" in status


async def test_wrong_token_is_reported(make_app: MakeApp, gateway: GatewayStandIn) -> None:
    gateway.token_file.write_text("not-the-token")
    app = make_app(gateway=gateway)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_sessions(app, pilot)
        await pilot.press("r", "y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "refused the admin token (401)" in text_of(screen.query_one("#sessions-status"))
        assert gateway.calls == []


async def test_revocation_off_without_control_url(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_sessions(app, pilot)
        assert "revocation off (no control URL)" in text_of(screen.query_one("#sessions-status"))
        await pilot.press("r", "y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "--control-url" in text_of(screen.query_one("#sessions-status"))


async def test_sessions_are_read_from_postgresql_read_only(
    make_app: MakeApp, files: Files, postgres_dsn: str, tmp_path: Path
) -> None:
    """``state.backend: postgresql``: the screen lists the sessions there (not those of a
    local state file), limited to the reviewer's tenants, over a connection that cannot
    write."""
    config = parse_config({"state": {"backend": "postgresql"}}, "test", tmp_path, {})
    env = {DSN_ENV: postgres_dsn}
    migrate_state(config, env)
    pool = open_pool(postgres_dsn)
    try:
        store = SessionStore(
            cast(sqlite3.Connection, PgConnection(pool)), clock=lambda: NOW.timestamp() - 60
        )
        for tenant, name in (("acme", "pat"), ("globex", "gil")):
            who = UserIdentity(tenant, issuer(tenant), name, f"{name}@{tenant}.example", "ops")
            issued = store.create_session(who, "oidc", 3600)
            store.issue_device_credential(issued.session, label=f"{name}-laptop")
    finally:
        pool.close()
    state = open_state_reader(config, env)
    assert state is not None
    try:
        with pytest.raises(sqlite3.Error, match="read-only"):
            state.connect().execute("DELETE FROM sessions")
        app = build_app(
            files.audit_db, tmp_path / "no-state.db", files.audit_pub, None, None, ACME,
            clock=lambda: NOW, poll_interval=3600.0, state_reader=state.connect,
        )  # fmt: skip
        async with app.run_test(size=(120, 36)) as pilot:
            screen = await open_sessions(app, pilot)
            assert [(s.tenant, s.subject, s.devices) for s in screen.sessions] == [
                ("acme", "pat", 1)
            ]
            assert screen.query_one("#devices", DataTable).row_count == 1
    finally:
        state.close()


def test_the_console_on_postgresql_without_a_dsn_says_what_to_set(tmp_path: Path) -> None:
    import os
    import subprocess

    from tests.peers import WARDEN

    config = tmp_path / "warden.yaml"
    config.write_text("state:\n  backend: postgresql\n")
    env = {k: v for k, v in os.environ.items() if k != DSN_ENV}
    out = subprocess.run(
        [str(WARDEN), "--config", str(config), "console", "--admin"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert out.returncode == 2
    assert f"the environment has no {DSN_ENV}" in out.stderr and "To fix this" in out.stderr
