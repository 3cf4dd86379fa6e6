"""`warden audit reindex`: an older store's review indexes built at once, on a real store."""

from __future__ import annotations

import argparse
import random
import sqlite3
from pathlib import Path

import pytest

from tests.audit.older_store import strip_review_indexes
from warden.audit import AuditLog
from warden.audit.review_index import is_complete, review_state
from warden.cli.audit import cmd_reindex
from warden.config import parse_config

from ..console.test_query_paths import make_record


def test_reindex_builds_what_the_writer_would_build_in_the_background(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = parse_config({"state_dir": str(tmp_path / "state")}, "t.yaml", tmp_path, {})
    config.audit_dir.mkdir(parents=True)
    rng = random.Random(9)
    log = AuditLog.open(config.audit_db)
    log.append([make_record(n, rng) for n in range(90)])
    log.close()
    conn = sqlite3.connect(config.audit_db, isolation_level=None)
    strip_review_indexes(conn)  # as a store written before the review indexes
    assert not is_complete(conn)

    assert cmd_reindex(config, argparse.Namespace()) == 0
    err = capsys.readouterr().err
    assert "8 column indexes" in err and "90 older records" in err and "complete in" in err
    assert is_complete(conn) and len(review_state(conn).indexes) == 8
    assert conn.execute("SELECT count(*) FROM record_sort").fetchone() == (180,)

    assert cmd_reindex(config, argparse.Namespace()) == 0  # nothing left to do
    assert "are complete" in capsys.readouterr().err
    conn.close()
