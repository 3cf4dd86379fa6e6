"""AuditWriterProcess: the real child process, its pipe protocol, and failing closed.

Each test starts ``python -m warden.audit.writer_process`` for real; faults are made with
real signals (SIGKILL, SIGSTOP) on the child, not with doubles.
"""

from __future__ import annotations

import asyncio
import marshal
import os
import signal
import sqlite3
import threading
from pathlib import Path

import pytest

from warden.audit import AuditStoreError, AuditUnavailable, Checkpoint, CheckpointPolicy
from warden.audit.checkpoint import PUBLIC_KEY_FILE, load_public_key
from warden.audit.review_index import review_state, terms_complete, text_mark
from warden.audit.verify import verify
from warden.audit.writer_process import (
    MAX_FRAME,
    AuditWriterProcess,
    FrameReader,
    WriterSettings,
    frame,
)

from .conftest import flow_record
from .older_store import strip_review_indexes


def _count(db_path: Path) -> int:
    with sqlite3.connect(db_path) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM records").fetchone()[0])


def _settings(tmp_path: Path, **policy: float) -> WriterSettings:
    return WriterSettings(
        tmp_path / "audit.db",
        tmp_path,
        "NORMAL",
        CheckpointPolicy(
            int(policy.get("every_records", 1000)),
            policy.get("every_seconds", 60.0),
            policy.get("heartbeat_seconds", 3600.0),
        ),
    )


# -- the frames ------------------------------------------------------------------------


def test_frames_split_anywhere_are_put_back_together() -> None:
    data = frame(("r", 1, {"a": "x" * 300})) + frame(("ok", 2)) + frame(("ready",))
    reader = FrameReader()
    got = []
    for i in range(0, len(data), 7):
        got += reader.feed(data[i : i + 7])
    assert got == [("r", 1, {"a": "x" * 300}), ("ok", 2), ("ready",)]


def test_an_oversized_or_shapeless_frame_is_refused() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        FrameReader().feed((MAX_FRAME + 1).to_bytes(4, "big") + b"x")
    body = marshal.dumps(None)
    with pytest.raises(ValueError, match="not a message"):
        FrameReader().feed(len(body).to_bytes(4, "big") + body)


# -- the process -----------------------------------------------------------------------


async def test_write_returns_once_committed_and_the_chain_verifies(tmp_path: Path) -> None:
    checkpoints: list[Checkpoint] = []
    writer = AuditWriterProcess(_settings(tmp_path), on_checkpoint=checkpoints.append)
    await writer.start()
    try:
        results = await asyncio.gather(*(writer.write(flow_record("acme", n)) for n in range(50)))
        assert sorted(r.tenant_seq for r in results) == list(range(1, 51))
        assert _count(tmp_path / "audit.db") == 50  # committed: visible to another connection
    finally:
        await writer.close()
    # closing signs the heads, and the checkpoint reached the gateway through the pipe
    assert [(c.tenant, c.tenant_seq) for c in checkpoints] == [("acme", 50)]
    report = verify(tmp_path / "audit.db", load_public_key(tmp_path / PUBLIC_KEY_FILE))
    assert report.ok, report.describe()


async def test_the_child_refuses_a_record_the_schema_refuses(tmp_path: Path) -> None:
    # The gateway sends flow records as data and the child checks them: a bad one is
    # refused naming the field (its flow then fails closed), the good ones beside it land.
    writer = AuditWriterProcess(_settings(tmp_path))
    await writer.start()
    try:
        bad = flow_record("acme", 1).to_dict()
        bad["destination"]["model"] = "two\nlines"
        good = flow_record("acme", 2).to_dict()
        results = await asyncio.gather(
            writer.write_data(bad), writer.write_data(good), return_exceptions=True
        )
        assert isinstance(results[0], AuditUnavailable)
        assert "destination.model" in str(results[0]) and "control character" in str(results[0])
        assert not isinstance(results[1], BaseException) and results[1].tenant_seq == 1
        assert _count(tmp_path / "audit.db") == 1
        # one bad record is not a database that cannot be written: /healthz stays green
        assert writer.commit_failure is None
        again = bad | {"record_id": good["record_id"], "destination": good["destination"]}
        with pytest.raises(AuditUnavailable, match="record_id"):
            await writer.write_data(again)  # a duplicate id: refused alone
        assert writer.commit_failure is None
    finally:
        await writer.close()


def _commit_failure(writer: AuditWriterProcess) -> str | None:
    return writer.commit_failure  # read afresh: it changes as acknowledgements arrive


async def test_a_refused_commit_is_reported_until_one_succeeds(tmp_path: Path) -> None:
    """A full disk, made for real: the child's file-size limit (prlimit(2) on RLIMIT_FSIZE,
    allowed on one's own processes) makes the kernel refuse to grow the database's files,
    so SQLite fails the commit as on a full disk; lifting it is the disk getting room."""
    import resource

    writer = AuditWriterProcess(_settings(tmp_path))
    await writer.start()
    try:
        await writer.write(flow_record("acme", 1))
        assert writer.pid is not None
        soft, hard = resource.prlimit(writer.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(writer.pid, resource.RLIMIT_FSIZE, (1024, hard))
        try:
            with pytest.raises(AuditUnavailable, match="could not be committed"):
                await writer.write(flow_record("acme", 2))
            assert "I/O" in (_commit_failure(writer) or "")
            assert writer.running  # the child lives on: the disk refuses, not the writer
        finally:
            resource.prlimit(writer.pid, resource.RLIMIT_FSIZE, (soft, hard))
        assert (await writer.write(flow_record("acme", 3))).tenant_seq == 2
        assert _commit_failure(writer) is None
    finally:
        await writer.close()
    report = verify(tmp_path / "audit.db", load_public_key(tmp_path / PUBLIC_KEY_FILE))
    assert report.ok, report.describe()


async def test_submit_from_another_thread(tmp_path: Path) -> None:
    writer = AuditWriterProcess(_settings(tmp_path))
    await writer.start()
    try:
        result: list[object] = []
        thread = threading.Thread(
            target=lambda: result.append(writer.submit(flow_record("globex")).result(10))
        )
        thread.start()
        await asyncio.to_thread(thread.join, 10)
        assert getattr(result[0], "tenant", None) == "globex"
    finally:
        await writer.close()


async def test_records_submitted_before_start_are_written_at_start(tmp_path: Path) -> None:
    writer = AuditWriterProcess(_settings(tmp_path))
    early = writer.submit(flow_record("acme", 1))
    await writer.start()
    try:
        appended = await asyncio.wrap_future(early)
        assert appended.tenant_seq == 1
    finally:
        await writer.close()


async def test_an_unwritable_database_stops_the_start_with_the_cause(tmp_path: Path) -> None:
    (tmp_path / "audit.db").mkdir()  # a folder where the database file should be
    writer = AuditWriterProcess(_settings(tmp_path))
    with pytest.raises(AuditStoreError) as caught:
        await writer.start()
    assert "audit.db" in caught.value.message
    assert caught.value.fix


async def test_a_killed_child_fails_closed_then_comes_back(tmp_path: Path) -> None:
    writer = AuditWriterProcess(_settings(tmp_path))
    await writer.start()
    try:
        await writer.write(flow_record("acme", 1))
        first_pid = writer.pid
        assert first_pid is not None
        os.kill(first_pid, signal.SIGKILL)
        await asyncio.sleep(0.3)
        with pytest.raises(AuditUnavailable, match="not running"):
            await writer.write(flow_record("acme", 2))
        # restarted after about a second
        for _ in range(100):
            if writer.pid != first_pid and writer.running:
                break
            await asyncio.sleep(0.1)
        appended = await writer.write(flow_record("acme", 3))
        assert appended.tenant_seq == 2  # the refused record 2 was never written
    finally:
        await writer.close()


async def test_a_stalled_child_refuses_beyond_the_pending_limit(tmp_path: Path) -> None:
    writer = AuditWriterProcess(_settings(tmp_path), max_pending=5)
    await writer.start()
    assert writer.pid is not None
    os.kill(writer.pid, signal.SIGSTOP)
    try:
        waiting = [asyncio.ensure_future(writer.write(flow_record("acme", n))) for n in range(5)]
        await asyncio.sleep(0.1)
        with pytest.raises(AuditUnavailable, match="waiting for the writer"):
            await writer.write(flow_record("acme", 99))
        assert not any(w.done() for w in waiting)  # nothing is answered before its commit
    finally:
        os.kill(writer.pid, signal.SIGCONT)
    results = await asyncio.gather(*waiting)
    assert sorted(r.tenant_seq for r in results) == [1, 2, 3, 4, 5]
    await writer.close()


async def test_close_commits_what_was_sent_and_refuses_later_records(tmp_path: Path) -> None:
    writer = AuditWriterProcess(_settings(tmp_path))
    await writer.start()
    pending = [asyncio.ensure_future(writer.write(flow_record("acme", n))) for n in range(200)]
    await asyncio.sleep(0)  # the frames are on their way
    await writer.close()
    assert len(await asyncio.gather(*pending)) == 200
    assert _count(tmp_path / "audit.db") == 200
    with pytest.raises(AuditUnavailable):
        writer.submit(flow_record("acme", 999))


async def test_an_older_store_starts_at_once_and_the_writer_builds_its_indexes(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    writer = AuditWriterProcess(settings)
    await writer.start()
    try:
        await asyncio.gather(*(writer.write(flow_record("acme", n)) for n in range(300)))
    finally:
        await writer.close()
    conn = sqlite3.connect(settings.db_path, isolation_level=None)
    strip_review_indexes(conn)  # as a store written before the review indexes

    writer = AuditWriterProcess(settings)
    await writer.start()
    try:
        written = await writer.write(flow_record("acme", 300))
        assert written.tenant_seq == 301
        # Then, with no record waiting, the writer builds what the open left (polled:
        # the build is the writer's own business; the bound is generous, not the claim).
        for _ in range(600):
            state = review_state(conn)
            if len(state.indexes) == 8 and state.entities_below == 0 and text_mark(conn) == 301:
                break
            await asyncio.sleep(0.05)
        assert len(state.indexes) == 8 and state.entities_below == 0 and terms_complete(conn)
        assert text_mark(conn) == 301
        (sorts,) = conn.execute("SELECT count(*) FROM record_sort").fetchone()
        assert sorts == 2 * 301  # tokens and latency of every record, old and new
    finally:
        await writer.close()
        conn.close()
    assert verify(settings.db_path, load_public_key(tmp_path / PUBLIC_KEY_FILE)).ok
