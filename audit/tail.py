"""`tail`: the newest audit records, then (``follow``) each new one as it is committed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from .reader import StoredRecord, last_records, select_records
from .schema import open_audit_db_readonly


def tail(
    db: Path,
    tenant: str | None = None,
    follow: bool = False,
    *,
    last: int = 10,
    poll_seconds: float = 0.5,
    stop: threading.Event | None = None,
) -> Iterator[StoredRecord]:
    """The ``last`` newest records (of ``tenant``), oldest first; then, with ``follow``,
    each new record as it is committed, polling every ``poll_seconds`` until ``stop`` is set
    (or the caller stops iterating)."""
    conn = open_audit_db_readonly(db)
    try:
        seen = 0
        for stored in last_records(conn, last, tenant):
            seen = stored.seq
            yield stored
        if not follow:
            return
        if seen == 0:
            (seen,) = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM records").fetchone()
        waiter = stop or threading.Event()
        while not waiter.is_set():
            fresh = list(select_records(conn, tenant=tenant, after_seq=seen))
            for stored in fresh:
                seen = stored.seq
                yield stored
            if not fresh:
                waiter.wait(poll_seconds)
    finally:
        conn.close()
