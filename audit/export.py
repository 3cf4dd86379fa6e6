"""`export`: a tenant's records between two times as JSON lines or CSV, streamed row by row.

JSON lines carry each record's object exactly as hashed (``record``) beside its place
in the chain (``chain``: seq, tenant_seq, prev_hash, hash in hex), so a SIEM can re-check
the links with the recipe in `canonical`. CSV flattens a record into `CSV_COLUMNS`, in that
fixed order: lists become ``;``-joined text, findings ``TYPE:count:segment``, details a
JSON object.
"""

from __future__ import annotations

import csv
import datetime
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final, Literal, TextIO

from .reader import StoredRecord, select_records
from .record import format_ts
from .schema import open_audit_db_readonly

type ExportFormat = Literal["jsonl", "csv"]

CSV_COLUMNS: Final = (
    "seq",
    "tenant_seq",
    "hash",
    "record_id",
    "ts",
    "kind",
    "tenant",
    "event",
    "outcome",
    "status",
    "principal.issuer",
    "principal.subject",
    "principal.email",
    "principal.department",
    "principal.groups",
    "principal.auth_method",
    "principal.session_id",
    "principal.client_addr",
    "destination.provider",
    "destination.service",
    "destination.host",
    "destination.api_kind",
    "destination.api",
    "destination.model",
    "decision.action",
    "decision.rule_id",
    "decision.policy_version",
    "decision.reason",
    "findings",
    "usage.tokens_in",
    "usage.tokens_out",
    "usage.estimated",
    "timing.started_at",
    "timing.upstream_latency_ms",
    "timing.ttfb_ms",
    "timing.total_ms",
    "request.method",
    "request.path",
    "request.transport",
    "request.client",
    "request.conversation",
    "details",
    "prompt",
)


def export(
    db: Path,
    tenant: str | None,
    since: datetime.datetime | None,
    until: datetime.datetime | None,
    fmt: ExportFormat,
    out: TextIO,
) -> int:
    """Write ``tenant``'s records (None: all) with ``since <= ts < until``; returns how many."""
    if fmt not in ("jsonl", "csv"):
        raise ValueError(f"export format {fmt!r} is not one of jsonl, csv")
    conn = open_audit_db_readonly(db)
    try:
        rows = select_records(
            conn,
            tenant=tenant,
            since=format_ts(since) if since else None,
            until=format_ts(until) if until else None,
        )
        return _write_jsonl(rows, out) if fmt == "jsonl" else _write_csv(rows, out)
    finally:
        conn.close()


def jsonl_line(stored: StoredRecord) -> str:
    """One record with its chain position as a JSON Lines line (with its newline)."""
    line = {
        "chain": {
            "seq": stored.seq,
            "tenant_seq": stored.tenant_seq,
            "prev_hash": stored.prev_hash.hex(),
            "hash": stored.hash.hex(),
        },
        "record": stored.record.to_dict(),
    }
    return json.dumps(line, ensure_ascii=False, separators=(",", ":"), sort_keys=True) + "\n"


def csv_row(stored: StoredRecord) -> list[Any]:
    """One record as a row under `CSV_COLUMNS` (empty cells where not known)."""
    flat = flatten(stored)
    return ["" if flat[c] is None else flat[c] for c in CSV_COLUMNS]


def _write_jsonl(rows: Iterator[StoredRecord], out: TextIO) -> int:
    count = 0
    for stored in rows:
        out.write(jsonl_line(stored))
        count += 1
    return count


def _write_csv(rows: Iterator[StoredRecord], out: TextIO) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    for stored in rows:
        writer.writerow(csv_row(stored))
        count += 1
    return count


def flatten(stored: StoredRecord) -> dict[str, Any]:
    """One record as `CSV_COLUMNS` -> plain value (None where not known)."""
    data = stored.record.to_dict()
    flat: dict[str, Any] = {
        "seq": stored.seq,
        "tenant_seq": stored.tenant_seq,
        "hash": stored.hash.hex(),
        "prompt": data.get("prompt"),
        "details": json.dumps(data["details"], sort_keys=True, ensure_ascii=False)
        if data["details"]
        else None,
        "findings": ";".join(
            f"{item['entity_type']}:{item['count']}:{item['segment']}" for item in data["findings"]
        )
        or None,
    }
    for key in ("record_id", "ts", "kind", "tenant", "event", "outcome", "status"):
        flat[key] = data[key]
    for column in CSV_COLUMNS:
        if "." in column:
            group, name = column.split(".", 1)
            value = (data.get(group) or {}).get(name)  # ``request`` may be absent
            if isinstance(value, list):
                value = ";".join(value) or None
            flat[column] = value
    return flat
