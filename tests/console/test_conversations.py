"""Conversations in the console: one row per flow, the conversation view (c), and the
request filters (conversation, client, transport, method, path; records=all)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from textual.widgets import DataTable, Input

from warden.audit import (
    AuditLog,
    AuditRecord,
    CheckpointSigner,
    Decision,
    Destination,
    DlpFinding,
    Principal,
    Usage,
)
from warden.audit.record import Request
from warden.console.app import ConsoleApp
from warden.console.conversation_screen import ConversationScreen
from warden.console.conversations import Turn, _merge, load_conversation
from warden.console.detail_screen import DetailScreen
from warden.console.filter_screen import FilterScreen
from warden.console.flows import RECORDS_ALL, FilterError, FlowFilter, FlowQuery
from warden.console.flows_screen import FlowsScreen
from warden.console.scope import ReviewerScope

from .conftest import ADMIN, NOW, Files, MakeApp, build_state, issuer

CONV = "6f1c2a9e-3b4d-4c5e-8f90-a1b2c3d4e5f6"


def _principal(name: str, tenant: str = "acme") -> Principal:
    return Principal(issuer=issuer(tenant), subject=name, email=f"{name}@{tenant}.example",
                     department="research", auth_method="device")  # fmt: skip


class Log:
    """Builds flows the way the gateway records them: a request record, then the answer's
    (a stream's start and end) naming it in ``details.flow_record``."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []
        self.minute = 0

    def _new(self, **fields: Any) -> AuditRecord:
        self.minute += 1
        moment = NOW - datetime.timedelta(minutes=60 - self.minute)
        rec = AuditRecord.new(kind="flow", now=moment, **fields)
        self.records.append(rec)
        return rec

    def flow(
        self,
        name: str,
        request: Request,
        *,
        model: str = "claude-sonnet-4",
        outcome: str = "allowed",
        stream: bool = False,
        usage: Usage | None = None,
        findings: tuple[DlpFinding, ...] = (),
        tenant: str = "acme",
    ) -> None:
        action = {"allowed": "allow", "redacted": "redact", "blocked": "block"}[outcome]
        base: dict[str, Any] = {
            "tenant": tenant,
            "principal": _principal(name, tenant),
            "destination": Destination(
                "anthropic", "anthropic", "api.anthropic.com", "api", "anthropic.messages", model
            ),
            "decision": Decision(action, f"rule-{action}", "v1"),
            "findings": findings,
            "request": request,
        }
        if outcome == "blocked":  # answered here: one record
            self._new(outcome=outcome, status=403, **base)
            return
        first = self._new(outcome=outcome, details={"phase": "request"}, **base)
        join = {"flow_record": first.record_id}
        if stream:
            self._new(outcome=outcome, status=200, details={**join, "phase": "stream_start"},
                      **base)  # fmt: skip
            self._new(outcome=outcome, status=200, usage=usage,
                      details={**join, "phase": "stream_end"}, **base)  # fmt: skip
        else:
            self._new(outcome=outcome, status=200, usage=usage, details=join, **base)


def _request(conversation: str | None, path: str = "/v1/messages", **kw: Any) -> Request:
    return Request(kw.pop("method", "POST"), path, kw.pop("transport", "http"),
                   kw.pop("client", "claude-code/2.0.14"), conversation)  # fmt: skip


@pytest.fixture(scope="module")
def convo(tmp_path_factory: pytest.TempPathFactory) -> Files:
    folder = tmp_path_factory.mktemp("conversations")
    key_bytes = bytes(range(32))
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from warden.audit import export_public_key

    key = Ed25519PrivateKey.from_private_bytes(key_bytes)
    (folder / "audit-signing.pub").write_bytes(export_public_key(key.public_key()))
    build_state(folder / "state.db")
    log = Log()
    # alice's agent session: three turns (plain, streamed without usage, blocked)
    log.flow("alice", _request(CONV), usage=Usage(120, 30))
    log.flow("bob", _request("bob-session-1"), usage=Usage(5, 5))  # someone else, between
    log.flow("alice", _request(CONV), stream=True, usage=Usage(None, 42, estimated=True))
    log.flow("alice", _request(None, client="curl/8.5.0"), usage=Usage(1, 1))  # no conversation
    log.flow("alice", _request(CONV), outcome="blocked",
             findings=(DlpFinding("US_SSN", 1, "messages[0].content"),))  # fmt: skip
    log.flow("gina", _request("g-1", "/v1/responses", client="openai-python/1.54.3"),
             tenant="globex", model="gpt-4.1", usage=Usage(9, 9))  # fmt: skip
    log.flow("bob", _request(None, "/v1/models", method="GET", client="curl/8.5.0"))
    log.flow("bob", _request(None, "/v1/realtime", transport="websocket",
                             client="openai-node/4.77.0"))  # fmt: skip
    audit = AuditLog.open(folder / "audit.db")
    try:
        audit.append(log.records)
    finally:
        audit.close()
    return Files(folder / "audit.db", folder / "state.db", folder / "audit-signing.pub",
                 CheckpointSigner(key))  # fmt: skip


def _query(files: Files, scope: ReviewerScope = ADMIN) -> FlowQuery:
    import sqlite3

    return FlowQuery(sqlite3.connect(files.audit_db), scope)


# -- one row per flow ---------------------------------------------------------------------


def test_each_flow_is_one_row_and_records_all_shows_every_record(convo: Files) -> None:
    query = _query(convo)
    assert query.count(FlowFilter()) == (8, False)  # eight flows ...
    assert query.count(FlowFilter(records=RECORDS_ALL)) == (16, False)  # ... of 16 records
    rows = query.fetch(FlowFilter(conversation=CONV), _sort(), None).rows
    # each row is the flow's last record: the one with the usage
    assert [(r.outcome, r.tokens_out) for r in rows] == [
        ("blocked", None), ("allowed", 42), ("allowed", 30),
    ]  # fmt: skip


def _sort() -> Any:
    from warden.console.flows import Sort

    return Sort()


# -- the request filters --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (FlowFilter(conversation=CONV), 3),
        (FlowFilter(conversation=CONV[:8]), 0),  # ids match whole, never by prefix
        (FlowFilter(client="claude-code"), 4),  # a prefix of the family
        (FlowFilter(client="claude-code/2.0.14"), 4),
        (FlowFilter(client="curl"), 2),
        (FlowFilter(transport="websocket"), 1),
        (FlowFilter(method="GET"), 1),
        (FlowFilter(path="/v1/responses"), 1),
        (FlowFilter(path="/v1/"), 8),
        (FlowFilter(user="alice", conversation=CONV), 3),
        (FlowFilter(user="bob", conversation=CONV), 0),
    ],
)
def test_request_filters(convo: Files, flt: FlowFilter, expected: int) -> None:
    assert _query(convo).count(flt) == (expected, False)


def test_a_prompt_cannot_fake_a_conversation(convo: Files) -> None:
    """The body's text holds the id only as an escaped string: the member match is exact."""
    assert _query(convo).count(FlowFilter(text=CONV)) == (3, False)
    assert _query(convo).count(FlowFilter(conversation='x","conversation":"y')) == (0, False)


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("transport", "pigeon", "use http or websocket"),
        ("method", "PO ST", "HTTP method"),
        ("path", "/v1/chat?key=1", "without a query"),
        ("path", "v1/chat", "starting with '/'"),
        ("records", "some", "'all'"),
    ],
)
def test_request_filters_refuse_what_they_cannot_use(name: str, value: str, problem: str) -> None:
    from warden.console.flows import checked_request_filters

    with pytest.raises(FilterError, match=problem):
        checked_request_filters({name: value})


# -- the conversation view ---------------------------------------------------------------


def test_a_conversation_is_its_turns_in_order(convo: Files) -> None:
    import sqlite3

    found = load_conversation(sqlite3.connect(convo.audit_db), ADMIN, "acme", CONV, "alice")
    assert len(found.turns) == 3
    assert [t.outcome for t in found.turns] == ["allowed", "allowed", "blocked"]
    assert [t.records for t in found.turns] == [2, 3, 1]  # a flow's records make one turn
    assert [t.tokens for t in found.turns] == ["120 / 30", "- / 42 (est.)", "-"]
    assert found.turns[2].findings == {"US_SSN": 1}
    assert found.email == "alice@acme.example"


def test_another_tenants_reviewer_sees_no_turn(convo: Files) -> None:
    """Negative: a reviewer of globex asking for acme's conversation gets nothing."""
    import sqlite3

    globex = ReviewerScope.limited("gus@globex.example", ["globex"])
    found = load_conversation(sqlite3.connect(convo.audit_db), globex, "acme", CONV, "alice")
    assert found.turns == ()


def test_evidence_is_marked_where_a_record_references_it() -> None:
    turn = Turn(key="k", ts="2025-03-02T11:00:00.000Z", seq=1)
    _merge(turn, 1, {"outcome": "blocked", "evidence": {"sha256": "ab" * 32}})
    assert turn.evidence and turn.outcome == "blocked"


async def _flows(app: ConsoleApp) -> FlowsScreen:
    screen = app.screen
    assert isinstance(screen, FlowsScreen)
    return screen


async def test_c_on_a_flow_and_on_its_detail_opens_its_conversation(
    make_app: MakeApp, convo: Files
) -> None:
    app = make_app(data=convo)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        screen = await _flows(app)
        rows = screen.window.rows
        index = next(i for i, r in enumerate(rows) if r.conversation == CONV)
        screen.table.move_cursor(row=index)
        await pilot.press("c")
        await pilot.pause()
        view = app.screen
        assert isinstance(view, ConversationScreen)
        table = view.query_one("#conversation-turns", DataTable)
        assert table.row_count == 3
        assert "3 turns" in str(view.query_one("#conversation-head").render())
        # Enter opens the turn's record; c there comes back to the conversation
        table.move_cursor(row=1)
        await pilot.press("enter")
        await pilot.pause()
        detail = app.screen
        assert isinstance(detail, DetailScreen)
        assert detail.detail is not None
        assert detail.detail.raw["details"]["phase"] == "stream_end"  # type: ignore[index]
        await pilot.press("c")
        await pilot.pause()
        again = app.screen
        assert isinstance(again, ConversationScreen) and again is not view
        await pilot.press("escape", "escape", "escape")
        await pilot.pause()
        assert app.screen is screen


async def test_c_on_a_flow_without_a_conversation_says_so(make_app: MakeApp, convo: Files) -> None:
    app = make_app(data=convo)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        screen = await _flows(app)
        index = next(i for i, r in enumerate(screen.window.rows) if r.conversation is None)
        screen.table.move_cursor(row=index)
        await pilot.press("c")
        await pilot.pause()
        assert app.screen is screen


async def test_the_filter_form_takes_the_request_filters(make_app: MakeApp, convo: Files) -> None:
    app = make_app(data=convo)
    async with app.run_test(size=(120, 50)) as pilot:
        await pilot.pause()
        screen = await _flows(app)
        await pilot.press("f")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, FilterScreen)
        form.query_one("#filter-conversation", Input).value = CONV
        form.query_one("#filter-method", Input).value = "post"  # normalized
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is screen
        assert screen.window.filter == FlowFilter(conversation=CONV, method="POST")
        assert len(screen.window.rows) == 3
        bar = str(screen.query_one("#filter-bar").render())
        assert f"conversation={CONV}" in bar and "method=POST" in bar
        await pilot.press("f")
        await pilot.pause()
        app.screen.query_one("#filter-transport", Input).value = "pigeon"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, FilterScreen)
        assert "use http or websocket" in str(app.screen.query_one("#filter-error").render())
        await pilot.press("escape")


def test_conversation_snapshot(snap_compare: Any, make_app: MakeApp, convo: Files) -> None:
    from .test_snapshots import SIZE, settle

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        app = pilot.app
        assert isinstance(app, ConsoleApp)
        app.push_screen(ConversationScreen(app.ctx, "acme", CONV, "alice"))
        await settle(pilot)

    assert snap_compare(make_app(data=convo), terminal_size=SIZE, run_before=run_before)
