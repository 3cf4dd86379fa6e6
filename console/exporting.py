"""Export of the flow list's current filter to a JSON-lines or CSV file, streamed.

The rows are those of the filter within the reviewer's scope, in the list's order, read
page by page with the same keyset queries as the screen (`FlowQuery`), so an export of a
million rows never holds more than a page. Each line has the format of `warden audit
export` (`warden.audit.export`): JSON lines carry ``chain`` (seq, tenant_seq, prev_hash,
hash) and the ``record`` exactly as hashed (`jsonl_line`); CSV uses its `csv_row`.

The file is created new (never overwritten) and readable by its owner only: it holds
e-mail addresses and, where a tenant logs them, redacted prompts.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal, TextIO

from warden.audit.export import CSV_COLUMNS, csv_row, jsonl_line
from warden.audit.reader import StoredRecord
from warden.audit.record import AuditRecord

from .flows import FlowFilter, FlowQuery, Sort
from .scope import ReviewerScope

type Format = Literal["jsonl", "csv"]


class ExportError(Exception):
    """The export file cannot be written; the message says what to do."""


def format_for(path: Path) -> Format:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise ExportError(f"{path.name}: name the file .jsonl or .csv to choose the format")


def _stored(conn: sqlite3.Connection, scope: ReviewerScope, seqs: list[int]) -> list[StoredRecord]:
    if not seqs:
        return []
    scope_sql, params = scope.sql("tenant")
    rows = conn.execute(
        "SELECT seq, tenant_seq, prev_hash, hash, body FROM records "  # noqa: S608 - constant SQL
        f"WHERE seq IN ({','.join('?' * len(seqs))}) AND {scope_sql}",
        [*seqs, *params],
    ).fetchall()
    by_seq = {
        row[0]: StoredRecord(
            row[0], row[1], bytes(row[2]), bytes(row[3]), AuditRecord.from_dict(json.loads(row[4]))
        )
        for row in rows
    }
    return [by_seq[s] for s in seqs if s in by_seq]


def stream(query: FlowQuery, flt: FlowFilter, sort: Sort) -> Iterator[StoredRecord]:
    """Every record of ``flt`` (in scope) in ``sort`` order, a page at a time."""
    cursor = None
    while True:
        page = query.fetch(flt, sort, cursor)
        yield from _stored(query.conn, query.scope, [row.seq for row in page.rows])
        cursor = page.cursor
        if not page.more:
            return


def write(records: Iterator[StoredRecord], fmt: Format, out: TextIO) -> Iterator[int]:
    """Write ``records``; yields the running count every 1,000 records and at the end."""
    count = 0
    writer = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow(CSV_COLUMNS)
    for stored in records:
        if writer is not None:
            writer.writerow(csv_row(stored))
        else:
            out.write(jsonl_line(stored))
        count += 1
        if count % 1000 == 0:
            yield count
    yield count


def export_view(
    query: FlowQuery,
    flt: FlowFilter,
    sort: Sort,
    path: Path,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Export the view to a new file at ``path``; returns how many records were written."""
    fmt = format_for(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ExportError(f"{path} exists already: choose another name") from None
    except OSError as exc:
        raise ExportError(f"cannot create {path}: {exc.strerror}") from exc
    count = 0
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        for count in write(stream(query, flt, sort), fmt, out):
            if progress is not None:
                progress(count)
    return count
