"""AuditWriterClient: a host's gateway workers hand their records to its one writer.

The real child (``python -m warden.audit.writer_process --listen``) runs in each test; the
parent writes through its pipe while two workers' clients write over the socket.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from warden.audit import AuditUnavailable, CheckpointPolicy
from warden.audit.checkpoint import PUBLIC_KEY_FILE, load_public_key
from warden.audit.verify import verify
from warden.audit.writer_client import AuditWriterClient
from warden.audit.writer_process import AuditWriterProcess, WriterSettings

from .conftest import flow_record


def _settings(tmp_path: Path) -> WriterSettings:
    return WriterSettings(
        tmp_path / "audit.db",
        tmp_path,
        "NORMAL",
        CheckpointPolicy(1000, 60.0, 3600.0),
        listen=tmp_path / "workers.sock",
    )


async def test_workers_and_parent_share_one_chain_per_tenant(tmp_path: Path) -> None:
    parent = AuditWriterProcess(_settings(tmp_path))
    await parent.start()
    workers = [AuditWriterClient(tmp_path / "workers.sock") for _ in range(2)]
    try:
        for w in workers:
            await w.start()
        writes = [
            *(parent.write(flow_record("acme", n)) for n in range(0, 30)),
            *(workers[0].write(flow_record("acme", n)) for n in range(30, 60)),
            *(workers[1].write(flow_record("acme", n)) for n in range(60, 90)),
            *(workers[1].write(flow_record("globex", n)) for n in range(90, 100)),
        ]
        results = await asyncio.gather(*writes)
        # each answer went back to the one who asked: the ids are per connection
        ids = [r.record_id for r in results]
        assert len(set(ids)) == 100
        acme = sorted(r.tenant_seq for r in results if r.tenant == "acme")
        assert acme == list(range(1, 91)), "one gapless chain for the tenant, all writers"
        assert sorted(r.tenant_seq for r in results if r.tenant == "globex") == list(range(1, 11))
    finally:
        for w in workers:
            await w.close()
        await parent.close()
    report = verify(tmp_path / "audit.db", load_public_key(tmp_path / PUBLIC_KEY_FILE))
    assert report.ok, report.describe()


async def test_a_worker_fails_closed_while_the_writer_is_gone_and_reconnects(
    tmp_path: Path,
) -> None:
    parent = AuditWriterProcess(_settings(tmp_path))
    await parent.start()
    client = AuditWriterClient(tmp_path / "workers.sock")
    restarted = asyncio.Event()
    parent.on_restart = restarted.set
    try:
        await client.start()
        await client.write(flow_record("acme", 1))
        assert parent.pid is not None
        os.kill(parent.pid, signal.SIGKILL)
        # The worker learns at once (its connection ends): the next record fails closed.
        for _ in range(1000):  # the end of its connection arrives on the loop
            if not client.running:
                break
            await asyncio.sleep(0.01)
        with pytest.raises(AuditUnavailable):
            await client.write(flow_record("acme", 2))
        await asyncio.wait_for(restarted.wait(), 60)  # the parent starts a new writer
        # ... and the worker connects to it again by itself (1 s back-off, then up).
        for _ in range(600):
            if client.running:
                break
            await asyncio.sleep(0.05)
        done = await client.write(flow_record("acme", 3))
        assert done.tenant_seq == 2
    finally:
        await client.close()
        await parent.close()
    report = verify(tmp_path / "audit.db", load_public_key(tmp_path / PUBLIC_KEY_FILE))
    assert report.ok, report.describe()


async def test_a_client_without_a_writer_says_so(tmp_path: Path) -> None:
    from warden.audit import AuditStoreError

    client = AuditWriterClient(tmp_path / "none.sock")
    with pytest.raises(AuditStoreError, match="cannot reach the host's audit writer"):
        await client.start(wait_s=2)
