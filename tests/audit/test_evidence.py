"""Sealed evidence: only investigators' keys open it, the chain covers it, every access is audited."""

from __future__ import annotations

import datetime
import json
import os
import sqlite3
from pathlib import Path

import pytest

from warden.audit import AuditLog, CheckpointSigner, format_ts, purge, verify
from warden.audit.evidence import (
    CapturedBody,
    EvidenceError,
    load_identities,
    parse_recipients,
)
from warden.audit.evidence_access import ACCESS_EVENT, EvidenceAccessError, open_evidence

from .conftest import T0
from .sealing import add_recipient, capture, investigator
from .tamper import attacker

IBAN = b"DE89370400440532013000"


def _accesses(db_path: Path) -> list[dict[str, object]]:
    with sqlite3.connect(db_path) as conn:
        return [
            json.loads(body)
            for (body,) in conn.execute(
                "SELECT body FROM records WHERE event = ? ORDER BY seq", (ACCESS_EVENT,)
            )
        ]


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    return tmp_path / "recipients"


def test_the_investigator_opens_it_and_the_access_is_recorded(db_path: Path, keys: Path) -> None:
    alice = investigator(db_path.parent, "alice")
    add_recipient(keys, "acme", alice.public)
    record, evidence_id = capture(db_path, keys)
    opened = open_evidence(db_path, evidence_id, alice.key_file, reviewer="Alice", via="cli")
    assert IBAN in opened.envelope.request.data
    assert opened.envelope.answer is not None and b"noted" in opened.envelope.answer.data
    assert opened.record_id == record.record_id
    (access,) = _accesses(db_path)
    assert access["tenant"] == "acme" and access["outcome"] == "ok"
    details = access["details"]
    assert isinstance(details, dict)
    assert details["evidence_id"] == evidence_id and details["reviewer"] == "Alice"
    assert details["via"] == "cli" and details["os_user"]


def test_a_flow_record_id_finds_its_evidence(db_path: Path, keys: Path) -> None:
    alice = investigator(db_path.parent, "alice")
    add_recipient(keys, "acme", alice.public)
    record, evidence_id = capture(db_path, keys)
    opened = open_evidence(db_path, record.record_id, alice.key_file, reviewer="A", via="cli")
    assert opened.envelope.evidence_id == evidence_id


def test_another_key_cannot_open_it_and_the_failure_is_recorded(db_path: Path, keys: Path) -> None:
    alice = investigator(db_path.parent, "alice")
    mallory = investigator(db_path.parent, "mallory")
    add_recipient(keys, "acme", alice.public)
    _, evidence_id = capture(db_path, keys)
    with pytest.raises(EvidenceAccessError, match="cannot open the evidence"):
        open_evidence(db_path, evidence_id, mallory.key_file, reviewer="Mallory", via="cli")
    (access,) = _accesses(db_path)
    assert access["outcome"] == "failed"
    assert access["details"]["reason"] == "wrong key"  # type: ignore[index]


def test_the_store_holds_only_ciphertext_in_age_format(db_path: Path, keys: Path) -> None:
    add_recipient(keys, "acme", investigator(db_path.parent).public)
    _, evidence_id = capture(db_path, keys)
    with sqlite3.connect(db_path) as conn:
        (blob,) = conn.execute(
            "SELECT ciphertext FROM evidence WHERE evidence_id = ?", (evidence_id,)
        ).fetchone()
        text = b"".join(row[0].encode() for row in conn.execute("SELECT body FROM records"))
    assert blob.startswith(b"age-encryption.org/v1\n")
    assert IBAN not in blob and IBAN not in text


def test_every_listed_investigator_can_open_it(db_path: Path, keys: Path) -> None:
    alice, bob = investigator(db_path.parent, "alice"), investigator(db_path.parent, "bob")
    add_recipient(keys, "acme", alice.public)
    add_recipient(keys, "acme", bob.public)
    _, evidence_id = capture(db_path, keys)
    for who in (alice, bob):
        opened = open_evidence(db_path, evidence_id, who.key_file, reviewer="r", via="cli")
        assert IBAN in opened.envelope.request.data


def test_the_hash_in_the_chain_is_the_ciphertexts(db_path: Path, keys: Path) -> None:
    import hashlib

    add_recipient(keys, "acme", investigator(db_path.parent).public)
    record, evidence_id = capture(db_path, keys)
    with sqlite3.connect(db_path) as conn:
        (blob,) = conn.execute(
            "SELECT ciphertext FROM evidence WHERE evidence_id = ?", (evidence_id,)
        ).fetchone()
    assert record.details["evidence_sha256"] == hashlib.sha256(blob).hexdigest()


def test_evidence_is_append_only(db_path: Path, keys: Path) -> None:
    add_recipient(keys, "acme", investigator(db_path.parent).public)
    capture(db_path, keys)
    with sqlite3.connect(db_path) as conn:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE evidence SET ciphertext = x'00'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM evidence")


def test_a_swapped_blob_is_refused(db_path: Path, keys: Path) -> None:
    alice = investigator(db_path.parent, "alice")
    add_recipient(keys, "acme", alice.public)
    _, first = capture(db_path, keys, n=1, request=b"first prompt")
    _, second = capture(db_path, keys, n=2, request=b"second prompt")
    conn = attacker(db_path)
    (blob,) = conn.execute(
        "SELECT ciphertext FROM evidence WHERE evidence_id = ?", (second,)
    ).fetchone()
    conn.execute("UPDATE evidence SET ciphertext = ? WHERE evidence_id = ?", (blob, first))
    conn.commit()
    conn.close()
    with pytest.raises(EvidenceAccessError, match="does not match the hash its record carries"):
        open_evidence(db_path, first, alice.key_file, reviewer="r", via="cli")
    assert _accesses(db_path)[-1]["outcome"] == "failed"


def test_a_record_edited_to_name_another_blob_is_refused(db_path: Path, keys: Path) -> None:
    alice = investigator(db_path.parent, "alice")
    add_recipient(keys, "acme", alice.public)
    _, first = capture(db_path, keys, n=1, request=b"first prompt")
    conn = attacker(db_path)
    (body,) = conn.execute("SELECT body FROM records WHERE tenant_seq = 1").fetchone()
    conn.execute(
        "UPDATE records SET body = ? WHERE tenant_seq = 1",
        (body.replace('"outcome":"blocked"', '"outcome":"allowed"'),),
    )
    conn.commit()
    conn.close()
    with pytest.raises(EvidenceAccessError, match="no longer matches its hash in the chain"):
        open_evidence(db_path, first, alice.key_file, reviewer="r", via="cli")


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    alice = investigator(tmp_path)
    os.chmod(alice.key_file, 0o644)
    with pytest.raises(EvidenceError, match="can be read by other users"):
        load_identities(alice.key_file)


def test_a_public_key_file_is_not_a_private_key(tmp_path: Path) -> None:
    path = tmp_path / "pub.txt"
    path.write_text(investigator(tmp_path).public + "\n")
    path.chmod(0o600)
    with pytest.raises(EvidenceError, match="holds no age private key"):
        load_identities(path)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("ssh-ed25519 AAAA", "is not an age public key"),
        ("age1notbech32", "is not a valid age public key"),
        ("AGE-SECRET-KEY-1QQQ", "is not an age public key"),
    ],
)
def test_recipients_file_errors_name_the_line(line: str, problem: str) -> None:
    with pytest.raises(EvidenceError, match=f"keys.txt line 2: .*{problem}"):
        parse_recipients(f"# team\n{line}\n", "keys.txt")


def test_no_recipients_cannot_seal(db_path: Path, keys: Path) -> None:
    with pytest.raises(EvidenceError, match="has no investigator keys"):
        capture(db_path, keys)


def test_a_large_body_is_truncated_and_says_so(db_path: Path, keys: Path) -> None:
    alice = investigator(db_path.parent)
    add_recipient(keys, "acme", alice.public)
    _, evidence_id = capture(db_path, keys, request=b"x" * 5000, max_bytes=1024)
    opened = open_evidence(db_path, evidence_id, alice.key_file, reviewer="r", via="cli")
    body = opened.envelope.request
    assert (len(body.data), body.size, body.truncated) == (1024, 5000, True)
    assert not CapturedBody.capture(b"x" * 10, 1024).truncated


def test_the_chain_still_verifies_with_evidence_and_accesses(
    db_path: Path, keys: Path, signer: CheckpointSigner
) -> None:
    alice = investigator(db_path.parent)
    add_recipient(keys, "acme", alice.public)
    _, evidence_id = capture(db_path, keys)
    open_evidence(db_path, evidence_id, alice.key_file, reviewer="r", via="console")
    assert verify(db_path, signer.public_key()).ok


def test_retention_removes_evidence_with_its_records(
    db_path: Path, keys: Path, signer: CheckpointSigner
) -> None:
    add_recipient(keys, "acme", investigator(db_path.parent).public)
    _, old = capture(db_path, keys, n=1)
    log = AuditLog.open(db_path)
    log.add_checkpoints(signer, ["acme"], format_ts(T0 + datetime.timedelta(seconds=2)))
    log.close()
    _, kept = capture(db_path, keys, n=10)
    log = AuditLog.open(db_path)
    result = purge(log, "acme", 30, T0 + datetime.timedelta(days=30, seconds=5))
    log.close()
    assert result.records_deleted == 1
    with sqlite3.connect(db_path) as conn:
        left = [row[0] for row in conn.execute("SELECT evidence_id FROM evidence")]
    assert left == [kept] and old not in left


def test_a_terminal_escape_in_a_prompt_is_shown_not_obeyed() -> None:
    body = CapturedBody.capture(b"hi\x1b]0;owned\x07\x1b[2J\r\nline\ttab \xc2\x9b", 1024)
    assert body.text() == "hi\\x1b]0;owned\\x07\\x1b[2J\\x0d\nline\ttab \\x9b"
