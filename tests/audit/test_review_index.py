"""The review indexes: built on a store written before them without changing a record and
without delaying its open (the writer builds them between batches), kept by the writer,
and emptied by the retention purge."""

from __future__ import annotations

import datetime
import json
import random
import sqlite3
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from warden.audit import AuditLog, CheckpointSigner, purge
from warden.audit.review_index import (
    REVIEW_COLUMNS,
    TEXT_END,
    TEXT_FORMAT,
    record_text,
    review_state,
    terms_complete,
    text_format_current,
    text_mark,
)
from warden.audit.writer import index_text_between_batches

from ..console.test_query_paths import make_record
from .older_store import strip_review_indexes


def _as_before_the_review_indexes(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    strip_review_indexes(conn)  # as a store written before the review indexes
    conn.execute("CREATE INDEX records_tenant_subject_ts ON records (tenant, subject, ts)")
    conn.close()


def _records(path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT * FROM records ORDER BY seq").fetchall()
    conn.close()
    return rows


def _index_names(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


def test_an_older_store_opens_at_once_and_the_writer_builds_its_indexes_later(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.db"
    rng = random.Random(3)
    log = AuditLog.open(path)
    log.append([make_record(n, rng) for n in range(120)])
    log.close()
    _as_before_the_review_indexes(path)
    before = _records(path)

    said: list[str] = []
    log = AuditLog.open(path, progress=said.append)
    conn = log.connection
    # The open read no record and built no index over them: that is the writer's, later.
    assert len(said) == 1 and "120 older records" in said[0] and "background" in said[0]
    assert not {c.index for c in REVIEW_COLUMNS if c.index_} & _index_names(conn)
    assert conn.execute("SELECT count(*) FROM record_entities").fetchone() == (0,)
    assert review_state(conn).entities_below == 121 and log.index_backlog
    assert not terms_complete(conn)  # the console checks request filters on the records

    # New records are indexed on their commit meanwhile.
    log.append([make_record(n, rng) for n in range(120, 130)])
    new_entities = conn.execute("SELECT count(*) FROM record_entities").fetchone()[0]
    new_findings = conn.execute(
        "SELECT count(*) FROM records r, json_each(r.body, '$.findings') WHERE r.seq > 120"
    ).fetchone()[0]
    assert new_entities == new_findings > 0

    # The writer's steps between batches: column indexes one by one, then the older
    # records in steps (here of 8), then the text.
    steps = 0
    while log.index_text(4):
        steps += 1
    assert steps > len(REVIEW_COLUMNS)
    assert _records(path)[:120] == before  # not one record changed, added or lost
    assert {c.index for c in REVIEW_COLUMNS if c.index_} <= _index_names(conn)
    assert "records_tenant_subject_ts" not in _index_names(conn)
    entities = conn.execute("SELECT count(*) FROM record_entities").fetchone()[0]
    findings = conn.execute(
        "SELECT count(*) FROM records r, json_each(r.body, '$.findings')"
    ).fetchone()[0]
    assert entities == findings > new_entities
    (sorts,) = conn.execute("SELECT count(*) FROM record_sort").fetchone()
    assert sorts == 2 * 130  # tokens and latency of every record
    assert review_state(conn).entities_below == 0 and terms_complete(conn)
    assert text_mark(conn) == 130 and log.text_backlog == 0 and not log.backfilling
    log.close()
    again: list[str] = []
    AuditLog.open(path, progress=again.append).close()
    assert again == []  # complete: nothing to build on the next open


def test_the_writer_builds_an_older_store_s_indexes_only_while_no_record_waits(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.db"
    rng = random.Random(4)
    log = AuditLog.open(path)
    log.append([make_record(n, rng) for n in range(60)])
    log.close()
    _as_before_the_review_indexes(path)
    log = AuditLog.open(path)
    conn = log.connection
    for _ in range(5):
        index_text_between_batches(log, lambda: True)  # records keep arriving
    assert not {c.index for c in REVIEW_COLUMNS if c.index_} & _index_names(conn)
    while log.index_backlog:
        index_text_between_batches(log, lambda: False)  # idle
    assert {c.index for c in REVIEW_COLUMNS if c.index_} <= _index_names(conn)
    assert review_state(conn).entities_below == 0 and not log.backfilling
    log.close()


def test_an_interrupted_build_resumes_where_it_stopped(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    rng = random.Random(6)
    log = AuditLog.open(path)
    log.append([make_record(n, rng) for n in range(200)])
    log.close()
    _as_before_the_review_indexes(path)
    log = AuditLog.open(path)
    for _ in range(len(REVIEW_COLUMNS) + 1):  # every column index and one step of records
        log.index_text(5)
    below = review_state(log.connection).entities_below
    assert 1 < below < 201
    log.close()  # the gateway stops

    said: list[str] = []
    log = AuditLog.open(path, progress=said.append)
    assert "column indexes" not in said[0] and f"{below - 1:,} older records" in said[0]
    while log.index_text(5):
        pass
    conn = log.connection
    findings = conn.execute(
        "SELECT count(*) FROM records r, json_each(r.body, '$.findings')"
    ).fetchone()[0]
    assert conn.execute("SELECT count(*) FROM record_entities").fetchone() == (findings,)
    assert conn.execute("SELECT count(*) FROM record_sort").fetchone() == (400,)
    log.close()


def test_the_purge_takes_the_records_out_of_every_review_index(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    rng = random.Random(5)
    log = AuditLog.open(path)
    log.append([make_record(n, rng) for n in range(200)])
    while log.index_text():
        pass
    conn = log.connection
    tenant = "globex"
    (kept_text,) = conn.execute(
        "SELECT count(*) FROM records WHERE tenant != ?", (tenant,)
    ).fetchone()
    signer = CheckpointSigner(Ed25519PrivateKey.generate())
    log.add_checkpoints(signer, [tenant], "2026-01-01T00:00:00.000Z")
    purge(log, tenant, 0, datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC))
    assert conn.execute("SELECT count(*) FROM records WHERE tenant = ?", (tenant,)).fetchone() == (
        0,
    )
    assert conn.execute(
        "SELECT count(*) FROM record_entities WHERE tenant = ?", (tenant,)
    ).fetchone() == (0,)
    assert conn.execute(
        "SELECT count(*) FROM record_sort WHERE tenant = ?", (tenant,)
    ).fetchone() == (0,)
    # Every globex record's text is gone from the trigram index: a term only globex
    # records hold ("globex.example") finds nothing any more, the others still match.
    assert conn.execute(
        'SELECT count(*) FROM records_text WHERE records_text MATCH \'"lob" AND "bex"\''
    ).fetchone() == (0,)
    (remaining,) = conn.execute(
        'SELECT count(*) FROM records_text WHERE records_text MATCH \'"exa" AND "ple"\''
    ).fetchone()
    assert remaining == kept_text
    log.close()


def test_record_text_skips_identifiers_and_fields_with_their_own_filter() -> None:
    record = make_record(4, random.Random(1)).to_dict()
    text = record_text(record)
    assert record["principal"]["email"] in text
    assert record["record_id"] not in text and record["ts"] not in text
    assert "staff" not in text.split("\n")  # groups


def test_a_store_without_the_term_table_gets_its_older_records_terms(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    rng = random.Random(11)
    log = AuditLog.open(path)
    log.append([make_record(n, rng) for n in range(150)])
    log.close()
    conn = sqlite3.connect(path, isolation_level=None)
    (expected,) = conn.execute(
        "SELECT count(*) FROM record_terms"
    ).fetchone()  # what the writer stored with the records
    conn.execute("DROP TABLE record_terms")
    conn.close()
    assert expected > 150  # conversation, client, path … of most records

    said: list[str] = []
    log = AuditLog.open(path, progress=said.append)  # not delayed by them
    assert any("request terms of 150 older records" in line for line in said)
    assert not terms_complete(log.connection) and log.index_backlog
    # the writer fills them between batches (new records get theirs on the commit)
    log.append([make_record(n, rng) for n in range(150, 160)])
    while log.index_text(4):  # steps of 40 records' terms, then the text
        pass
    assert terms_complete(log.connection) and not log.index_backlog
    conn = log.connection
    (now,) = conn.execute("SELECT count(*) FROM record_terms").fetchone()
    (new,) = conn.execute("SELECT count(*) FROM record_terms WHERE seq > 150").fetchone()
    assert now == expected + new and new > 0
    log.close()
    again: list[str] = []
    AuditLog.open(path, progress=again.append).close()
    assert again == []


def test_a_text_index_of_the_older_format_is_rebuilt_and_serves_short_terms(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.db"
    rng = random.Random(12)
    log = AuditLog.open(path)
    log.append([make_record(n, rng) for n in range(100)])
    while log.index_text(40):
        pass
    log.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DELETE FROM meta WHERE key = ?", (TEXT_FORMAT[0],))  # as an older writer left it
    conn.close()

    log = AuditLog.open(path)
    conn = log.connection
    assert text_format_current(conn) and text_mark(conn) == 0 and log.text_backlog == 100
    while log.index_text(40):
        pass
    # Every indexed text ends with TEXT_END, so the last two characters of a record's text
    # still begin a trigram (without it they would only end one).
    (body,) = conn.execute("SELECT body FROM records WHERE seq = 7").fetchone()
    end = record_text(json.loads(body))[-2:]
    hits = [
        row[0]
        for row in conn.execute(
            "SELECT rowid FROM records_text WHERE records_text MATCH ?",
            ('"' + (end + TEXT_END[0]).replace('"', '""').lower() + '"',),
        )
    ]
    assert 7 in hits
    log.close()


def test_an_indexing_step_the_database_refuses_is_reported_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    log = AuditLog.open(path, busy_timeout_ms=50)
    log.append([make_record(n, random.Random(2)) for n in range(30)])
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    assert index_text_between_batches(log, lambda: False) is False
    assert log.text_backlog == 30  # nothing indexed, the writer goes on
    other.execute("ROLLBACK")
    other.close()
    assert index_text_between_batches(log, lambda: False) is True
    assert log.text_backlog == 0
    log.close()
