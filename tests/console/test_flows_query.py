"""The query layer: time parsing, access-path choice, keyset pages and the scan budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from warden.console import flows
from warden.console.db import ConsoleDataError, open_readonly
from warden.console.flows import FilterError, FlowFilter, FlowQuery, FlowWindow, Sort, parse_time
from warden.console.scope import ReviewerScope

from .conftest import ADMIN, NOW, RECORDS, Files


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", "2025-03-01T12:00:00.000Z"),
        ("90m", "2025-03-02T10:30:00.000Z"),
        ("7d", "2025-02-23T12:00:00.000Z"),
        ("2025-03-01", "2025-03-01T00:00:00.000Z"),
        ("2025-03-01T12:30", "2025-03-01T12:30:00.000Z"),
        ("2025-03-01 12:30:00+02:00", "2025-03-01T10:30:00.000Z"),
    ],
)
def test_parse_time(text: str, expected: str) -> None:
    assert parse_time(text, NOW) == expected


def test_parse_time_says_what_it_accepts() -> None:
    with pytest.raises(FilterError, match="24h / 7d"):
        parse_time("last tuesday", NOW)


def test_readonly_connection_cannot_write(files: Files, tmp_path: Path) -> None:
    conn = open_readonly(files.audit_db, "audit")
    with pytest.raises(Exception, match=r"readonly|read-only|query_only"):
        conn.execute("DELETE FROM checkpoints")
    with pytest.raises(ConsoleDataError, match="no audit database"):
        open_readonly(tmp_path / "missing.db", "audit")


def test_plan_uses_a_selective_index(files: Files) -> None:
    query = FlowQuery(open_readonly(files.audit_db, "audit"), ADMIN)
    assert query.plan(FlowFilter()).driver == "log in order"
    assert query.plan(FlowFilter(user="alice")).driver.startswith("user index")
    assert query.plan(FlowFilter(entity_type="CREDIT_CARD")).driver.startswith("entity_type index")
    assert query.plan(FlowFilter(text="case 17 of")).driver == "text index, 1 entries"
    assert query.plan(FlowFilter(since="2099-01-01T00:00:00.000Z")).driver.startswith("time range")
    assert query.plan(FlowFilter(), Sort("tokens")).driver == "tokens order index"
    scoped = FlowQuery(query.conn, ReviewerScope.limited("r", ["acme"]))
    assert scoped.plan(FlowFilter(tenant="globex")).empty


def test_keyset_pages_cover_every_record_once(files: Files) -> None:
    query = FlowQuery(open_readonly(files.audit_db, "audit"), ADMIN, page_size=50)
    for sort in (Sort(), Sort("time", False), Sort("user"), Sort("tokens", False)):
        window = FlowWindow(query, max_rows=1000)
        window.reset(FlowFilter(), sort)
        while window.more_after:
            window.load_after()
        seqs = [r.seq for r in window.rows]
        assert sorted(seqs) == list(range(1, RECORDS + 1)), sort


def test_window_stays_bounded_and_pages_back(files: Files) -> None:
    query = FlowQuery(open_readonly(files.audit_db, "audit"), ADMIN, page_size=50)
    window = FlowWindow(query, max_rows=100)
    window.reset()
    window.load_after()
    window.load_after()
    assert len(window.rows) == 100 and window.more_before
    assert window.rows[0].seq == RECORDS - 50
    window.load_before()
    assert window.rows[0].seq == RECORDS and len(window.rows) == 100


def test_a_page_cut_short_by_the_budget_resumes_where_it_stopped(
    files: Files, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A two-letter term that starts more trigrams than the index is asked for is common:
    the log is read in order, a chunk per fetch."""
    monkeypatch.setattr(flows, "SHORT_TERM_TRIGRAMS", 0)
    conn = open_readonly(files.audit_db, "audit")
    query = FlowQuery(conn, ADMIN, page_size=50, scan_budget_s=0.0)
    flt = FlowFilter(text="17")
    assert query.plan(flt).driver == "log in order"
    page = query.fetch(flt, Sort(), None)
    found, steps = [r.seq for r in page.rows], 1
    while page.more:
        page = query.fetch(flt, Sort(), page.cursor)
        found += [r.seq for r in page.rows]
        steps += 1
    assert steps > 2  # cut short at least once
    expected = [
        seq
        for (seq,) in conn.execute(
            "SELECT seq FROM records WHERE EXISTS (SELECT 1 FROM json_tree(body) "
            "WHERE type = 'text' AND key NOT IN ('record_id', 'ts', 'started_at') "
            "AND value LIKE '%17%') ORDER BY seq DESC"
        )
    ]
    assert found == expected and expected


def test_poll_returns_only_newer_matching(files: Files) -> None:
    query = FlowQuery(open_readonly(files.audit_db, "audit"), ADMIN)
    rows, mark = query.poll(FlowFilter(outcome="blocked"), RECORDS - 10)
    assert mark == RECORDS
    assert [r.seq for r in rows] == [s for s in range(RECORDS - 9, RECORDS + 1) if (s - 1) % 7 == 3]


def test_scope_rejects_an_empty_tenant_list() -> None:
    with pytest.raises(ValueError, match="no tenant"):
        ReviewerScope.limited("r", [])
