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
    assert query.plan(FlowFilter()).index is None
    assert query.plan(FlowFilter(user="alice")).index == "records_tenant_subject_ts"
    assert query.plan(FlowFilter(since="2099-01-01T00:00:00.000Z")).index == "records_tenant_ts"
    scoped = FlowQuery(query.conn, ReviewerScope.limited("r", ["acme"]))
    assert scoped.plan(FlowFilter(tenant="globex")).clause == "0"


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


def test_body_scan_stops_at_its_budget_and_resumes(
    files: Files, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(flows, "SCAN_SLICE", 50)
    query = FlowQuery(open_readonly(files.audit_db, "audit"), ADMIN, scan_budget_s=0.0)
    flt = FlowFilter(text="case 17 of")
    page = query.fetch(flt, Sort(), None)
    assert page.rows == [] and page.more and page.scanned_to == RECORDS + 1 - 50
    found, steps = [], 1
    while page.more:
        page = query.fetch(flt, Sort(), page.cursor)
        found += [r.seq for r in page.rows]
        steps += 1
    assert found == [18] and steps == 5  # 240 numbers in slices of 50


def test_poll_returns_only_newer_matching(files: Files) -> None:
    query = FlowQuery(open_readonly(files.audit_db, "audit"), ADMIN)
    rows, mark = query.poll(FlowFilter(outcome="blocked"), RECORDS - 10)
    assert mark == RECORDS
    assert [r.seq for r in rows] == [s for s in range(RECORDS - 9, RECORDS + 1) if (s - 1) % 7 == 3]


def test_scope_rejects_an_empty_tenant_list() -> None:
    with pytest.raises(ValueError, match="no tenant"):
        ReviewerScope.limited("r", [])
