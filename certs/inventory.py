"""Reading a CA directory back: the `CAFiles` record, `load_ca` checks, `export_ca`."""

from __future__ import annotations

import base64
import datetime
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from . import layout
from .errors import CAError
from .names import read_constraints
from .storage import loose_permissions

_INIT_FIX = "run `warden ca init` to create one"


@dataclass(frozen=True)
class CAFiles:
    """One interception CA as found on disk. Holds no private key material."""

    ca_dir: Path
    key_path: Path  # mitmproxy-ca.pem: private key + certificate, 0600
    cert_path: Path  # mitmproxy-ca-cert.pem: certificate only, for devices
    certificate: x509.Certificate
    fingerprint_sha256: str  # upper-case hex with colons, as `openssl x509 -fingerprint`
    spki_sha256: str  # base64, Chromium's --ignore-certificate-errors-spki-list format
    not_after: datetime.datetime  # UTC
    name_constraints: tuple[str, ...] | None  # permitted DNS subtrees; None: unconstrained

    @classmethod
    def of(cls, ca_dir: Path, certificate: x509.Certificate) -> CAFiles:
        spki = certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(
            ca_dir=ca_dir,
            key_path=layout.key_path(ca_dir),
            cert_path=layout.cert_path(ca_dir),
            certificate=certificate,
            fingerprint_sha256=certificate.fingerprint(hashes.SHA256()).hex(":").upper(),
            spki_sha256=base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii"),
            not_after=certificate.not_valid_after_utc,
            name_constraints=read_constraints(certificate),
        )

    @property
    def common_name(self) -> str:
        return _attribute(self.certificate, x509.NameOID.COMMON_NAME) or ""

    @property
    def organization(self) -> str | None:
        return _attribute(self.certificate, x509.NameOID.ORGANIZATION_NAME)


def load_ca(ca_dir: Path) -> CAFiles:
    """Load and check the CA in `ca_dir`; raise `CAError` naming the fix if it is unusable.

    Checks, in order: the key file exists; only its owner may access it; it holds a
    private key and a CA certificate that belong together; the device copy of the
    certificate is the same certificate.
    """
    ca_dir = Path(ca_dir)
    key_file = layout.key_path(ca_dir)
    try:
        loose = loose_permissions(key_file)
    except FileNotFoundError:
        raise CAError(f"no CA in {ca_dir}: run `warden ca init`", fix=_INIT_FIX) from None
    except OSError as e:
        raise CAError(
            f"cannot inspect {key_file}: {e.strerror}",
            fix="run this as the user that owns the CA directory (the proxy's user)",
        ) from e
    if loose:
        raise CAError(
            f"the CA private key file {key_file} is accessible to group or others",
            fix=f"run `chmod 600 {key_file}`, and consider rotating the CA "
            "(`warden ca rotate`) if others may have read it",
        )
    raw = _read(key_file)
    key = _private_key(raw, key_file)
    cert = _first_certificate(raw, key_file)
    if _spki(key.public_key()) != _spki(cert.public_key()):
        raise CAError(
            f"the private key in {key_file} does not belong to the certificate in it",
            fix="restore the matching pair from archive/, or archive these files and "
            "create a new CA with `warden ca init --force`",
        )
    if not _is_ca(cert):
        raise CAError(
            f"the certificate in {key_file} is not a CA certificate",
            fix="create a proper CA with `warden ca init --force`",
        )
    device_file = layout.cert_path(ca_dir)
    if not device_file.exists():
        raise CAError(
            f"{device_file} is missing, so devices cannot be given the CA certificate",
            fix="restore it from archive/ or a backup, or run `warden ca init --force` "
            "for a new CA",
        )
    if _first_certificate(_read(device_file), device_file) != cert:
        raise CAError(
            f"{device_file} holds a different certificate than {key_file}",
            fix="restore the matching files from archive/, or run "
            "`warden ca init --force` for a new CA",
        )
    return CAFiles.of(ca_dir, cert)


def export_ca(ca_dir: Path, fmt: Literal["pem", "der"]) -> bytes:
    """The CA certificate (never the key) in PEM or DER, for MDM/GPO distribution."""
    encodings = {"pem": serialization.Encoding.PEM, "der": serialization.Encoding.DER}
    if fmt not in encodings:
        raise CAError(f"unknown export format {fmt!r}", fix="use 'pem' or 'der'")
    return load_ca(ca_dir).certificate.public_bytes(encodings[fmt])


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise CAError(
            f"cannot read {path}: {e.strerror}",
            fix="run this as the user that owns the CA directory (the proxy's user)",
        ) from e


def _private_key(raw: bytes, path: Path) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(raw, password=None)
    except TypeError as e:  # encrypted
        raise CAError(
            f"the CA private key in {path} is encrypted",
            fix="the proxy needs it unencrypted (protected by file mode 0600); "
            "create one with `warden ca init`",
        ) from e
    except ValueError as e:
        raise CAError(
            f"{path} holds no readable PEM private key",
            fix="restore the file from archive/ or a backup, or run `warden ca init --force`",
        ) from e


def _first_certificate(raw: bytes, path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificates(raw)[0]
    except ValueError as e:
        raise CAError(
            f"{path} holds no readable PEM certificate",
            fix="restore the file from archive/ or a backup, or run `warden ca init --force`",
        ) from e


def _spki(public_key: PublicKeyTypes) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _attribute(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    attrs = cert.subject.get_attributes_for_oid(oid)
    if not attrs:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode()
