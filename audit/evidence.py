"""Sealed evidence: a flow's original request and answer, encrypted to a tenant's investigators.

Format and library
------------------
Evidence is an `age <https://age-encryption.org/v1>`_ file (X25519 recipients,
ChaCha20-Poly1305 payload in 64 KiB chunks) made with pyrage, the maintained Python
binding of the Rust ``age`` crate. age was chosen over HPKE from ``cryptography``
(which 48.x has) because it is a *file format*, not a primitive: one ciphertext opens
with any of several recipients' keys (HPKE seals to one key, so several investigators
would need an envelope of our own), its header authenticates the recipients list,
and an investigator can open a blob without this product (``age -d -i key.txt``), with
keys in the text form every age tool reads (``age1…`` public, ``AGE-SECRET-KEY-1…``
private). The gateway holds only recipients (public keys) and so can never decrypt.

What is sealed (the plaintext) is a canonical JSON object, ``ENVELOPE_FORMAT``::

    {"format": "egress-warden/evidence/v1", "evidence_id": "<32 hex>", "tenant": "...",
     "captured_at": "2026-...Z", "flow": {"method": "POST", "host": "...", "path": "..."},
     "request": {"content_type": ..., "content_encoding": ..., "bytes": N,
                 "truncated": false, "body_b64": "..."},
     "answer": {... the same ...} | null, "answer_note": "cut: …" | "none" | null}

A streamed answer is the body the client read (assembled by a `BodyRecorder`); a
WebSocket exchange's request and answer are its messages, one per line. ``answer_note``
says why an answer is missing or incomplete (``cut: <why>`` for a stream or socket that
ended early; ``streamed`` in captures from before streams were assembled).

The id and tenant inside the ciphertext bind it to its record: a blob swapped in from
another record fails on the hash in the chain, and one re-hashed into a forged record
still names another id. Bodies larger than the cap are truncated to it and say so
(``truncated``, ``bytes`` is the size as sent): a block of a huge upload still leaves
the part an investigator most needs, and the store stays bounded.

Over 400 lines because the envelope, its key files and sealing/opening are one format,
specified above and kept beside its one writer and reader.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pyrage

from warden.errors import OperatorError

from .canonical import canonical_json
from .fields import MAX_SAFE_INT

ENVELOPE_FORMAT: Final = "egress-warden/evidence/v1"
#: C0 (but tab and newline), DEL and C1 controls; linear, one pass.
_CONTROLS: Final = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: Default cap per body (request and answer each), bytes kept before sealing.
DEFAULT_MAX_BYTES: Final = 1024 * 1024
#: The largest ciphertext `open_sealed` reads: two capped bodies in base64 plus age's overhead.
MAX_CIPHERTEXT: Final = 64 * 1024 * 1024
#: A recipients or identity file larger than this is not one.
MAX_KEY_FILE: Final = 64 * 1024
MAX_RECIPIENTS: Final = 64
RECIPIENT_PREFIX: Final = "age1"
IDENTITY_PREFIX: Final = "AGE-SECRET-KEY-1"


class EvidenceError(OperatorError):
    """Evidence cannot be sealed, stored or opened; `diagnostics()` says what to do."""


class WrongKeyError(EvidenceError):
    """None of the given private keys is a recipient of this evidence."""


@dataclass(frozen=True, slots=True)
class CapturedBody:
    """One body as captured: at most the cap, and its size as sent."""

    data: bytes
    size: int
    truncated: bool
    content_type: str | None = None
    content_encoding: str | None = None

    @classmethod
    def capture(
        cls,
        data: bytes,
        max_bytes: int,
        content_type: str | None = None,
        content_encoding: str | None = None,
    ) -> CapturedBody:
        return cls(
            data[:max_bytes], len(data), len(data) > max_bytes, content_type, content_encoding
        )

    def text(self) -> str:
        """The body as text for a reviewer's terminal: invalid UTF-8 as replacement
        characters, and control characters a client chose (a terminal escape sequence in a
        prompt is an attack on the reviewer) shown as their ``\\xNN`` escapes."""
        return _CONTROLS.sub(
            lambda m: f"\\x{ord(m.group()):02x}", self.data.decode("utf-8", "replace")
        )

    def to_plain(self) -> dict[str, Any]:
        return {
            "content_type": self.content_type,
            "content_encoding": self.content_encoding,
            "bytes": min(self.size, MAX_SAFE_INT),
            "truncated": self.truncated,
            "body_b64": base64.b64encode(self.data).decode("ascii"),
        }

    @classmethod
    def from_plain(cls, data: object) -> CapturedBody:
        if not isinstance(data, dict):
            raise ValueError("a body is an object")
        try:
            raw = base64.b64decode(str(data["body_b64"]), validate=True)
        except (KeyError, binascii.Error) as exc:
            raise ValueError("a body has no valid body_b64") from exc
        size, truncated = data.get("bytes"), data.get("truncated")
        if not isinstance(size, int) or not isinstance(truncated, bool):
            raise ValueError("a body has no size or truncated flag")
        return cls(
            raw, size, truncated, _opt_str(data.get("content_type")),
            _opt_str(data.get("content_encoding")),
        )  # fmt: skip


class BodyRecorder:
    """A body assembled from the pieces that pass (a streamed answer's chunks, a socket's
    messages), bounded: the first ``max_bytes`` are kept, the rest only counted, so a
    long stream costs at most the cap however long it runs. ``separator`` goes between
    messages (a newline for a socket's JSON messages: one per line); chunks of one byte
    stream are joined as they are."""

    __slots__ = ("_data", "max_bytes", "separator", "size")

    def __init__(self, max_bytes: int, separator: bytes = b"") -> None:
        self.max_bytes = max_bytes
        self.separator = separator
        self._data = bytearray()
        self.size = 0

    def add(self, piece: bytes) -> None:
        if self.separator and self.size:
            self._keep(self.separator)
        self._keep(piece)

    def _keep(self, piece: bytes) -> None:
        room = self.max_bytes - len(self._data)
        if room > 0:
            self._data += piece[:room]
        self.size += len(piece)

    @property
    def truncated(self) -> bool:
        return self.size > len(self._data)

    def body(
        self, content_type: str | None = None, content_encoding: str | None = None
    ) -> CapturedBody:
        return CapturedBody(
            bytes(self._data), self.size, self.truncated, content_type, content_encoding
        )


@dataclass(frozen=True, slots=True)
class EvidenceEnvelope:
    """What one capture seals: the request as sent, and the answer the client got."""

    evidence_id: str
    tenant: str
    captured_at: str
    method: str
    host: str
    path: str
    request: CapturedBody
    answer: CapturedBody | None = None
    #: Why there is no answer, or why it is incomplete: ``none`` (the flow got none),
    #: ``streamed`` (a stream the gateway could not assemble), ``cut: <why>`` (a stream or
    #: socket cut by the client or the upstream: the answer holds what passed until then),
    #: ``websocket`` notes on a socket exchange.
    answer_note: str | None = None

    @property
    def truncated(self) -> bool:
        return self.request.truncated or (self.answer is not None and self.answer.truncated)

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "format": ENVELOPE_FORMAT,
                "evidence_id": self.evidence_id,
                "tenant": self.tenant,
                "captured_at": self.captured_at,
                "flow": {"method": self.method, "host": self.host, "path": self.path},
                "request": self.request.to_plain(),
                "answer": self.answer.to_plain() if self.answer is not None else None,
                "answer_note": self.answer_note,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> EvidenceEnvelope:
        try:
            plain = json.loads(data)
            if not isinstance(plain, dict) or plain.get("format") != ENVELOPE_FORMAT:
                raise ValueError(f"not an {ENVELOPE_FORMAT} envelope")
            flow = plain["flow"]
            answer = plain.get("answer")
            return cls(
                evidence_id=str(plain["evidence_id"]),
                tenant=str(plain["tenant"]),
                captured_at=str(plain["captured_at"]),
                method=str(flow["method"]),
                host=str(flow["host"]),
                path=str(flow["path"]),
                request=CapturedBody.from_plain(plain["request"]),
                answer=CapturedBody.from_plain(answer) if answer is not None else None,
                answer_note=_opt_str(plain.get("answer_note")),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise EvidenceError(
                f"the decrypted evidence is not a valid envelope: {exc}",
                fix="the blob was sealed by something other than Egress Warden; "
                "check that the evidence id is right",
            ) from None


@dataclass(frozen=True, slots=True)
class SealedEvidence:
    """A ciphertext and its SHA-256 (what the audit record carries)."""

    evidence_id: str
    tenant: str
    captured_at: str
    ciphertext: bytes

    @property
    def sha256(self) -> str:
        return ciphertext_sha256(self.ciphertext)


def ciphertext_sha256(ciphertext: bytes) -> str:
    return hashlib.sha256(ciphertext).hexdigest()


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


# -- keys ------------------------------------------------------------------------------


def parse_recipient(text: str) -> Any:
    """One ``age1…`` public key; `EvidenceError` naming the problem otherwise."""
    value = text.strip()
    if not value.startswith(RECIPIENT_PREFIX) or len(value) > 100:
        raise EvidenceError(
            f"{value[:20]!r} is not an age public key",
            fix="an investigator's public key starts with 'age1' "
            "(`warden evidence keygen` prints one)",
        )
    try:
        return pyrage.x25519.Recipient.from_str(value)
    except pyrage.RecipientError as exc:
        raise EvidenceError(
            f"{value[:20]!r}… is not a valid age public key: {exc}",
            fix="copy the whole 'age1…' line printed by `warden evidence keygen`",
        ) from None


def parse_recipients(text: str, source: str) -> tuple[str, ...]:
    """The public keys of an age recipients file: one per line, ``#`` comments, blanks."""
    keys: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        value = line.strip()
        if not value or value.startswith("#"):
            continue
        try:
            parse_recipient(value)
        except EvidenceError as exc:
            raise EvidenceError(f"{source} line {number}: {exc.message}", fix=exc.fix) from None
        if value not in keys:
            keys.append(value)
    if len(keys) > MAX_RECIPIENTS:
        raise EvidenceError(
            f"{source} names {len(keys)} recipients, the limit is {MAX_RECIPIENTS}",
            fix="keep one key per investigator (or an investigation team's shared key)",
        )
    return tuple(keys)


def read_recipients(path: Path) -> tuple[str, ...]:
    """The recipients in ``path``; none when the file does not exist."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_KEY_FILE + 1)
    except FileNotFoundError:
        return ()
    except OSError as exc:
        raise EvidenceError(
            f"cannot read the investigators' keys {path}: {exc}",
            fix="check that the file is readable by the gateway's user",
        ) from None
    if len(raw) > MAX_KEY_FILE:
        raise EvidenceError(
            f"{path} is larger than {MAX_KEY_FILE} bytes: not a recipients file",
            fix="list one 'age1…' public key per line",
        )
    return parse_recipients(raw.decode("utf-8", "replace"), str(path))


def generate_identity() -> tuple[str, str]:
    """A new X25519 key pair: (private ``AGE-SECRET-KEY-1…``, public ``age1…``)."""
    identity = pyrage.x25519.Identity.generate()
    return str(identity), str(identity.to_public())


def load_identities(path: Path) -> list[Any]:
    """The private keys in an age identity file (``age-keygen``'s or ``warden evidence
    keygen``'s); refuses a file other users can read."""
    try:
        info = path.stat()
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise EvidenceError(
                f"the private key file {path} can be read by other users "
                f"(mode {stat.S_IMODE(info.st_mode):o})",
                fix=f"chmod 600 {path}; and consider the key exposed if others could read it",
            )
        with path.open("rb") as handle:
            raw = handle.read(MAX_KEY_FILE + 1)
    except OSError as exc:
        raise EvidenceError(
            f"cannot read the private key file {path}: {exc.strerror or exc}",
            fix="pass the path of the file `warden evidence keygen` wrote",
        ) from None
    identities = []
    for line in raw[:MAX_KEY_FILE].decode("utf-8", "replace").splitlines():
        value = line.strip()
        if value.startswith(IDENTITY_PREFIX):
            try:
                identities.append(pyrage.x25519.Identity.from_str(value))
            except pyrage.IdentityError:
                raise EvidenceError(
                    f"{path} holds a damaged private key",
                    fix="use the file exactly as `warden evidence keygen` wrote it",
                ) from None
    if not identities:
        raise EvidenceError(
            f"{path} holds no age private key (a line 'AGE-SECRET-KEY-1…')",
            fix="pass the private key file of an investigator, not a public key",
        )
    return identities


def write_identity(path: Path, secret: str, public: str, created_at: str) -> None:
    """Write a new private key file, 0600, refusing to overwrite one."""
    text = f"# created: {created_at}\n# public key: {public}\n{secret}\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise EvidenceError(
            f"{path} already exists", fix="choose a new file name; a key is never overwritten"
        ) from None
    except OSError as exc:
        raise EvidenceError(
            f"cannot create {path}: {exc.strerror or exc}", fix="choose a writable folder"
        ) from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text)


# -- sealing and opening ---------------------------------------------------------------


def seal(envelope: EvidenceEnvelope, recipients: tuple[str, ...]) -> SealedEvidence:
    """Encrypt ``envelope`` to every recipient (CPU-bound: call it off the event loop)."""
    if not recipients:
        raise EvidenceError(
            f"tenant {envelope.tenant!r} has no investigator keys, so evidence cannot be sealed",
            fix=f"add one: warden evidence add-recipient --tenant {envelope.tenant} age1…",
        )
    keys = [parse_recipient(r) for r in recipients]
    ciphertext: bytes = pyrage.encrypt(envelope.to_bytes(), keys)
    return SealedEvidence(envelope.evidence_id, envelope.tenant, envelope.captured_at, ciphertext)


def open_sealed(ciphertext: bytes, identities: list[Any]) -> EvidenceEnvelope:
    """Decrypt with any of ``identities``; `WrongKeyError` when none is a recipient."""
    if len(ciphertext) > MAX_CIPHERTEXT:
        raise EvidenceError(
            f"the evidence blob is {len(ciphertext)} bytes, more than any capture makes",
            fix="the evidence store was altered; verify the audit trail",
        )
    try:
        plain: bytes = pyrage.decrypt(ciphertext, identities)
    except pyrage.DecryptError as exc:
        if "no matching keys" in str(exc).lower():
            raise WrongKeyError(
                "this private key cannot open the evidence: it was sealed to other "
                "investigators' public keys",
                fix="use the private key of an investigator whose public key was listed for "
                "the tenant when the evidence was captured",
            ) from None
        raise EvidenceError(
            f"the evidence blob does not decrypt: {exc}",
            fix="the blob is damaged or was altered; verify the audit trail",
        ) from None
    return EvidenceEnvelope.from_bytes(plain)
