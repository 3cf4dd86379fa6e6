"""SIGKILL under load: every record the writer acknowledged is in the file, and the chains verify."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from warden.audit import load_public_key, verify
from warden.audit.checkpoint import PUBLIC_KEY_FILE

ROOT = Path(__file__).resolve().parents[2]


def test_sigkill_loses_nothing_acknowledged(tmp_path: Path) -> None:
    db, key_dir = tmp_path / "audit.db", tmp_path / "keys"
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.audit.crash_writer", str(db), str(key_dir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    acknowledged: list[int] = []
    try:
        for line in child.stdout:
            acknowledged.append(int(line))
            if len(acknowledged) >= 5000:
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        rest, errors = child.communicate(timeout=10)
    assert child.returncode == -signal.SIGKILL, errors
    # Lines written before the kill but not yet read are acknowledged too; a cut last line is not.
    lines = rest.split("\n")
    acknowledged += [int(line) for line in lines[:-1]]
    assert len(acknowledged) >= 5000
    with sqlite3.connect(db) as conn:
        stored = {seq for (seq,) in conn.execute("SELECT seq FROM records")}
        (checkpoints,) = conn.execute("SELECT COUNT(*) FROM checkpoints").fetchone()
    assert set(acknowledged) <= stored
    assert checkpoints > 0
    report = verify(db, load_public_key(key_dir / PUBLIC_KEY_FILE))
    assert report.ok, report.describe()
    assert sum(t.records for t in report.tenants) == len(stored)
