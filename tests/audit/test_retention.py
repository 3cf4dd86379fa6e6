"""Retention purge: old records go, the anchor keeps the rest verifiable, the chain continues."""

from __future__ import annotations

import datetime
import sqlite3
from pathlib import Path

import pytest

from warden.audit import AuditLog, CheckpointSigner, FindingKind, purge, verify

from .conftest import T0, flow_record
from .tamper import attacker, build

DAY = datetime.timedelta(days=1)


def _tenant_seqs(db_path: Path, table: str, tenant: str) -> list[int]:
    with sqlite3.connect(db_path) as conn:
        return [
            n
            for (n,) in conn.execute(
                f"SELECT tenant_seq FROM {table} WHERE tenant = ? ORDER BY 1", (tenant,)
            )
        ]


def test_purge_up_to_the_last_checkpoint_before_the_cutoff(
    db_path: Path, signer: CheckpointSigner
) -> None:
    build(db_path, signer)
    log = AuditLog.open(db_path)
    result = purge(log, "acme", 30, now=T0 + 30 * DAY + datetime.timedelta(seconds=12))
    assert (
        result.cutoff,
        result.anchor_seq,
        result.records_deleted,
        result.checkpoints_deleted,
    ) == (
        "2025-03-01T12:00:12.000Z",
        10,
        10,
        1,
    )
    assert _tenant_seqs(db_path, "records", "acme") == list(range(11, 21))
    assert _tenant_seqs(db_path, "checkpoints", "acme") == [10, 15, 20]
    assert len(_tenant_seqs(db_path, "records", "globex")) == 5
    (appended,) = log.append([flow_record("acme", 21)])
    assert appended.tenant_seq == 21
    log.close()
    report = verify(db_path, signer.public_key())
    assert report.ok, report.describe()
    assert report.tenants[0].anchor_seq == 10
    # when the anchor was signed shows (a too-young anchor is a purge made early)
    with sqlite3.connect(db_path) as conn:
        (signed,) = conn.execute("SELECT ts FROM anchors WHERE tenant = 'acme'").fetchone()
    assert report.tenants[0].anchor_ts == signed
    assert f"anchored at #10 (signed {signed})" in report.describe()


def test_nothing_to_purge_before_the_first_checkpoint(
    db_path: Path, signer: CheckpointSigner
) -> None:
    build(db_path, signer)
    log = AuditLog.open(db_path)
    result = purge(log, "acme", 30, now=T0 + 30 * DAY + datetime.timedelta(seconds=4))
    assert (result.anchor_seq, result.records_deleted) == (None, 0)
    again = purge(log, "acme", 30, now=T0 + 30 * DAY + datetime.timedelta(seconds=12))
    assert again.anchor_seq == 10
    assert (
        purge(log, "acme", 30, now=T0 + 30 * DAY + datetime.timedelta(seconds=12)).anchor_seq
        is None
    )
    log.close()


def test_purging_everything_keeps_the_head_for_the_next_record(
    db_path: Path, signer: CheckpointSigner
) -> None:
    build(db_path, signer)
    log = AuditLog.open(db_path)
    assert purge(log, "acme", 0, now=T0 + DAY).records_deleted == 20
    log.close()
    reopened = AuditLog.open(db_path)
    assert reopened.heads()["acme"].tenant_seq == 20
    assert reopened.append([flow_record("acme", 30)])[0].tenant_seq == 21
    reopened.close()
    assert verify(db_path, signer.public_key()).ok


def test_tampering_after_a_purge_is_still_found(db_path: Path, signer: CheckpointSigner) -> None:
    build(db_path, signer)
    log = AuditLog.open(db_path)
    purge(log, "acme", 30, now=T0 + 30 * DAY + datetime.timedelta(seconds=12))
    log.close()
    with attacker(db_path) as conn:
        conn.execute("DELETE FROM records WHERE tenant = 'acme' AND tenant_seq = 11")
        conn.execute("UPDATE anchors SET ts = '2025-03-01T12:00:11.000Z'")
    report = verify(db_path, signer.public_key(), tenant="acme")
    assert [(f.kind, f.tenant_seq) for f in report.findings] == [
        (FindingKind.BAD_SIGNATURE, 10),
        (FindingKind.DELETED, 11),
    ]


def test_negative_days_are_refused(log: AuditLog) -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        purge(log, "acme", -1, now=T0)
