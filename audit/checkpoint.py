"""Signed checkpoints: the Ed25519 signing key on disk, `Checkpoint`, signing and checking.

The key is created at first start in the audit key folder: ``audit-signing.key``
(PKCS#8 PEM, mode 0600, created with O_CREAT|O_EXCL so two starting processes never
overwrite each other's key) and ``audit-signing.pub`` (SubjectPublicKeyInfo PEM, 0644),
which is what a SIEM or `verify` needs. A checkpoint signs a tenant's head (number and
hash) at a time; the message layout is in `canonical`'s docstring.

When checkpoints are made is `CheckpointPolicy`'s business: every ``every_records``
records of a tenant, and on a timer every ``every_seconds`` for each tenant whose head
moved since its last checkpoint. ``heartbeat_seconds`` re-signs every tenant's head even
when nothing moved, so the newest signature is never older than that: a cut-off tail
(records and their checkpoints deleted) shows as a missing heartbeat off-box. The
heartbeat defaults to a minute rather than ``every_seconds`` because it writes one row per
tenant each time, moved or not.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .canonical import checkpoint_message
from .errors import SigningKeyError

PRIVATE_KEY_FILE: Final = "audit-signing.key"
PUBLIC_KEY_FILE: Final = "audit-signing.pub"
SECRET_MODE: Final = 0o600
PUBLIC_MODE: Final = 0o644


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement: tenant's chain had head ``head_hash`` at ``tenant_seq`` at ``ts``."""

    tenant: str
    tenant_seq: int
    head_hash: bytes
    ts: str
    signature: bytes
    key_id: str

    def message(self) -> bytes:
        return checkpoint_message(self.tenant, self.tenant_seq, self.head_hash, self.ts)


@dataclass(frozen=True, slots=True)
class CheckpointPolicy:
    """When the writer signs checkpoints; see the module docstring."""

    every_records: int = 1000
    every_seconds: float = 10.0
    heartbeat_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.every_records < 1:
            raise ValueError("CheckpointPolicy.every_records must be at least 1")
        if self.every_seconds <= 0 or self.heartbeat_seconds <= 0:
            raise ValueError("CheckpointPolicy intervals must be positive seconds")


def key_id(public_key: Ed25519PublicKey) -> str:
    """First 16 hex digits of SHA-256 over the raw public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


class CheckpointSigner:
    """Signs checkpoints with one Ed25519 private key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.key_id = key_id(private_key.public_key())

    def sign(self, tenant: str, tenant_seq: int, head_hash: bytes, ts: str) -> Checkpoint:
        signature = self._key.sign(checkpoint_message(tenant, tenant_seq, head_hash, ts))
        return Checkpoint(tenant, tenant_seq, head_hash, ts, signature, self.key_id)

    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()


def signature_valid(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> bool:
    """Whether ``checkpoint`` was signed by ``public_key`` (key id and signature)."""
    if checkpoint.key_id != key_id(public_key):
        return False
    try:
        public_key.verify(checkpoint.signature, checkpoint.message())
    except InvalidSignature:
        return False
    return True


def load_or_create_signing_key(key_dir: Path) -> Ed25519PrivateKey:
    """The signing key in ``key_dir``, created (with its public half) on first use."""
    private_path = key_dir / PRIVATE_KEY_FILE
    try:
        key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_MODE)
    except FileExistsError:
        return _load_private(private_path)
    except OSError as exc:
        raise SigningKeyError(
            f"cannot create the audit signing key {private_path}: {exc.strerror}. Make the "
            "folder writable by the gateway's user, or point audit.key_dir elsewhere."
        ) from exc
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
        _write_public(key_dir / PUBLIC_KEY_FILE, key.public_key())
    except OSError as exc:
        with contextlib.suppress(OSError):
            private_path.unlink()
        raise SigningKeyError(f"cannot write the audit signing key {private_path}: {exc}") from exc
    return key


def load_signing_key(key_dir: Path) -> Ed25519PrivateKey:
    """The existing signing key in ``key_dir`` (for signing bundles); never creates one."""
    path = key_dir / PRIVATE_KEY_FILE
    if not path.exists():
        raise SigningKeyError(
            f"there is no audit signing key at {path}: run the export on the gateway host, "
            "as a user who may read the gateway's audit folder"
        )
    return _load_private(path)


def export_public_key(public_key: Ed25519PublicKey) -> bytes:
    """The public key as SubjectPublicKeyInfo PEM, the form `load_public_key` reads."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file such as ``audit-signing.pub``."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise SigningKeyError(f"cannot read the audit public key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{path} holds a {type(key).__name__}, not an Ed25519 public key")
    return key


def _load_private(path: Path) -> Ed25519PrivateKey:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise SigningKeyError(
            f"the audit signing key {path} is readable by others (mode {mode:o}); "
            f"run `chmod 600 {path}`"
        )
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise SigningKeyError(
            f"cannot read the audit signing key {path}: {exc}. If it is empty (a crash during "
            "first start), delete it and its .pub so a new key is made."
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    public_path = path.with_name(PUBLIC_KEY_FILE)
    if not public_path.exists():
        _write_public(public_path, key.public_key())
    return key


def _write_public(path: Path, public_key: Ed25519PublicKey) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(export_public_key(public_key))
    tmp.chmod(PUBLIC_MODE)
    tmp.replace(path)
