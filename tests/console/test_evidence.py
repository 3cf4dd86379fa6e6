"""Sealed evidence in the console: a reviewer with the private key sees it, nobody else does."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from textual.widgets import Input, Label

from tests.audit.sealing import add_recipient, capture, investigator
from warden.audit.evidence_access import ACCESS_EVENT
from warden.console import ReviewerScope
from warden.console.app import ConsoleApp
from warden.console.detail_screen import DetailScreen
from warden.console.evidence_screen import EvidenceKeyScreen, EvidenceScreen

from .conftest import ACME, Files, MakeApp
from .test_flows import text_of

SECRET = "my IBAN is DE89370400440532013000"


def _captured(files: Files) -> tuple[int, Path, Path]:
    """A blocked acme flow with sealed evidence in ``files``: (its seq, the investigator's
    key file, another person's key file)."""
    folder = files.audit_db.parent
    rita = investigator(folder, "rita")
    mallory = investigator(folder, "mallory")
    add_recipient(folder / "recipients", "acme", rita.public)
    request = json.dumps({"messages": [{"role": "user", "content": SECRET}]}).encode()
    record, _ = capture(files.audit_db, folder / "recipients", request=request)
    with sqlite3.connect(files.audit_db) as conn:
        (seq,) = conn.execute(
            "SELECT seq FROM records WHERE record_id = ?", (record.record_id,)
        ).fetchone()
    return seq, rita.key_file, mallory.key_file


def _accesses(files: Files) -> list[tuple[str, dict[str, object]]]:
    with sqlite3.connect(files.audit_db) as conn:
        return [
            (outcome, json.loads(body)["details"])
            for outcome, body in conn.execute(
                "SELECT outcome, body FROM records WHERE event = ? ORDER BY seq", (ACCESS_EVENT,)
            )
        ]


async def _settle(app: ConsoleApp, pilot: object, error: Label) -> str:
    """Wait until the opening attempt is over: the dialog shows a result or has gone."""
    for _ in range(500):  # each pause yields to the worker thread; a cap, not a timer
        await pilot.pause()  # type: ignore[attr-defined]
        shown = str(error.render())
        if not isinstance(app.screen, EvidenceKeyScreen) or shown not in ("", "opening…"):
            return shown
    raise AssertionError("the evidence dialog never finished opening")


async def _open_dialog(app: ConsoleApp, pilot: object, seq: int) -> EvidenceKeyScreen:
    app.push_screen(DetailScreen(app.ctx, seq))
    await pilot.pause()  # type: ignore[attr-defined]
    assert "evidence_id" in text_of(app.screen.query_one("#detail-body"))
    await pilot.press("e")  # type: ignore[attr-defined]
    await pilot.pause()  # type: ignore[attr-defined]
    dialog = app.screen
    assert isinstance(dialog, EvidenceKeyScreen)
    return dialog


async def test_the_reviewer_with_the_key_sees_the_evidence_and_others_do_not(
    make_app: MakeApp, copy_files: Files
) -> None:
    seq, rita_key, mallory_key = _captured(copy_files)
    app = make_app(scope=ACME, data=copy_files)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        dialog = await _open_dialog(app, pilot, seq)
        error = dialog.query_one("#evidence-error", Label)
        # without a key: nothing opens
        await pilot.press("enter")
        assert "Give the path" in await _settle(app, pilot, error)
        # another person's key: a clear error, the dialog stays, nothing is shown
        dialog.query_one("#evidence-key", Input).value = str(mallory_key)
        await pilot.press("enter")
        shown = await _settle(app, pilot, error)
        assert "this private key cannot open the evidence" in shown
        assert isinstance(app.screen, EvidenceKeyScreen)
        assert dialog.query_one("#evidence-key", Input).value == ""  # the path is not kept
        # the investigator's key: the request as sent, with what DLP would have redacted
        dialog.query_one("#evidence-key", Input).value = str(rita_key)
        await pilot.press("enter")
        await _settle(app, pilot, error)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, EvidenceScreen)
        assert "matches the record in the chain" in text_of(screen.query_one("#evidence-head"))
        body = text_of(screen.query_one("#evidence-body"))
        assert "DE89370400440532013000" in body and "noted" in body
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
    accesses = _accesses(copy_files)
    assert [outcome for outcome, _ in accesses] == ["failed", "ok"]
    assert all(d["reviewer"] == "rita@acme.example" and d["via"] == "console" for _, d in accesses)
    assert accesses[0][1]["reason"] == "wrong key"


async def test_a_reviewer_of_another_tenant_is_refused_and_recorded(
    make_app: MakeApp, copy_files: Files
) -> None:
    seq, rita_key, _ = _captured(copy_files)
    # an administrator can see the record; a globex reviewer cannot even see it
    globex = ReviewerScope.limited("gus@globex.example", ["globex"])
    app = make_app(scope=globex, data=copy_files)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        app.push_screen(DetailScreen(app.ctx, seq))
        await pilot.pause()
        assert "No record" in text_of(app.screen.query_one("#detail-chain"))
        await pilot.press("e")
        await pilot.pause()
        assert not isinstance(app.screen, EvidenceKeyScreen)
    # and opening by id directly (as the dialog would) is refused by scope, and recorded
    from warden.audit.evidence_access import EvidenceAccessError, open_evidence

    with sqlite3.connect(copy_files.audit_db) as conn:
        (body,) = conn.execute("SELECT body FROM records WHERE seq = ?", (seq,)).fetchone()
    evidence_id = json.loads(body)["details"]["evidence_id"]
    try:
        open_evidence(
            copy_files.audit_db,
            evidence_id,
            rita_key,
            reviewer="gus",
            via="console",
            allows=globex.allows,
        )
    except EvidenceAccessError as exc:
        assert "outside your scope" in exc.message
    else:
        raise AssertionError("a reviewer outside the tenant opened its evidence")
    assert _accesses(copy_files)[-1][0] == "denied"


def test_a_cut_answer_says_so_beside_what_passed() -> None:
    from warden.audit.evidence import CapturedBody
    from warden.console.evidence_screen import _body

    passed = CapturedBody(b"data: {}\n\n", 10, False, "text/event-stream")
    shown = _body("Answer", passed, "cut: Client disconnected.").plain
    assert "text/event-stream, 10 bytes, cut: Client disconnected." in shown
    assert "data: {}" in shown
    assert "cut" not in _body("Answer", passed, None).plain
