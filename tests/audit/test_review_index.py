"""The review indexes: built on a store written before them without changing a record,
kept by the writer, and emptied by the retention purge."""

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
    terms_complete,
    text_format_current,
    text_mark,
)

from ..console.test_query_paths import make_record

#: What main's audit store had: no review objects, and its user index.
_REVIEW_OBJECTS = ("record_entities", "record_sort", "record_terms", "records_text")


def _as_before_the_review_indexes(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    for column in REVIEW_COLUMNS:
        conn.execute(f"DROP INDEX IF EXISTS {column.index}")
    conn.execute("DROP TRIGGER records_review_delete")
    for table in _REVIEW_OBJECTS:
        conn.execute(f"DROP TABLE {table}")
    conn.execute("DELETE FROM meta WHERE key IN ('review_backfill_below', 'text_indexed_upto')")
    conn.execute("CREATE INDEX records_tenant_subject_ts ON records (tenant, subject, ts)")
    conn.close()


def _records(path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT * FROM records ORDER BY seq").fetchall()
    conn.close()
    return rows


def test_an_older_store_gets_the_indexes_and_keeps_every_record(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    rng = random.Random(3)
    log = AuditLog.open(path)
    log.append([make_record(n, rng) for n in range(120)])
    log.close()
    _as_before_the_review_indexes(path)
    before = _records(path)

    said: list[str] = []
    log = AuditLog.open(path, progress=said.append)
    assert _records(path) == before  # not one record changed, added or lost
    assert said and "120 older records" in said[0]
    conn = log.connection
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {c.index for c in REVIEW_COLUMNS if c.index_} <= names
    assert "records_tenant_subject_ts" not in names
    entities = conn.execute("SELECT count(*) FROM record_entities").fetchone()[0]
    findings = conn.execute(
        "SELECT count(*) FROM records r, json_each(r.body, '$.findings')"
    ).fetchone()[0]
    assert entities == findings > 0
    (sorts,) = conn.execute("SELECT count(*) FROM record_sort").fetchone()
    assert sorts == 2 * 120  # tokens and latency of every record

    # The text of the older records is indexed by the writer between batches.
    assert text_mark(conn) == 0 and log.text_backlog == 120
    while log.index_text(50):
        pass
    assert text_mark(conn) == 120 and log.text_backlog == 0
    log.close()
    again: list[str] = []
    AuditLog.open(path, progress=again.append).close()
    assert again == []  # complete: nothing to build on the next open


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
