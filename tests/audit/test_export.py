"""export (JSON lines, CSV) and tail, read from a real audit database."""

from __future__ import annotations

import csv
import datetime
import io
import json
import threading
from pathlib import Path

import pytest

from warden.audit import CSV_COLUMNS, AuditLog, AuditRecord, AuditStoreError, export, tail
from warden.audit.canonical import canonical_json, chain_hash

from .conftest import T0, flow_record


@pytest.fixture
def filled(db_path: Path) -> list[AuditRecord]:
    records = [flow_record("acme" if n % 3 else "globex", n) for n in range(12)]
    log = AuditLog.open(db_path)
    log.append(records)
    log.close()
    return records


def test_jsonl_carries_the_hashed_record_and_its_links(
    db_path: Path, filled: list[AuditRecord]
) -> None:
    out = io.StringIO()
    count = export(
        db_path,
        "acme",
        T0 + datetime.timedelta(seconds=2),
        T0 + datetime.timedelta(seconds=8),
        "jsonl",
        out,
    )
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert count == len(lines) == 4  # acme at n = 2, 4, 5, 7 (since inclusive, until exclusive)
    assert [line["record"]["record_id"] for line in lines] == [
        filled[n].record_id for n in (2, 4, 5, 7)
    ]
    first, second = lines[0]["chain"], lines[1]["chain"]
    assert second["prev_hash"] == first["hash"]
    body = canonical_json(lines[1]["record"])
    assert (
        chain_hash("acme", second["tenant_seq"], bytes.fromhex(second["prev_hash"]), body).hex()
        == second["hash"]
    )


def test_csv_has_a_stable_header_and_flattened_rows(
    db_path: Path, filled: list[AuditRecord]
) -> None:
    out = io.StringIO()
    assert export(db_path, "globex", None, None, "csv", out) == 4
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == CSV_COLUMNS
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["record_id"] == filled[0].record_id
    assert first["principal.groups"] == "staff;ml"
    assert first["findings"] == "EMAIL_ADDRESS:2:messages[0].content"
    assert first["details"] == '{"bytes_out": 1234, "stream": true}'
    assert first["usage.estimated"] == "False"
    assert first["prompt"] == ""
    assert first["tenant_seq"] == "1"


def test_export_of_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(AuditStoreError, match="there is no audit database"):
        export(tmp_path / "none.db", None, None, None, "jsonl", io.StringIO())


def test_tail_gives_the_newest_records(db_path: Path, filled: list[AuditRecord]) -> None:
    assert [s.record.record_id for s in tail(db_path, last=3)] == [r.record_id for r in filled[-3:]]
    assert [s.tenant_seq for s in tail(db_path, tenant="globex", last=2)] == [3, 4]


def test_tail_follows_new_records(db_path: Path, filled: list[AuditRecord]) -> None:
    stop = threading.Event()
    followed = tail(db_path, follow=True, last=1, poll_seconds=0.01, stop=stop)
    assert next(followed).record.record_id == filled[-1].record_id
    log = AuditLog.open(db_path)
    fresh = [flow_record("acme", 50), flow_record("globex", 51)]
    log.append(fresh)
    log.close()
    assert [next(followed).record.record_id for _ in fresh] == [r.record_id for r in fresh]
    stop.set()
    assert list(followed) == []
