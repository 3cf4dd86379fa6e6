"""AuditWriter: commit-before-resolve, group commit, fail-closed errors, checkpoints, close."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from warden.audit import (
    Appended,
    AuditLog,
    AuditRecord,
    AuditUnavailable,
    AuditWriter,
    Checkpoint,
    CheckpointPolicy,
    CheckpointSigner,
)

from .conftest import flow_record


class CountingLog(AuditLog):
    """An AuditLog that records the size of each append (= each transaction)."""

    batches: list[int]

    def append(self, records: Sequence[AuditRecord]) -> list[Appended]:
        self.batches = [*getattr(self, "batches", []), len(records)]
        return super().append(records)


def _count(db_path: Path) -> int:
    with sqlite3.connect(db_path) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM records").fetchone()[0])


def test_future_resolves_once_the_record_is_committed(db_path: Path) -> None:
    with AuditWriter(AuditLog.open(db_path)) as writer:
        appended = writer.submit(flow_record()).result(timeout=5)
        assert (appended.tenant, appended.tenant_seq) == ("acme", 1)
        assert _count(db_path) == 1  # visible to another connection: committed


def test_everything_queued_is_committed_in_batches(db_path: Path) -> None:
    log = CountingLog.open(db_path)
    writer = AuditWriter(log, batch_max=100)
    futures = [writer.submit(flow_record("acme", n)) for n in range(450)]
    writer.start()
    results = [f.result(timeout=10) for f in futures]
    writer.close()
    assert [r.tenant_seq for r in results] == list(range(1, 451))
    assert log.batches == [100, 100, 100, 100, 50]


async def test_write_awaits_the_commit(db_path: Path) -> None:
    with AuditWriter(AuditLog.open(db_path)) as writer:
        results = await asyncio.gather(*(writer.write(flow_record("acme", n)) for n in range(50)))
        assert sorted(r.tenant_seq for r in results) == list(range(1, 51))
        assert _count(db_path) == 50


async def test_cancelling_the_caller_does_not_withdraw_the_record(db_path: Path) -> None:
    writer = AuditWriter(AuditLog.open(db_path))
    task = asyncio.ensure_future(writer.write(flow_record()))
    await asyncio.sleep(0)
    task.cancel()
    writer.start()
    writer.close()
    assert _count(db_path) == 1


def test_a_full_queue_refuses_at_once(db_path: Path) -> None:
    writer = AuditWriter(AuditLog.open(db_path), queue_size=2)
    queued = [writer.submit(flow_record("acme", n)) for n in range(2)]
    with pytest.raises(AuditUnavailable, match=r"queue is full \(2 records waiting\)"):
        writer.submit(flow_record("acme", 3))
    writer.start()
    assert [f.result(timeout=5).tenant_seq for f in queued] == [1, 2]
    writer.close()


def test_database_errors_fail_the_batch_and_the_writer_recovers(db_path: Path) -> None:
    writer = AuditWriter(AuditLog.open(db_path, busy_timeout_ms=50))
    writer.start()
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(AuditUnavailable, match=r"could not be committed: .*database is locked"):
            writer.submit(flow_record("acme", 0)).result(timeout=5)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert writer.submit(flow_record("acme", 1)).result(timeout=5).tenant_seq == 1
    writer.close()


def test_a_duplicate_record_id_fails_only_its_own_record(db_path: Path) -> None:
    writer = AuditWriter(AuditLog.open(db_path))
    record = flow_record("acme", 0)
    futures = [writer.submit(record), writer.submit(flow_record("acme", 1)), writer.submit(record)]
    writer.start()
    assert futures[0].result(timeout=5).tenant_seq == 1
    assert futures[1].result(timeout=5).tenant_seq == 2
    with pytest.raises(AuditUnavailable, match="UNIQUE constraint failed"):
        futures[2].result(timeout=5)
    writer.close()


def test_close_flushes_and_then_refuses(db_path: Path) -> None:
    writer = AuditWriter(AuditLog.open(db_path))
    futures = [writer.submit(flow_record("acme", n)) for n in range(300)]
    writer.start()
    writer.close()
    assert all(f.done() and f.exception() is None for f in futures)
    assert _count(db_path) == 300
    with pytest.raises(AuditUnavailable, match="writer is stopped"):
        writer.submit(flow_record())


def test_checkpoints_every_n_records_and_on_close(db_path: Path, signer: CheckpointSigner) -> None:
    shipped: list[Checkpoint] = []

    def hook(checkpoint: Checkpoint) -> None:
        shipped.append(checkpoint)
        raise RuntimeError("a failing hook must not stop the writer")

    policy = CheckpointPolicy(every_records=10, every_seconds=3600, heartbeat_seconds=3600)
    writer = AuditWriter(AuditLog.open(db_path), signer=signer, policy=policy, on_checkpoint=hook)
    writer.start()
    for n in range(25):
        writer.submit(flow_record("acme", n)).result(timeout=5)
    writer.close()
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
    heartbeats = threading.Event()

    def hook(checkpoint: Checkpoint) -> None:
        shipped.append(checkpoint)
        if sum(c.tenant == "globex" for c in shipped) >= 3:
            heartbeats.set()

    policy = CheckpointPolicy(every_records=1000, every_seconds=0.05, heartbeat_seconds=0.15)
    writer = AuditWriter(AuditLog.open(db_path), signer=signer, policy=policy, on_checkpoint=hook)
    writer.start()
    writer.submit(flow_record("acme", 0)).result(timeout=5)
    writer.submit(flow_record("globex", 1)).result(timeout=5)
    assert heartbeats.wait(5)
    writer.close()
    globex = [c for c in shipped if c.tenant == "globex"]
    assert {c.tenant_seq for c in globex} == {1}
    assert {c.tenant for c in shipped} == {"acme", "globex"}


def test_closing_an_unstarted_writer_fails_what_was_queued(db_path: Path) -> None:
    writer = AuditWriter(AuditLog.open(db_path))
    future = writer.submit(flow_record())
    writer.close()
    with pytest.raises(AuditUnavailable, match="closed before it started"):
        future.result(timeout=1)


def test_the_wal_is_checkpointed_off_the_commit_path(db_path: Path) -> None:
    writer = AuditWriter(AuditLog.open(db_path), wal_checkpoint_seconds=0.02)
    writer.start()
    try:
        assert writer._log.connection.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
        before = db_path.stat().st_size
        for n in range(100):
            writer.submit(flow_record("acme", n)).result(timeout=5)
        deadline = time.monotonic() + 5
        while db_path.stat().st_size <= before + 100_000 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert db_path.stat().st_size > before + 100_000  # the pages reached the main file
    finally:
        writer.close()
