"""The canonical encoding of audit records and the per-tenant hash chain (pure functions).

How to verify an exported chain without this code
-------------------------------------------------
**Canonical body.** A record's ``body`` is its JSON object encoded with the keys of
every object sorted (all keys are ASCII, so code-point and UTF-16 order agree), no
whitespace between tokens (``,`` and ``:`` only), strings as UTF-8 with only ``"``,
``\\`` and control characters escaped (``\\b \\t \\n \\f \\r`` short, others as
``\\u00xx`` in lower-case hex), no NaN or infinity, and only integers for numbers (the
schema has no floats; ints stay within +-(2**53-1)). For these records that is exactly
RFC 8785 (JSON Canonicalization Scheme) output, so any JCS library reproduces it. The
audit database stores ``body`` as this text; exports carry the same object.

**Chain.** Each tenant has its own chain; its records are numbered ``seq`` = 1, 2, 3 …
(``tenant_seq`` in the database)::

    h_0 = 32 zero bytes
    h_n = SHA-256( b"egress-warden/audit/v1/record" || 0x00
                   || UTF-8(tenant) || 0x00
                   || seq as 8-byte unsigned big-endian
                   || h_(n-1)                       (32 raw bytes)
                   || canonical body bytes )

The prefix separates this hash from every other use of SHA-256 in the product; the
tenant (which never contains NUL) and the number bind a record to its place, so a record
moved to another tenant or position no longer matches. Hashes are shown as lower-case hex.

**Checkpoints.** The log signs a tenant's head with Ed25519 (RFC 8032, pure)::

    message = b"egress-warden/audit/v1/checkpoint" || 0x00
              || UTF-8(tenant) || 0x00
              || seq as 8-byte unsigned big-endian      (the head's number)
              || h_seq                                  (32 raw bytes)
              || UTF-8(ts)                              (e.g. "2025-01-31T12:00:00.123Z")

``key_id`` is the first 16 hex digits of SHA-256 over the raw 32-byte public key. A
retention purge keeps one such checkpoint as the tenant's anchor: verification then
starts from ``h_seq`` of that checkpoint instead of ``h_0``.
"""

from __future__ import annotations

import hashlib
import json
import struct
from typing import Any, Final

from .record import AuditRecord

RECORD_DOMAIN: Final = b"egress-warden/audit/v1/record\x00"
CHECKPOINT_DOMAIN: Final = b"egress-warden/audit/v1/checkpoint\x00"
GENESIS_HASH: Final = bytes(32)
_SEQ: Final = struct.Struct(">Q")


def canonical_json(data: Any) -> bytes:
    """``data`` (plain JSON values, no floats) in the canonical encoding described above."""
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def canonical_record(record: AuditRecord) -> bytes:
    return canonical_json(record.to_dict())


def chain_hash(tenant: str, seq: int, prev_hash: bytes, body: bytes) -> bytes:
    """``h_seq`` from the previous hash and the canonical body (see the module docstring)."""
    if len(prev_hash) != 32:
        raise ValueError(f"a chain hash is 32 bytes, got {len(prev_hash)}")
    digest = hashlib.sha256(RECORD_DOMAIN)
    digest.update(tenant.encode("utf-8"))
    digest.update(b"\x00")
    digest.update(_SEQ.pack(seq))
    digest.update(prev_hash)
    digest.update(body)
    return digest.digest()


def checkpoint_message(tenant: str, seq: int, head_hash: bytes, ts: str) -> bytes:
    """The bytes an Ed25519 checkpoint signature covers (see the module docstring)."""
    if len(head_hash) != 32:
        raise ValueError(f"a chain hash is 32 bytes, got {len(head_hash)}")
    return b"".join(
        (
            CHECKPOINT_DOMAIN,
            tenant.encode("utf-8"),
            b"\x00",
            _SEQ.pack(seq),
            head_hash,
            ts.encode("utf-8"),
        )
    )
