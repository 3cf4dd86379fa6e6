"""Signed bundles for investigators: one conversation, some flows, or one person's day.

A bundle is one JSON file that verifies on a machine without the audit store
(``warden audit verify --bundle FILE --key-id …``). It holds, for one tenant:

``records``
    The selected records in full: ``tenant_seq``, ``prev_hash``, ``hash`` and ``body``,
    the canonical JSON text exactly as stored, so its hash can be recomputed
    (`canonical.chain_hash`).
``links``
    For every other record of the tenant's chain from the first selected one up to the
    covering checkpoint, only its link (``tenant_seq``, ``prev_hash``, ``hash``): the
    chain is continuous through them without showing other people's records.
``checkpoints``
    The signed checkpoint whose head is at or after the last selected record (the
    export signs one with the gateway's key when none covers it yet).
``evidence``
    The sealed evidence ciphertexts the selected records name (still encrypted: the
    bundle opens them to nobody; ``warden evidence`` with a private key does).
``manifest`` and ``signature``
    What was selected and how (``selection``), the number and hash of each selected
    record, the id and SHA-256 of each evidence blob, the checkpoint; signed with the
    audit signing key (Ed25519 over ``BUNDLE_DOMAIN || canonical JSON``), whose raw
    public key is ``public_key``.

What verification proves: every selected record is unchanged and sits at its number in
the tenant's chain, which runs without a gap to a head the gateway's key signed; no
selected record was dropped or replaced by a link (the manifest is signed); every blob
is the one its record's hash names. What it cannot prove from links alone is that the
*exporter* selected every matching record: a link's body is not in the bundle, so the
signed selection is the exporter's (the gateway host's) statement. A bundle proves its
origin only against a key the verifier trusts: pass the gateway's key (``--key``, the
PEM of ``warden audit public-key``) or its id (``--key-id``); without one the result is
"consistent, but unpinned", and the exit status says so.

Over 400 lines: building and verifying a bundle are one format, kept side by side.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from warden.errors import OperatorError

from .canonical import canonical_json, chain_hash
from .checkpoint import Checkpoint, CheckpointSigner, key_id, signature_valid
from .errors import AuditRecordError, AuditStoreError
from .evidence import ciphertext_sha256
from .evidence_store import HASH_KEY, ID_KEY, load_evidence
from .record import AuditRecord, format_ts

BUNDLE_FORMAT: Final = "egress-warden/audit-bundle/v1"
BUNDLE_DOMAIN: Final = b"egress-warden/audit/v1/bundle\x00"
MAX_SELECTED: Final = 100_000
MAX_LINKS: Final = 2_000_000
#: A bundle file larger than this is refused before parsing.
MAX_BUNDLE_BYTES: Final = 2 * 1024 * 1024 * 1024


class BundleError(OperatorError):
    """A bundle cannot be made; `diagnostics()` names cause and fix."""


@dataclass(frozen=True, slots=True)
class Selection:
    """What to export: ``conversation`` (an id), ``flows`` (record ids) or ``day`` (a
    subject's records of one UTC date); ``tenant`` narrows (required for ``day``)."""

    kind: str
    tenant: str | None = None
    conversation: str | None = None
    flows: tuple[str, ...] = ()
    subject: str | None = None
    date: str | None = None

    def describe(self) -> dict[str, Any]:
        data: dict[str, Any] = {"by": self.kind}
        if self.kind == "conversation":
            data["conversation"] = self.conversation
        elif self.kind == "flows":
            data["flows"] = list(self.flows)
        else:
            data.update({"subject": self.subject, "date": self.date})
        return data


# Where a conversation id may live in a record: top level (the 'conversation' field), or
# in details while records do not have that field yet.
_CONVERSATION: Final = (
    "(json_extract(body, '$.conversation') = :c "
    "OR json_extract(body, '$.conversation.id') = :c "
    "OR json_extract(body, '$.details.conversation') = :c "
    "OR json_extract(body, '$.details.conversation_id') = :c)"
)


def _selected(conn: sqlite3.Connection, sel: Selection) -> list[tuple[str, int]]:
    params: dict[str, Any] = {"t": sel.tenant}
    tenant_clause = "(:t IS NULL OR tenant = :t)"
    if sel.kind == "conversation":
        where = _CONVERSATION
        params["c"] = sel.conversation
    elif sel.kind == "flows":
        marks = ", ".join(f":f{i}" for i in range(len(sel.flows)))
        where = (
            f"(record_id IN ({marks}) OR json_extract(body, '$.details.flow_record') IN ({marks}))"
        )
        params.update({f"f{i}": flow for i, flow in enumerate(sel.flows)})
    elif sel.kind == "day":
        day = _date(sel.date)
        params.update(
            s=sel.subject,
            since=format_ts(day),
            until=format_ts(day + datetime.timedelta(days=1)),
        )
        where = "subject = :s AND ts >= :since AND ts < :until"
    else:
        raise ValueError(f"unknown selection {sel.kind!r}")
    rows = conn.execute(
        f"SELECT tenant, tenant_seq FROM records WHERE {tenant_clause} AND {where} "  # noqa: S608 - fixed clauses
        f"ORDER BY tenant, tenant_seq LIMIT {MAX_SELECTED + 1}",
        params,
    ).fetchall()
    return [(str(t), int(n)) for t, n in rows]


def _date(value: str | None) -> datetime.datetime:
    try:
        day = datetime.date.fromisoformat(value or "")
    except ValueError:
        raise BundleError(
            f"{value!r} is not a date", fix="give the day as YYYY-MM-DD (UTC)"
        ) from None
    return datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def build_bundle(
    conn: sqlite3.Connection,
    private_key: Ed25519PrivateKey,
    selection: Selection,
    *,
    exported_by: str,
    now: datetime.datetime,
    make_checkpoint: Any = None,
) -> dict[str, Any]:
    """The bundle of ``selection`` as plain JSON data (see the module docstring).

    ``make_checkpoint(tenant)`` is called when no stored checkpoint covers the last
    selected record yet; it must sign and store one and return it."""
    found = _selected(conn, selection)
    if not found:
        raise BundleError(
            f"no record matches {selection.describe()}",
            fix="check the id, subject or date (UTC) and the tenant",
        )
    if len(found) > MAX_SELECTED:
        raise BundleError(
            f"more than {MAX_SELECTED} records match", fix="export a narrower selection"
        )
    tenants = sorted({t for t, _ in found})
    if len(tenants) > 1:
        raise BundleError(
            f"the selection spans tenants {', '.join(tenants)}",
            fix="pass --tenant to export one tenant's records",
        )
    tenant = tenants[0]
    numbers = sorted(n for _, n in found)
    checkpoint = _covering_checkpoint(conn, tenant, numbers[-1])
    if checkpoint is None:
        if make_checkpoint is None:
            raise BundleError(
                f"no signed checkpoint covers record #{numbers[-1]} of {tenant!r} yet",
                fix="wait for the next checkpoint (audit.checkpoints.every_seconds) and retry",
            )
        checkpoint = make_checkpoint(tenant)
        if checkpoint.tenant_seq < numbers[-1]:
            raise BundleError(
                "the new checkpoint does not reach the selected records",
                fix="retry; the audit database changed while exporting",
            )
    first, last = numbers[0], checkpoint.tenant_seq
    if last - first + 1 - len(numbers) > MAX_LINKS:
        raise BundleError(
            f"the chain between the selected records and the checkpoint has over {MAX_LINKS} "
            "other records",
            fix="export a narrower selection (one day, one conversation)",
        )
    wanted = set(numbers)
    records: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    evidence_ids: list[str] = []
    for number, body, prev_hash, digest in conn.execute(
        "SELECT tenant_seq, body, prev_hash, hash FROM records "
        "WHERE tenant = ? AND tenant_seq BETWEEN ? AND ? ORDER BY tenant_seq",
        (tenant, first, last),
    ):
        link = {"tenant_seq": number, "prev_hash": prev_hash.hex(), "hash": digest.hex()}
        if number in wanted:
            records.append({**link, "body": body})
            named = json.loads(body).get("details", {}).get(ID_KEY)
            if isinstance(named, str):
                evidence_ids.append(named)
        else:
            links.append(link)
    blobs = []
    for evidence_id in evidence_ids:
        stored = load_evidence(conn, evidence_id)
        if stored is not None:  # a missing blob shows at verification, as it should
            blobs.append(
                {
                    "evidence_id": evidence_id,
                    "sha256": stored.sha256,
                    "ciphertext": _b64(stored.ciphertext),
                }
            )
    public_key = private_key.public_key()
    manifest = {
        "format": BUNDLE_FORMAT,
        "tenant": tenant,
        "selection": selection.describe(),
        "exported_at": format_ts(now),
        "exported_by": exported_by,
        "key_id": key_id(public_key),
        "first_seq": first,
        "records": [[r["tenant_seq"], r["hash"]] for r in records],
        "evidence": [[b["evidence_id"], b["sha256"]] for b in blobs],
        "checkpoint": [checkpoint.tenant_seq, checkpoint.head_hash.hex(), checkpoint.ts],
    }
    signature = private_key.sign(BUNDLE_DOMAIN + canonical_json(manifest))
    return {
        "format": BUNDLE_FORMAT,
        "manifest": manifest,
        "signature": _b64(signature),
        "public_key": _b64(
            public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        ),
        "checkpoints": [
            {
                "tenant": checkpoint.tenant,
                "tenant_seq": checkpoint.tenant_seq,
                "head_hash": checkpoint.head_hash.hex(),
                "ts": checkpoint.ts,
                "signature": _b64(checkpoint.signature),
                "key_id": checkpoint.key_id,
            }
        ],
        "records": records,
        "links": links,
        "evidence": blobs,
    }


def _covering_checkpoint(conn: sqlite3.Connection, tenant: str, number: int) -> Checkpoint | None:
    row = conn.execute(
        "SELECT tenant, tenant_seq, head_hash, ts, signature, key_id FROM checkpoints "
        "WHERE tenant = ? AND tenant_seq >= ? ORDER BY tenant_seq, id LIMIT 1",
        (tenant, number),
    ).fetchone()
    return None if row is None else Checkpoint(*row)


def sign_checkpoint_now(
    log: Any, signer: CheckpointSigner, tenant: str, now: datetime.datetime
) -> Checkpoint:
    """Sign and store ``tenant``'s current head through an `AuditLog` (for the export)."""
    made: list[Checkpoint] = log.add_checkpoints(signer, [tenant], format_ts(now))
    if not made:
        raise AuditStoreError(
            f"tenant {tenant!r} has no records to checkpoint", fix="check the tenant"
        )
    return made[0]


# -- verification ----------------------------------------------------------------------


@dataclass
class BundleReport:
    """The result of `verify_bundle`: problems (each a sentence) and what was checked."""

    problems: list[str] = field(default_factory=list)
    tenant: str = "?"
    key_id: str = "?"
    pinned: bool = False
    records: int = 0
    links: int = 0
    evidence: int = 0
    selection: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        head = (
            f"bundle of tenant {self.tenant!r}, selection {dict(self.selection)}: "
            f"{self.records} record(s), {self.links} link(s), {self.evidence} evidence blob(s)"
        )
        if self.problems:
            return "\n".join([head, "FAILED:", *(f"  - {p}" for p in self.problems)])
        if not self.pinned:
            return (
                f"{head}\nCONSISTENT, BUT UNPINNED: signed by key id {self.key_id}, which you did "
                "not name. Confirm it with the gateway's operator (`warden audit public-key`) "
                f"and run again with --key-id {self.key_id} (or --key FILE)."
            )
        return f"{head}\nOK: signed by the trusted key {self.key_id}; the chain is intact."


def _unb64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{what} is missing")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise ValueError(f"{what} is not base64") from None


def _unhex(value: object, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 64:
        raise ValueError(f"{what} is not 64 hex digits")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ValueError(f"{what} is not 64 hex digits") from None


def _int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what} is not a positive number")
    return value


def verify_bundle(
    raw: bytes,
    *,
    trusted_key: Ed25519PublicKey | None = None,
    trusted_key_id: str | None = None,
) -> BundleReport:
    """Check a bundle (its bytes) on its own; see the module docstring."""
    report = BundleReport()
    try:
        _verify(raw, report, trusted_key, trusted_key_id)
    except ValueError as exc:
        report.problems.append(f"the bundle is malformed: {exc}")
    return report


def _verify(
    raw: bytes,
    report: BundleReport,
    trusted_key: Ed25519PublicKey | None,
    trusted_key_id: str | None,
) -> None:
    problems = report.problems
    if len(raw) > MAX_BUNDLE_BYTES:
        raise ValueError(f"it is larger than {MAX_BUNDLE_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != BUNDLE_FORMAT:
        raise ValueError(f"not an {BUNDLE_FORMAT} file")
    manifest = data.get("manifest")
    if not isinstance(manifest, dict):
        raise ValueError("the manifest is missing")
    report.tenant = str(manifest.get("tenant"))
    report.selection = manifest.get("selection") or {}
    tenant = report.tenant
    # 1. the key: the one the bundle carries, and whether the verifier trusts it
    try:
        public_key = Ed25519PublicKey.from_public_bytes(
            _unb64(data.get("public_key"), "public_key")
        )
    except ValueError as exc:
        raise ValueError(f"its public key is unusable ({exc})") from None
    report.key_id = key_id(public_key)
    if trusted_key is not None:
        trusted_key_id = key_id(trusted_key)
    if trusted_key_id is not None:
        if report.key_id != trusted_key_id.lower():
            problems.append(
                f"FOREIGN KEY: the bundle is signed with key {report.key_id}, not the trusted "
                f"key {trusted_key_id}; it was not exported by that gateway, or was re-signed"
            )
            return
        report.pinned = True
    # 2. the manifest's signature
    try:
        public_key.verify(
            _unb64(data.get("signature"), "signature"), BUNDLE_DOMAIN + canonical_json(manifest)
        )
    except InvalidSignature:
        problems.append(
            f"the manifest's signature does not verify with the bundle's key {report.key_id}: "
            "the bundle was altered after export, or its key was replaced"
        )
        return
    if manifest.get("key_id") != report.key_id:
        problems.append("the manifest names another signing key than the bundle carries")
    # 3. the checkpoint
    cps = data.get("checkpoints")
    if not isinstance(cps, list) or len(cps) != 1 or not isinstance(cps[0], dict):
        raise ValueError("it must carry exactly one checkpoint")
    c = cps[0]
    checkpoint = Checkpoint(
        str(c.get("tenant")),
        _int(c.get("tenant_seq"), "checkpoint.tenant_seq"),
        _unhex(c.get("head_hash"), "checkpoint.head_hash"),
        str(c.get("ts")),
        _unb64(c.get("signature"), "checkpoint.signature"),
        str(c.get("key_id")),
    )
    if not signature_valid(checkpoint, public_key):
        problems.append(
            f"the checkpoint at #{checkpoint.tenant_seq} is not signed by the bundle's key "
            f"{report.key_id} (it names key {checkpoint.key_id})"
        )
    if checkpoint.tenant != tenant or manifest.get("checkpoint") != [
        checkpoint.tenant_seq,
        checkpoint.head_hash.hex(),
        checkpoint.ts,
    ]:
        problems.append("the checkpoint is not the one the signed manifest names")
    # 4. records and links: one contiguous chain from first_seq to the checkpoint
    entries: dict[int, tuple[bytes, bytes, str | None]] = {}
    for kind in ("records", "links"):
        items = data.get(kind)
        if not isinstance(items, list):
            raise ValueError(f"{kind} is not a list")
        for item in items:
            if not isinstance(item, dict):
                raise ValueError(f"an entry of {kind} is not an object")
            number = _int(item.get("tenant_seq"), f"{kind}.tenant_seq")
            body = item.get("body") if kind == "records" else None
            if kind == "records" and not isinstance(body, str):
                raise ValueError(f"record #{number} has no body text")
            if number in entries:
                problems.append(f"record #{number} appears twice")
                continue
            entries[number] = (
                _unhex(item.get("prev_hash"), f"#{number}.prev_hash"),
                _unhex(item.get("hash"), f"#{number}.hash"),
                body,
            )
        if kind == "records":
            report.records = len(items)
        else:
            report.links = len(items)
    first = _int(manifest.get("first_seq"), "manifest.first_seq")
    stated: dict[int, str] = {}
    for pair in manifest.get("records") or []:
        if not isinstance(pair, list) or len(pair) != 2:
            raise ValueError("manifest.records entries are [number, hash] pairs")
        stated[_int(pair[0], "manifest record number")] = str(pair[1])
    evidence_named: dict[str, tuple[int, str]] = {}
    span = checkpoint.tenant_seq - first + 1
    if span < 1 or span > MAX_SELECTED + MAX_LINKS:
        # checked before walking it: a hostile bundle must not make the walk unbounded
        problems.append(
            f"the bundle claims records #{first} to #{checkpoint.tenant_seq}, which no export "
            "makes: the manifest or checkpoint was altered"
        )
        return
    missing = [n for n in range(first, checkpoint.tenant_seq + 1) if n not in entries]
    if missing:
        shown = ", ".join(f"#{n}" for n in missing[:10])
        problems.append(
            f"{len(missing)} record(s) of the chain are missing from the bundle ({shown}"
            f"{', …' if len(missing) > 10 else ''}): records were dropped"
        )
    extra = sorted(n for n in entries if n < first or n > checkpoint.tenant_seq)
    if extra:
        problems.append(f"records outside the signed range: #{extra[0]}")
    previous: bytes | None = None
    for number in range(first, checkpoint.tenant_seq + 1):
        if number not in entries:
            previous = None
            continue
        prev_hash, digest, body = entries[number]
        if previous is not None and prev_hash != previous:
            problems.append(f"the chain is broken before #{number}: its previous hash differs")
        if body is not None:
            actual = chain_hash(tenant, number, prev_hash, body.encode("utf-8"))
            if actual != digest:
                problems.append(
                    f"record #{number} was changed: its content no longer matches its hash"
                )
            problems.extend(_record_problems(number, body, tenant, evidence_named))
        previous = digest
    if previous is not None and previous != checkpoint.head_hash:
        problems.append(
            f"the chain does not reach the signed head at #{checkpoint.tenant_seq}: "
            "a record or link was changed"
        )
    # 5. the signed manifest names exactly the records in full
    present = {n: e[1].hex() for n, e in entries.items() if e[2] is not None}
    for number, digest_hex in sorted(stated.items()):
        if number not in present:
            problems.append(
                f"record #{number}, named by the signed manifest, is not in the bundle in full: "
                "it was dropped or replaced by a link"
            )
        elif present[number] != digest_hex:
            problems.append(f"record #{number} differs from the one the signed manifest names")
    for number in sorted(set(present) - set(stated)):
        problems.append(f"record #{number} is not in the signed manifest: it was added")
    # 6. evidence: each blob is the one its record's hash names
    problems.extend(_evidence_problems(data.get("evidence"), manifest, evidence_named, report))


def _record_problems(
    number: int, body: str, tenant: str, evidence_named: dict[str, tuple[int, str]]
) -> Iterable[str]:
    try:
        record = AuditRecord.from_dict(json.loads(body))
    except (json.JSONDecodeError, AuditRecordError, KeyError, TypeError) as exc:
        yield f"record #{number} is not a valid audit record: {exc}"
        return
    if record.tenant != tenant:
        yield f"record #{number} belongs to tenant {record.tenant!r}, not {tenant!r}"
    named = record.details.get(ID_KEY)
    if isinstance(named, str):
        evidence_named[named] = (number, str(record.details.get(HASH_KEY, "")))


def _evidence_problems(
    blobs: object,
    manifest: Mapping[str, Any],
    named: dict[str, tuple[int, str]],
    report: BundleReport,
) -> Iterable[str]:
    if not isinstance(blobs, list):
        yield "the evidence list is missing"
        return
    report.evidence = len(blobs)
    stated = {
        str(pair[0]): str(pair[1])
        for pair in manifest.get("evidence") or []
        if isinstance(pair, list) and len(pair) == 2
    }
    seen: set[str] = set()
    for blob in blobs:
        if not isinstance(blob, dict):
            yield "an evidence entry is not an object"
            continue
        evidence_id = str(blob.get("evidence_id"))
        try:
            ciphertext = _unb64(blob.get("ciphertext"), f"evidence {evidence_id}")
        except ValueError as exc:
            yield str(exc)
            continue
        seen.add(evidence_id)
        actual = ciphertext_sha256(ciphertext)
        if evidence_id not in named:
            yield f"evidence {evidence_id} is not named by any record of the bundle"
            continue
        number, expected = named[evidence_id]
        if actual != expected:
            yield (
                f"evidence {evidence_id} does not match the hash in record #{number} "
                "(the blob was swapped or altered)"
            )
        if stated.get(evidence_id) != expected:
            yield f"evidence {evidence_id} is not the one the signed manifest names"
    for evidence_id in sorted(set(stated) - seen):
        number, _ = named.get(evidence_id, (0, ""))
        yield f"evidence {evidence_id} (record #{number}) is missing from the bundle"
