"""Investigator bundles: exported from a store, verified elsewhere with the bundle alone."""

from __future__ import annotations

import base64
import copy
import datetime
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from warden.audit import AuditLog, CheckpointSigner, format_ts, key_id
from warden.audit.bundle import BUNDLE_DOMAIN, BundleError, Selection, build_bundle, verify_bundle
from warden.audit.canonical import canonical_json

from .conftest import T0, flow_record
from .sealing import add_recipient, capture, investigator

NOW = T0 + datetime.timedelta(hours=1)


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _store(db_path: Path, key: Ed25519PrivateKey) -> str:
    """acme: 14 records of 7 users (user-3 twice), one of user-3 with evidence, a
    checkpoint; globex beside it. The evidence id."""
    keys = db_path.parent / "recipients"
    add_recipient(keys, "acme", investigator(db_path.parent).public)
    log = AuditLog.open(db_path)
    for n in range(1, 8):
        log.append([flow_record("acme", n), flow_record("globex", n)])
    log.close()
    _, evidence_id = capture(db_path, keys, n=10)  # subject user-3
    log = AuditLog.open(db_path)
    for n in range(11, 18):
        log.append([flow_record("acme", n)])
    log.add_checkpoints(CheckpointSigner(key), ["acme", "globex"], format_ts(NOW))
    log.close()
    return evidence_id


def _export(db_path: Path, key: Ed25519PrivateKey, selection: Selection) -> dict[str, Any]:
    log = AuditLog.open(db_path)
    try:
        return build_bundle(log.connection, key, selection, exported_by="tester", now=NOW)
    finally:
        log.close()


DAY = Selection("day", "acme", subject="user-3", date="2025-03-01")


def test_a_bundle_verifies_in_a_fresh_folder_with_nothing_else(
    tmp_path: Path, db_path: Path, key: Ed25519PrivateKey
) -> None:
    evidence_id = _store(db_path, key)
    bundle = _export(db_path, key, DAY)
    exported = tmp_path / "host" / "bundle.json"
    exported.parent.mkdir()
    exported.write_text(json.dumps(bundle))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(exported, elsewhere / "bundle.json")
    db_path.unlink()  # the store is gone: only the bundle is left
    report = verify_bundle(
        (elsewhere / "bundle.json").read_bytes(), trusted_key_id=key_id(key.public_key())
    )
    assert report.ok and report.pinned, report.describe()
    # user-3's records: n=3, 10 (the capture), 17 at #3, #8, #15; the others as links
    assert [r["tenant_seq"] for r in bundle["records"]] == [3, 8, 15]
    assert len(bundle["links"]) == 10 and report.evidence == 1
    assert bundle["evidence"][0]["evidence_id"] == evidence_id
    assert all("body" not in link for link in bundle["links"])
    assert "OK: signed by the trusted key" in report.describe()


def test_without_a_trusted_key_the_result_is_unpinned(
    db_path: Path, key: Ed25519PrivateKey
) -> None:
    _store(db_path, key)
    report = verify_bundle(json.dumps(_export(db_path, key, DAY)).encode())
    assert report.ok and not report.pinned
    assert "UNPINNED" in report.describe()


def _verify(bundle: dict[str, Any], key: Ed25519PrivateKey) -> list[str]:
    return verify_bundle(
        json.dumps(bundle).encode(), trusted_key_id=key_id(key.public_key())
    ).problems


def _resign(bundle: dict[str, Any], key: Ed25519PrivateKey) -> None:
    """What an attacker holding the gateway's key could do; used to reach deeper checks."""
    bundle["signature"] = base64.b64encode(
        key.sign(BUNDLE_DOMAIN + canonical_json(bundle["manifest"]))
    ).decode()


def test_a_changed_record_fails(db_path: Path, key: Ed25519PrivateKey) -> None:
    _store(db_path, key)
    bundle = _export(db_path, key, DAY)
    bundle["records"][0]["body"] = bundle["records"][0]["body"].replace(
        '"outcome":"allowed"', '"outcome":"blocked"'
    )
    problems = _verify(bundle, key)
    assert any("record #3 was changed" in p for p in problems), problems


def test_a_dropped_record_fails(db_path: Path, key: Ed25519PrivateKey) -> None:
    _store(db_path, key)
    bundle = _export(db_path, key, DAY)
    dropped = bundle["records"].pop(1)  # #8, the one with evidence
    problems = _verify(bundle, key)
    assert any("missing from the bundle (#8)" in p for p in problems), problems
    # replaced by its link, the chain is whole, but the signed manifest still names it
    bundle["links"].append({k: dropped[k] for k in ("tenant_seq", "prev_hash", "hash")})
    problems = _verify(bundle, key)
    assert any("record #8, named by the signed manifest" in p for p in problems), problems


def test_a_dropped_link_fails(db_path: Path, key: Ed25519PrivateKey) -> None:
    _store(db_path, key)
    bundle = _export(db_path, key, DAY)
    del bundle["links"][2]
    assert any("were dropped" in p for p in _verify(bundle, key))


def test_a_swapped_evidence_blob_fails(db_path: Path, key: Ed25519PrivateKey) -> None:
    _store(db_path, key)
    keys = db_path.parent / "recipients"
    bundle = _export(db_path, key, DAY)
    # another sealed blob (same recipients, other content) in its place
    from warden.audit.evidence import CapturedBody, EvidenceEnvelope, seal

    recipients = tuple((keys / "acme.txt").read_text().split())
    forged = seal(
        EvidenceEnvelope(
            bundle["evidence"][0]["evidence_id"],
            "acme",
            "2025-03-01T12:00:10.000Z",
            "POST",
            "api.openai.com",
            "/v1/chat/completions",
            CapturedBody.capture(b"an innocent prompt", 1024),
        ),
        recipients,
    )
    bundle["evidence"][0]["ciphertext"] = base64.b64encode(forged.ciphertext).decode()
    problems = _verify(bundle, key)
    assert any("does not match the hash in record #8" in p for p in problems), problems


def test_a_foreign_key_fails(db_path: Path, key: Ed25519PrivateKey) -> None:
    _store(db_path, key)
    bundle = _export(db_path, key, DAY)
    foreign = Ed25519PrivateKey.generate()
    from cryptography.hazmat.primitives import serialization

    raw = foreign.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    swapped = copy.deepcopy(bundle)
    swapped["public_key"] = base64.b64encode(raw).decode()
    # re-signed by someone else: consistent in itself, but not the trusted key
    swapped["manifest"]["key_id"] = key_id(foreign.public_key())
    _resign(swapped, foreign)
    problems = _verify(swapped, key)
    assert len(problems) == 1 and problems[0].startswith("FOREIGN KEY"), problems
    # the key replaced without re-signing: the signature does not verify
    unsigned = copy.deepcopy(bundle)
    unsigned["public_key"] = base64.b64encode(raw).decode()
    report = verify_bundle(json.dumps(unsigned).encode())
    assert any("signature does not verify" in p for p in report.problems), report.problems


def test_a_checkpoint_of_another_key_fails(db_path: Path, key: Ed25519PrivateKey) -> None:
    _store(db_path, key)
    bundle = _export(db_path, key, DAY)
    other = CheckpointSigner(Ed25519PrivateKey.generate())
    cp = bundle["checkpoints"][0]
    forged = other.sign("acme", cp["tenant_seq"], bytes.fromhex(cp["head_hash"]), cp["ts"])
    cp["signature"] = base64.b64encode(forged.signature).decode()
    cp["key_id"] = forged.key_id
    problems = _verify(bundle, key)
    assert any("is not signed by the bundle's key" in p for p in problems), problems


@pytest.mark.parametrize(
    "damage",
    [b"", b"{", b"[]", b'{"format": "egress-warden/audit-bundle/v1"}', b"\xff\xfe"],
)
def test_malformed_bundles_are_refused_clearly(damage: bytes) -> None:
    report = verify_bundle(damage)
    assert not report.ok and report.problems[0].startswith("the bundle is malformed")


def test_nothing_selected_is_an_error(db_path: Path, key: Ed25519PrivateKey) -> None:
    _store(db_path, key)
    with pytest.raises(BundleError, match="no record matches"):
        _export(db_path, key, Selection("day", "acme", subject="nobody", date="2025-03-01"))
    with pytest.raises(BundleError, match="is not a date"):
        _export(db_path, key, Selection("day", "acme", subject="user-3", date="yesterday"))


def test_a_flow_selection_and_a_missing_checkpoint(db_path: Path, key: Ed25519PrivateKey) -> None:
    _store(db_path, key)
    log = AuditLog.open(db_path)
    (appended,) = log.append([flow_record("acme", 30)])
    log.close()
    selection = Selection("flows", "acme", flows=(appended.record_id,))
    with pytest.raises(BundleError, match="no signed checkpoint covers record #16"):
        _export(db_path, key, selection)
    log = AuditLog.open(db_path)
    try:
        bundle = build_bundle(
            log.connection,
            key,
            selection,
            exported_by="t",
            now=NOW,
            make_checkpoint=lambda t: log.add_checkpoints(
                CheckpointSigner(key), [t], format_ts(NOW)
            )[0],
        )
    finally:
        log.close()
    assert [r["tenant_seq"] for r in bundle["records"]] == [16]
    assert _verify(bundle, key) == []


def test_a_huge_claimed_span_is_refused_without_walking_it(
    db_path: Path, key: Ed25519PrivateKey
) -> None:
    _store(db_path, key)
    bundle = _export(db_path, key, DAY)
    signer = CheckpointSigner(key)
    cp = signer.sign("acme", 10**15, bytes(32), "2025-03-01T13:00:00.000Z")
    bundle["checkpoints"][0].update(
        tenant_seq=cp.tenant_seq,
        head_hash=cp.head_hash.hex(),
        signature=base64.b64encode(cp.signature).decode(),
    )
    bundle["manifest"]["checkpoint"] = [cp.tenant_seq, cp.head_hash.hex(), cp.ts]
    _resign(bundle, key)
    problems = _verify(bundle, key)
    assert any("which no export makes" in p for p in problems), problems


def test_a_conversation_is_one_bundle(db_path: Path, key: Ed25519PrivateKey) -> None:
    log = AuditLog.open(db_path)
    for n in range(1, 7):
        turn = {"conversation": "conv-1"} if n % 2 else {}
        log.append([flow_record("acme", n, details=turn), flow_record("globex", n, details=turn)])
    log.add_checkpoints(CheckpointSigner(key), ["acme", "globex"], format_ts(NOW))
    log.close()
    with pytest.raises(BundleError, match="spans tenants acme, globex"):
        _export(db_path, key, Selection("conversation", conversation="conv-1"))
    bundle = _export(db_path, key, Selection("conversation", "acme", conversation="conv-1"))
    assert [r["tenant_seq"] for r in bundle["records"]] == [1, 3, 5]
    assert [link["tenant_seq"] for link in bundle["links"]] == [2, 4, 6]
    assert _verify(bundle, key) == []
