"""verify: each kind of tampering, done to a real database file, is found and named exactly."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from warden.audit import Checkpoint, CheckpointSigner, FindingKind, VerifyReport, verify
from warden.audit.canonical import canonical_record, chain_hash

from .conftest import flow_record
from .tamper import INSERT, Row, attacker, build, forged_row, hash_of

type Found = list[tuple[FindingKind, int | None, int | None, str | None]]


def found(report: VerifyReport) -> Found:
    return [(f.kind, f.seq, f.tenant_seq, f.record_id) for f in report.findings]


@pytest.fixture
def acme(db_path: Path, signer: CheckpointSigner) -> dict[int, Row]:
    return build(db_path, signer)


def test_an_untouched_log_verifies(
    db_path: Path, signer: CheckpointSigner, acme: dict[int, Row]
) -> None:
    seen: list[tuple[int, int]] = []
    report = verify(
        db_path, signer.public_key(), progress=lambda done, total: seen.append((done, total))
    )
    assert report.ok, report.describe()
    assert [
        (t.tenant, t.records, t.tail, t.checkpoints, t.unsigned_tail) for t in report.tenants
    ] == [
        ("acme", 20, 20, 4, 0),
        ("globex", 5, 5, 4, 0),
    ]
    assert seen[-1] == (25, 25)
    assert report.describe().endswith("OK: every chain verifies")


def test_edited_field(db_path: Path, signer: CheckpointSigner, acme: dict[int, Row]) -> None:
    with attacker(db_path) as conn:
        conn.execute(
            'UPDATE records SET body = replace(body, \'"outcome":"allowed"\', \'"outcome":"blocked"\') '
            "WHERE seq = ?",
            (acme[7].seq,),
        )
    report = verify(db_path, signer.public_key())
    assert found(report) == [(FindingKind.EDITED, acme[7].seq, 7, acme[7].record_id)]
    assert (
        "its outcome column says 'allowed' but its body says 'blocked'"
        in report.findings[0].message
    )
    assert "no longer matches its hash" in report.findings[0].message
    assert not report.ok


def test_edited_indexed_column_only(
    db_path: Path, signer: CheckpointSigner, acme: dict[int, Row]
) -> None:
    with attacker(db_path) as conn:
        conn.execute("UPDATE records SET subject = 'someone-else' WHERE seq = ?", (acme[3].seq,))
    report = verify(db_path, signer.public_key())
    assert found(report) == [(FindingKind.EDITED, acme[3].seq, 3, acme[3].record_id)]
    assert (
        report.findings[0].message
        == "its subject column says 'someone-else' but its body says 'user-3'"
    )


def test_edited_and_rehashed_record(
    db_path: Path, signer: CheckpointSigner, acme: dict[int, Row]
) -> None:
    forged = canonical_record(flow_record("acme", 7, outcome="blocked")).decode()
    prev = hash_of(db_path, "acme", 6)
    with attacker(db_path) as conn:
        conn.execute(
            "UPDATE records SET body = ?, record_id = ?, outcome = 'blocked', hash = ? WHERE seq = ?",
            (
                forged,
                forged.split('"record_id":"')[1][:32],
                chain_hash("acme", 7, prev, forged.encode()),
                acme[7].seq,
            ),
        )
    report = verify(db_path, signer.public_key())
    assert [(k, s, n) for k, s, n, _ in found(report)] == [(FindingKind.EDITED, acme[7].seq, 7)]
    assert "replaced and re-hashed" in report.findings[0].message


def test_deleted_record_in_the_middle(
    db_path: Path, signer: CheckpointSigner, acme: dict[int, Row]
) -> None:
    with attacker(db_path) as conn:
        conn.execute("DELETE FROM records WHERE seq = ?", (acme[7].seq,))
    report = verify(db_path, signer.public_key())
    assert found(report) == [(FindingKind.DELETED, acme[8].seq, 7, acme[8].record_id)]
    assert report.findings[0].message == "records number 7..7 are missing before it"


def test_deleted_record_with_later_ones_renumbered(
    db_path: Path, signer: CheckpointSigner, acme: dict[int, Row]
) -> None:
    with attacker(db_path) as conn:
        conn.execute("DELETE FROM records WHERE seq = ?", (acme[7].seq,))
        conn.execute(
            "UPDATE records SET tenant_seq = -(tenant_seq - 1) WHERE tenant = 'acme' AND tenant_seq > 7"
        )
        conn.execute("UPDATE records SET tenant_seq = -tenant_seq WHERE tenant_seq < 0")
    report = verify(db_path, signer.public_key())
    assert found(report) == [(FindingKind.DELETED, acme[8].seq, 7, acme[8].record_id)]
    assert report.findings[0].message.startswith(
        "1 record(s) before it were deleted and the later ones renumbered"
    )


_SWAP_COLUMNS = "record_id, ts, kind, event, outcome, action, subject, department, provider, model, body, prev_hash, hash"


def _swap(db_path: Path, a: int, b: int, columns: str) -> None:
    """Rows ``a`` and ``b`` trade ``columns``; the attacker rebuilds the table to get past UNIQUE."""
    with attacker(db_path) as conn:
        names = [c for c in columns.split(", ")]
        kept = [c for c in ("seq", "tenant", "tenant_seq") if c not in names]
        conn.execute("DROP INDEX records_tenant_seq")
        conn.execute("ALTER TABLE records RENAME TO old")
        conn.execute("CREATE TABLE records AS SELECT * FROM old WHERE 0")
        rows = {seq: row for seq, *row in conn.execute(f"SELECT seq, {columns} FROM old")}
        rows[a], rows[b] = rows[b], rows[a]
        for seq in sorted(rows):
            conn.execute(
                f"INSERT INTO records ({', '.join(kept)}, {columns}) "
                f"SELECT {', '.join(kept)}, {', '.join('?' for _ in names)} FROM old WHERE seq = ?",
                (*rows[seq], seq),
            )
        conn.execute("DROP TABLE old")


def test_reordered_pair(db_path: Path, signer: CheckpointSigner, acme: dict[int, Row]) -> None:
    _swap(db_path, acme[7].seq, acme[8].seq, _SWAP_COLUMNS)  # contents trade places, numbers stay
    report = verify(db_path, signer.public_key())
    assert [(f.kind, f.seq, f.tenant_seq, f.record_id, f.other_seq) for f in report.findings] == [
        (FindingKind.REORDERED, acme[8].seq, 7, acme[7].record_id, acme[7].seq)
    ]


def test_reordered_pair_with_their_numbers(
    db_path: Path, signer: CheckpointSigner, acme: dict[int, Row]
) -> None:
    _swap(
        db_path, acme[7].seq, acme[8].seq, "tenant_seq, " + _SWAP_COLUMNS
    )  # only storage order changes
    report = verify(db_path, signer.public_key())
    assert found(report) == [(FindingKind.REORDERED, acme[7].seq, 8, acme[8].record_id)]
    assert f"is stored before seq {acme[8].seq}" in report.findings[0].message


def test_inserted_record_with_later_ones_renumbered(
    db_path: Path, signer: CheckpointSigner, acme: dict[int, Row]
) -> None:
    forged = flow_record("acme", 99, outcome="allowed")
    with attacker(db_path) as conn:
        conn.execute(
            "UPDATE records SET tenant_seq = -(tenant_seq + 1) WHERE tenant = 'acme' AND tenant_seq >= 8"
        )
        conn.execute("UPDATE records SET tenant_seq = -tenant_seq WHERE tenant_seq < 0")
        conn.execute(INSERT, (1000, *forged_row("acme", 8, hash_of(db_path, "acme", 7), forged)))
    report = verify(db_path, signer.public_key())
    assert found(report) == [(FindingKind.INSERTED, 1000, 8, forged.record_id)]
    assert (
        report.findings[0].message
        == f"the next record (seq {acme[8].seq}) links past it to the record before"
    )


def test_inserted_record_with_a_used_number(
    db_path: Path, signer: CheckpointSigner, acme: dict[int, Row]
) -> None:
    forged = flow_record("acme", 99)
    with attacker(db_path) as conn:
        conn.execute("DROP INDEX records_tenant_seq")
        conn.execute(INSERT, (1000, *forged_row("acme", 8, hash_of(db_path, "acme", 7), forged)))
    report = verify(db_path, signer.public_key())
    assert found(report) == [(FindingKind.INSERTED, 1000, 8, forged.record_id)]


def test_inserted_record_ahead_of_the_genuine_one(
    db_path: Path, signer: CheckpointSigner, acme: dict[int, Row]
) -> None:
    forged = flow_record("acme", 99)
    with attacker(db_path) as conn:
        conn.execute("DROP INDEX records_tenant_seq")
        conn.execute(INSERT, (-5, *forged_row("acme", 8, hash_of(db_path, "acme", 7), forged)))
    report = verify(db_path, signer.public_key())
    assert found(report) == [(FindingKind.INSERTED, -5, 8, forged.record_id)]


def test_truncated_tail(db_path: Path, signer: CheckpointSigner, acme: dict[int, Row]) -> None:
    with attacker(db_path) as conn:
        conn.execute("DELETE FROM records WHERE tenant = 'acme' AND tenant_seq >= 18")
    report = verify(db_path, signer.public_key())
    assert found(report) == [(FindingKind.TRUNCATED, None, 18, None)]
    assert report.findings[0].message.startswith("records #18..#20 are missing at the end")


def test_truncated_tail_with_its_checkpoints_is_caught_by_offbox_checkpoints(
    db_path: Path, signer: CheckpointSigner, acme: dict[int, Row]
) -> None:
    with sqlite3.connect(db_path) as conn:
        shipped = [
            Checkpoint(*row)
            for row in conn.execute(
                "SELECT tenant, tenant_seq, head_hash, ts, signature, key_id FROM checkpoints"
            )
        ]
    with attacker(db_path) as conn:
        conn.execute("DELETE FROM records WHERE tenant = 'acme' AND tenant_seq >= 13")
        conn.execute("DELETE FROM checkpoints WHERE tenant = 'acme' AND tenant_seq >= 13")
    assert verify(db_path, signer.public_key()).ok  # the file alone cannot tell
    report = verify(db_path, signer.public_key(), extra_checkpoints=shipped)
    assert found(report) == [(FindingKind.TRUNCATED, None, 13, None)]


def test_rewritten_chain_fails_the_signed_checkpoints(
    db_path: Path, signer: CheckpointSigner, acme: dict[int, Row]
) -> None:
    with attacker(db_path) as conn:
        prev = hash_of(db_path, "acme", 6)
        for number in range(7, 21):
            seq, body = conn.execute(
                "SELECT seq, body FROM records WHERE tenant = 'acme' AND tenant_seq = ?", (number,)
            ).fetchone()
            if number == 7:
                body = body.replace('"outcome":"allowed"', '"outcome":"coached"')
            digest = chain_hash("acme", number, prev, body.encode())
            conn.execute(
                "UPDATE records SET body = ?, prev_hash = ?, hash = ?, outcome = ? WHERE seq = ?",
                (body, prev, digest, "coached" if number == 7 else "allowed", seq),
            )
            prev = digest
    report = verify(db_path, signer.public_key())
    assert found(report) == [
        (FindingKind.CHECKPOINT_MISMATCH, None, 10, None),
        (FindingKind.CHECKPOINT_MISMATCH, None, 15, None),
        (FindingKind.CHECKPOINT_MISMATCH, None, 20, None),
    ]


def test_bad_checkpoint_signature(
    db_path: Path, signer: CheckpointSigner, acme: dict[int, Row]
) -> None:
    with attacker(db_path) as conn:
        conn.execute(
            "UPDATE checkpoints SET signature = zeroblob(64) WHERE tenant = 'acme' AND tenant_seq = 10"
        )
    report = verify(db_path, signer.public_key())
    assert found(report) == [(FindingKind.BAD_SIGNATURE, None, 10, None)]


def test_the_wrong_public_key_fails_every_checkpoint(
    db_path: Path, signer: CheckpointSigner, acme: dict[int, Row]
) -> None:
    report = verify(db_path, Ed25519PrivateKey.generate().public_key(), tenant="globex")
    assert [f.kind for f in report.findings] == [FindingKind.BAD_SIGNATURE] * 4


def test_one_tenant_is_checked_alone(
    db_path: Path, signer: CheckpointSigner, acme: dict[int, Row]
) -> None:
    with attacker(db_path) as conn:
        conn.execute("DELETE FROM records WHERE seq = ?", (acme[7].seq,))
    assert verify(db_path, signer.public_key(), tenant="globex").ok
    assert not verify(db_path, signer.public_key(), tenant="acme").ok


def test_unsigned_records_are_counted(db_path: Path, signer: CheckpointSigner) -> None:
    build(db_path, signer, count=23)
    report = verify(db_path, signer.public_key(), tenant="acme")
    assert report.ok
    assert report.tenants[0].unsigned_tail == 3
