"""An audit store as a release before the review indexes wrote it, made from a current one."""

from __future__ import annotations

import sqlite3

from warden.audit.review_index import REVIEW_COLUMNS

#: What such a store lacks besides the column indexes.
REVIEW_TABLES = ("record_entities", "record_sort", "record_terms", "records_text")


def strip_review_indexes(conn: sqlite3.Connection) -> None:
    """Drop the review indexes, their trigger, tables and progress marks from ``conn``."""
    for column in REVIEW_COLUMNS:
        conn.execute(f"DROP INDEX IF EXISTS {column.index}")
    conn.execute("DROP TRIGGER records_review_delete")
    for table in REVIEW_TABLES:
        conn.execute(f"DROP TABLE {table}")
    conn.execute("DELETE FROM meta WHERE key IN ('review_backfill_below', 'text_indexed_upto')")
