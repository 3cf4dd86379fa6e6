"""Reading the audit database: `StoredRecord` rows in log (`seq`) order, streamed."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from .record import AuditRecord

_COLUMNS: Final = "seq, tenant, tenant_seq, record_id, body, prev_hash, hash"


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record as stored: its place in the log and chain, and the record itself."""

    seq: int
    tenant_seq: int
    prev_hash: bytes
    hash: bytes
    record: AuditRecord


def select_records(
    conn: sqlite3.Connection,
    *,
    tenant: str | None = None,
    since: str | None = None,
    until: str | None = None,
    after_seq: int = 0,
) -> Iterator[StoredRecord]:
    """Records in ``seq`` order, filtered by tenant and ``since <= ts < until`` (UTC strings)."""
    clauses, params = ["seq > ?"], [after_seq]
    if tenant is not None:
        clauses.append("tenant = ?")
        params.append(tenant)  # type: ignore[arg-type]
    if since is not None:
        clauses.append("ts >= ?")
        params.append(since)  # type: ignore[arg-type]
    if until is not None:
        clauses.append("ts < ?")
        params.append(until)  # type: ignore[arg-type]
    cursor = conn.execute(
        f"SELECT {_COLUMNS} FROM records WHERE {' AND '.join(clauses)} ORDER BY seq",  # noqa: S608 - fixed clauses
        params,
    )
    for row in cursor:
        yield _stored(row)


def last_records(
    conn: sqlite3.Connection, count: int, tenant: str | None = None
) -> list[StoredRecord]:
    """The newest ``count`` records (of ``tenant``), oldest first."""
    if tenant is None:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM records ORDER BY seq DESC LIMIT ?",  # noqa: S608
            (count,),
        ).fetchall()
    else:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM records WHERE tenant = ? ORDER BY seq DESC LIMIT ?",  # noqa: S608
            (tenant, count),
        ).fetchall()
    return [_stored(row) for row in reversed(rows)]


def _stored(row: tuple[int, str, int, str, str, bytes, bytes]) -> StoredRecord:
    seq, _tenant, tenant_seq, _record_id, body, prev_hash, digest = row
    return StoredRecord(seq, tenant_seq, prev_hash, digest, AuditRecord.from_dict(json.loads(body)))
