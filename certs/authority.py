"""Creating and rotating the interception CA: `init_ca` and `rotate_ca`.

Why RSA 3072: mitmproxy 12.2 issues every leaf with the CA's own public key and signs it
with the CA key (`certs.dummy_cert`), and its types assume RSA. RSA therefore is the
supported case; 3072 bits is the NIST size for use beyond 2030, and the CA lives ten
years by default.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from . import layout
from .errors import CAError
from .inventory import CAFiles, load_ca
from .names import name_constraints as constraints_extension
from .names import validate_names
from .storage import (
    PUBLIC_MODE,
    SECRET_MODE,
    archive_generation,
    ensure_private_dir,
    write_files,
)

KEY_BITS: Final = 3072
DEFAULT_COMMON_NAME: Final = "Egress Warden Interception CA"
DEFAULT_VALIDITY_DAYS: Final = 3650
# Back-dated so a client whose clock is a little behind still accepts a fresh CA.
BACKDATE: Final = datetime.timedelta(hours=1)
_MAX_CN_LEN: Final = 64  # RFC 5280 ub-common-name


class Keep(enum.Enum):
    """Marker for `rotate_ca`: keep the current CA's value of this setting."""

    KEEP = enum.auto()


KEEP: Final = Keep.KEEP


def init_ca(
    ca_dir: Path,
    *,
    common_name: str = DEFAULT_COMMON_NAME,
    organization: str | None = None,
    name_constraints: Sequence[str] | None = None,
    validity_days: int = DEFAULT_VALIDITY_DAYS,
    force: bool = False,
) -> CAFiles:
    """Create the CA mitmproxy will load from `ca_dir` (its `confdir`).

    Refuses to replace an existing CA unless `force`; then the old files move to
    `ca_dir/archive/<UTC timestamp>/` first. With `name_constraints`, the CA may only
    vouch for those host names and their subdomains, and never for an IP address.
    """
    ca_dir = Path(ca_dir)
    names = validate_names(name_constraints) if name_constraints is not None else None
    _check_subject(common_name, organization)
    if validity_days < 1:
        raise CAError(
            f"validity_days must be at least 1, got {validity_days}",
            fix="pass a positive number of days (the default is 3650)",
        )
    key_file = layout.key_path(ca_dir)
    if _exists(key_file) and not force:
        raise CAError(
            f"a CA already exists in {ca_dir}; refusing to replace it",
            fix="run `warden ca rotate` to replace it with a new one (the old one is "
            "archived), or `warden ca init --force`; either way, devices must then be "
            "given the new certificate",
        )

    now = datetime.datetime.now(datetime.UTC)
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    cert = _certificate(key, common_name, organization, names, validity_days, now)

    ensure_private_dir(ca_dir)
    if any(_exists(ca_dir / name) for name in layout.GENERATION_FILES):
        archive_generation(ca_dir, now)
    _write(ca_dir, key, cert)
    return load_ca(ca_dir)


def rotate_ca(
    ca_dir: Path,
    *,
    common_name: str | Keep = KEEP,
    organization: str | Keep | None = KEEP,
    name_constraints: Sequence[str] | Keep | None = KEEP,
    validity_days: int | Keep = KEEP,
) -> CAFiles:
    """Archive the current CA and create a new one with the same settings unless given.

    The settings are read back from the current certificate: subject common name and
    organization, permitted DNS subtrees, and lifetime in days.
    """
    current = load_ca(Path(ca_dir))
    cert = current.certificate
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc - BACKDATE
    return init_ca(
        current.ca_dir,
        common_name=current.common_name if isinstance(common_name, Keep) else common_name,
        organization=current.organization if isinstance(organization, Keep) else organization,
        name_constraints=(
            current.name_constraints if isinstance(name_constraints, Keep) else name_constraints
        ),
        validity_days=(
            max(1, round(lifetime / datetime.timedelta(days=1)))
            if isinstance(validity_days, Keep)
            else validity_days
        ),
        force=True,
    )


def _check_subject(common_name: str, organization: str | None) -> None:
    fields = {"common name": common_name, "organization": organization}
    for label, value in fields.items():
        if value is not None and 1 <= len(value) <= _MAX_CN_LEN:
            continue
        if value is None and label == "organization":
            continue
        raise CAError(
            f"the CA {label} must be 1 to {_MAX_CN_LEN} characters, got {value!r}",
            fix=f"choose a shorter, non-empty {label}",
        )


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _certificate(
    key: rsa.RSAPrivateKey,
    common_name: str,
    organization: str | None,
    names: tuple[str, ...] | None,
    validity_days: int,
    now: datetime.datetime,
) -> x509.Certificate:
    attributes = [x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, organization))
    subject = x509.Name(attributes)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=validity_days))
        # path_length=0: this CA issues leaves only, never a subordinate CA.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        # mitmproxy copies this value into each leaf's AuthorityKeyIdentifier.
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if names is not None:
        # Critical, so a client that does not understand the constraint must reject
        # the certificate rather than ignore it (RFC 5280 §4.2.1.10).
        builder = builder.add_extension(constraints_extension(names), critical=True)
    return builder.sign(private_key=key, algorithm=hashes.SHA256())


def _write(ca_dir: Path, key: rsa.RSAPrivateKey, cert: x509.Certificate) -> None:
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),  # the proxy loads it unattended; 0600 protects it
    )
    cert_p12 = pkcs12.serialize_key_and_certificates(
        name=layout.BASENAME.encode(),
        key=None,
        cert=cert,
        cas=None,
        encryption_algorithm=serialization.NoEncryption(),
    )
    write_files(
        ca_dir,
        {
            layout.CERT_PEM: (cert_pem, PUBLIC_MODE),
            layout.CERT_CER: (cert_pem, PUBLIC_MODE),
            layout.CERT_P12: (cert_p12, PUBLIC_MODE),
            layout.DHPARAM: (layout.FFDHE2048_PEM, PUBLIC_MODE),
            # Last: mitmproxy takes this file's presence to mean "a CA exists".
            layout.KEY_AND_CERT: (key_pem + cert_pem, SECRET_MODE),
        },
    )
