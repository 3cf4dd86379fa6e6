"""AuditLog: per-tenant chains, append-only triggers, file mode, heads across reopen."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from warden.audit import AuditLog, AuditStoreError, CheckpointSigner
from warden.audit.canonical import GENESIS_HASH, canonical_record, chain_hash

from .conftest import flow_record


def test_file_is_private_and_in_wal_mode(log: AuditLog, db_path: Path) -> None:
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    assert log.connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert log.connection.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL


def test_synchronous_full_is_configurable(tmp_path: Path) -> None:
    log = AuditLog.open(tmp_path / "a.db", synchronous="FULL")
    assert log.connection.execute("PRAGMA synchronous").fetchone() == (2,)
    log.close()
    with pytest.raises(AuditStoreError, match="'OFF' is not supported") as caught:
        AuditLog.open(tmp_path / "b.db", synchronous="OFF")  # type: ignore[arg-type]
    assert "NORMAL (survives a process crash) or FULL" in caught.value.diagnostics()


def test_each_tenant_has_its_own_chain(log: AuditLog) -> None:
    records = [flow_record("acme", 0), flow_record("globex", 1), flow_record("acme", 2)]
    appended = log.append(records)
    assert [(a.seq, a.tenant, a.tenant_seq) for a in appended] == [
        (1, "acme", 1),
        (2, "globex", 1),
        (3, "acme", 2),
    ]
    first = chain_hash("acme", 1, GENESIS_HASH, canonical_record(records[0]))
    assert appended[0].hash == first
    assert appended[2].hash == chain_hash("acme", 2, first, canonical_record(records[2]))
    row = log.connection.execute(
        "SELECT body, prev_hash, hash, outcome, subject, provider, model, action FROM records WHERE seq = 3"
    ).fetchone()
    assert row == (
        canonical_record(records[2]).decode(),
        first,
        appended[2].hash,
        "allowed",
        "user-2",
        "openai",
        "gpt-4o",
        "allow",
    )


def test_heads_survive_reopen(db_path: Path) -> None:
    log = AuditLog.open(db_path)
    appended = log.append([flow_record("acme", n) for n in range(3)])
    log.close()
    again = AuditLog.open(db_path)
    assert again.heads()["acme"].tenant_seq == 3
    assert again.heads()["acme"].hash == appended[-1].hash
    assert again.append([flow_record("acme", 9)])[0].tenant_seq == 4
    again.close()


def test_heads_reload_after_another_connection_wrote(db_path: Path) -> None:
    first, second = AuditLog.open(db_path), AuditLog.open(db_path)
    first.append([flow_record("acme", 0)])
    second.append([flow_record("acme", 1)])
    (appended,) = first.append([flow_record("acme", 2)])
    assert appended.tenant_seq == 3
    first.close()
    second.close()


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("UPDATE records SET outcome = 'blocked'", "append-only: UPDATE is refused"),
        ("DELETE FROM records WHERE seq = 1", "DELETE is refused outside the retention purge"),
        ("UPDATE checkpoints SET tenant_seq = 9", "checkpoints are append-only"),
        ("DELETE FROM checkpoints", "checkpoints are append-only"),
        (
            "INSERT INTO anchors VALUES ('acme', 1, x'00', 't', x'00', 'k', 't')",
            "retention purge only",
        ),
    ],
)
def test_triggers_refuse_update_and_delete(
    log: AuditLog, signer: CheckpointSigner, statement: str, message: str
) -> None:
    log.append([flow_record()])
    log.add_checkpoints(signer, ["acme"], "2025-03-01T12:00:00.000Z")
    with pytest.raises(sqlite3.IntegrityError, match=message):
        log.connection.execute(statement)


def test_a_duplicate_record_id_rolls_back_the_batch(log: AuditLog) -> None:
    record = flow_record()
    log.append([record])
    with pytest.raises(AuditStoreError, match=r"UNIQUE constraint failed: records\.record_id"):
        log.append([flow_record("acme", 1), record])
    assert log.connection.execute("SELECT COUNT(*) FROM records").fetchone() == (1,)
    assert log.heads()["acme"].tenant_seq == 1
    assert log.append([flow_record("acme", 2)])[0].tenant_seq == 2


def test_checkpoints_sign_current_heads(log: AuditLog, signer: CheckpointSigner) -> None:
    appended = log.append([flow_record("acme", 0), flow_record("globex", 1)])
    made = log.add_checkpoints(signer, ["acme", "globex", "nobody"], "2025-03-01T12:00:01.000Z")
    assert [(c.tenant, c.tenant_seq, c.head_hash) for c in made] == [
        ("acme", 1, appended[0].hash),
        ("globex", 1, appended[1].hash),
    ]
    assert log.checkpointed_heads() == {"acme": 1, "globex": 1}


def test_unusable_path_is_reported_with_a_fix(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")  # a file where the folder should be (works as root too)
    with pytest.raises(AuditStoreError) as caught:
        AuditLog.open(tmp_path / "file" / "audit.db")
    assert "writable by the gateway's user" in caught.value.diagnostics()
