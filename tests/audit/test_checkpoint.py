"""The signing key on disk (created once, 0600) and checkpoint signatures."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from warden.audit import (
    CheckpointPolicy,
    CheckpointSigner,
    SigningKeyError,
    export_public_key,
    key_id,
    load_or_create_signing_key,
    load_public_key,
)
from warden.audit.checkpoint import PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, signature_valid


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_key_is_created_once_with_private_mode(tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    first = load_or_create_signing_key(key_dir)
    assert _mode(key_dir / PRIVATE_KEY_FILE) == 0o600
    assert _mode(key_dir / PUBLIC_KEY_FILE) == 0o644
    again = load_or_create_signing_key(key_dir)
    assert key_id(again.public_key()) == key_id(first.public_key())
    assert (
        load_public_key(key_dir / PUBLIC_KEY_FILE).public_bytes_raw()
        == first.public_key().public_bytes_raw()
    )


def test_public_key_is_rewritten_when_missing(tmp_path: Path) -> None:
    key = load_or_create_signing_key(tmp_path)
    (tmp_path / PUBLIC_KEY_FILE).unlink()
    load_or_create_signing_key(tmp_path)
    assert (tmp_path / PUBLIC_KEY_FILE).read_bytes() == export_public_key(key.public_key())


def test_a_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    load_or_create_signing_key(tmp_path)
    os.chmod(tmp_path / PRIVATE_KEY_FILE, 0o644)
    with pytest.raises(SigningKeyError, match="chmod 600"):
        load_or_create_signing_key(tmp_path)


def test_an_empty_key_file_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / PRIVATE_KEY_FILE).touch(mode=0o600)
    with pytest.raises(SigningKeyError, match="delete it"):
        load_or_create_signing_key(tmp_path)


def test_load_public_key_refuses_other_files(tmp_path: Path) -> None:
    (tmp_path / "x.pub").write_text("not a key")
    with pytest.raises(SigningKeyError, match="cannot read"):
        load_public_key(tmp_path / "x.pub")


def test_signature_checks_key_and_every_signed_field() -> None:
    signer = CheckpointSigner(Ed25519PrivateKey.generate())
    checkpoint = signer.sign("acme", 5, b"\x01" * 32, "2025-03-01T12:00:00.000Z")
    assert checkpoint.key_id == key_id(signer.public_key())
    assert signature_valid(checkpoint, signer.public_key())
    assert not signature_valid(checkpoint, Ed25519PrivateKey.generate().public_key())
    for change in (
        {"tenant_seq": 6},
        {"head_hash": b"\x02" * 32},
        {"ts": "2025-03-01T12:00:00.001Z"},
        {"tenant": "acmf"},
    ):
        assert not signature_valid(dataclasses.replace(checkpoint, **change), signer.public_key())


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="every_records"):
        CheckpointPolicy(every_records=0)
    with pytest.raises(ValueError, match="positive"):
        CheckpointPolicy(every_seconds=0)
