"""warden.gateway.state's migration runner: one transaction, in order, refusing what it does not know."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from warden.gateway.state import (
    SQLITE,
    Domain,
    MigrationsPending,
    SchemaTooNew,
    StateError,
    migrate,
    status,
)
from warden.gateway.state.migrate import require_current
from warden.gateway.state.sqlite import connect

NOTES_V1 = ("notes", ("CREATE TABLE notes (id {rowid}, body TEXT NOT NULL, at {float})",))
NOTES_V2 = ("note tags", ("ALTER TABLE notes ADD COLUMN tag TEXT",))


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


def test_steps_apply_in_order_and_only_once(tmp_path: Path) -> None:
    conn = connect(tmp_path / "s.db")
    applied = migrate(conn, SQLITE, [Domain("notes", (NOTES_V1,))], "s.db")
    assert [(a.domain, a.version) for a in applied] == [("notes", 1)]
    conn.execute("INSERT INTO notes (body, at) VALUES ('kept', 1.5)")
    applied = migrate(conn, SQLITE, [Domain("notes", (NOTES_V1, NOTES_V2))], "s.db")
    assert [(a.domain, a.version, a.summary) for a in applied] == [("notes", 2, "note tags")]
    assert conn.execute("SELECT id, body, at, tag FROM notes").fetchall() == [
        (1, "kept", 1.5, None)
    ]
    assert migrate(conn, SQLITE, [Domain("notes", (NOTES_V1, NOTES_V2))], "s.db") == []


def test_a_failing_step_leaves_nothing_applied(tmp_path: Path) -> None:
    conn = connect(tmp_path / "s.db")
    broken = ("broken", ("CREATE TABLE notes_extra (x)", "THIS IS NOT SQL"))
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, SQLITE, [Domain("notes", (NOTES_V1,)), Domain("b", (broken,))], "s.db")
    assert not conn.in_transaction
    assert _tables(conn) == set()  # neither the first domain's table nor the ledger
    assert status(conn, SQLITE, [Domain("notes", (NOTES_V1,))])[0].current == 0


def test_require_current_names_what_is_pending_and_what_is_too_new(tmp_path: Path) -> None:
    conn = connect(tmp_path / "s.db")
    migrate(conn, SQLITE, [Domain("notes", (NOTES_V1, NOTES_V2))], "s.db")
    with pytest.raises(MigrationsPending, match=r"other 0 -> 1.*warden db migrate"):
        require_current(
            conn, SQLITE, [Domain("notes", (NOTES_V1, NOTES_V2)), Domain("other", (NOTES_V2,))], "x"
        )
    with pytest.raises(SchemaTooNew, match="notes is at version 2, this warden knows up to 1"):
        require_current(conn, SQLITE, [Domain("notes", (NOTES_V1,))], "x")
    with pytest.raises(SchemaTooNew):
        migrate(conn, SQLITE, [Domain("notes", (NOTES_V1,))], "x")
    assert status(conn, SQLITE, [Domain("notes", (NOTES_V1, NOTES_V2))])[0].pending == 0


def test_an_unknown_dialect_token_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        SQLITE.render("CREATE TABLE t (x {uuid})")


def test_connect_explains_an_unwritable_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StateError) as caught:
        connect(tmp_path / "file" / "state.db")
    assert "cannot open the state database" in str(caught.value)
    assert "writable" in caught.value.fix
