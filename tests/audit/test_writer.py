"""The writer process's group commit and checkpoint schedule (audit/writer.py), called directly."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from warden.audit import (
    Appended,
    AuditLog,
    AuditUnavailable,
    Checkpoint,
    CheckpointPolicy,
    CheckpointSigner,
)
from warden.audit.writer import CheckpointScheduler, commit_batch

from .conftest import flow_record


def test_a_batch_is_one_transaction(db_path: Path) -> None:
    log = AuditLog.open(db_path)
    outcomes = commit_batch(log, [flow_record("acme", n) for n in range(50)])
    assert [o.tenant_seq for o in outcomes if isinstance(o, Appended)] == list(range(1, 51))


def test_a_duplicate_record_id_fails_only_its_own_record(db_path: Path) -> None:
    log = AuditLog.open(db_path)
    record = flow_record("acme", 0)
    first, second, again = commit_batch(log, [record, flow_record("acme", 1), record])
    assert isinstance(first, Appended) and first.tenant_seq == 1
    assert isinstance(second, Appended) and second.tenant_seq == 2
    assert isinstance(again, AuditUnavailable)
    assert "UNIQUE constraint failed" in str(again.__cause__)


def test_checkpoints_every_n_records_and_on_stop(db_path: Path, signer: CheckpointSigner) -> None:
    shipped: list[Checkpoint] = []

    def hook(checkpoint: Checkpoint) -> None:
        shipped.append(checkpoint)
        raise RuntimeError("a failing hook must not stop the writer")

    policy = CheckpointPolicy(every_records=10, every_seconds=3600, heartbeat_seconds=3600)
    log = AuditLog.open(db_path)
    schedule = CheckpointScheduler(log, signer, policy, hook)
    schedule.start()
    for n in range(25):
        commit_batch(log, [flow_record("acme", n)])
        schedule.after_batch(["acme"])
    schedule.after_batch([], stopping=True)
    assert [(c.tenant, c.tenant_seq) for c in shipped] == [("acme", 10), ("acme", 20), ("acme", 25)]
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT tenant_seq FROM checkpoints ORDER BY id").fetchall() == [
            (10,),
            (20,),
            (25,),
        ]


def test_timer_signs_moved_heads_and_heartbeats_when_idle(
    db_path: Path, signer: CheckpointSigner
) -> None:
    shipped: list[Checkpoint] = []
    now = [0.0]  # the schedule's clock, moved by hand: no waiting
    policy = CheckpointPolicy(every_records=1000, every_seconds=10, heartbeat_seconds=30)
    log = AuditLog.open(db_path)
    schedule = CheckpointScheduler(log, signer, policy, shipped.append, clock=lambda: now[0])
    schedule.start()
    commit_batch(log, [flow_record("acme", 0), flow_record("globex", 1)])
    schedule.after_batch(["acme", "globex"])
    assert shipped == []  # neither enough records nor time yet
    now[0] = 11.0
    schedule.after_batch([])
    assert sorted(c.tenant for c in shipped) == ["acme", "globex"]  # the heads moved
    now[0] = 22.0
    schedule.after_batch([])
    assert len(shipped) == 2  # nothing moved since: no tick checkpoint
    now[0] = 31.0
    schedule.after_batch([])
    assert len(shipped) == 4  # the heartbeat signs unmoved heads too
    assert schedule.timeout() is not None


def test_without_a_signer_nothing_is_signed(db_path: Path) -> None:
    log = AuditLog.open(db_path)
    schedule = CheckpointScheduler(log, None, CheckpointPolicy(every_records=1))
    schedule.start()
    commit_batch(log, [flow_record("acme", 0)])
    schedule.after_batch(["acme"], stopping=True)
    assert schedule.timeout() is None
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM checkpoints").fetchone() == (0,)
