"""load_ca checks and export_ca output."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from warden.certs import CAError, CAFiles, export_ca, load_ca


def test_load_returns_what_init_made(constrained_ca: CAFiles) -> None:
    again = load_ca(constrained_ca.ca_dir)
    assert again == constrained_ca
    assert again.fingerprint_sha256 == (
        constrained_ca.certificate.fingerprint(hashes.SHA256()).hex(":").upper()
    )


def test_spki_hash_is_chromium_format(constrained_ca: CAFiles) -> None:
    spki = constrained_ca.certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    expected = base64.b64encode(hashlib.sha256(spki).digest()).decode()
    assert constrained_ca.spki_sha256 == expected
    assert len(base64.b64decode(constrained_ca.spki_sha256)) == 32


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(CAError) as e:
        load_ca(tmp_path / "absent")
    assert str(e.value) == f"no CA in {tmp_path / 'absent'}: run `warden ca init`"
    assert "warden ca init" in e.value.diagnostics()


def test_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(CAError, match="no CA in"):
        load_ca(tmp_path)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o610])
def test_key_readable_by_others_is_refused(constrained_ca: CAFiles, mode: int) -> None:
    os.chmod(constrained_ca.key_path, mode)
    with pytest.raises(CAError) as e:
        load_ca(constrained_ca.ca_dir)
    assert "group or others" in str(e.value)
    assert f"chmod 600 {constrained_ca.key_path}" in e.value.diagnostics()


def test_key_0400_is_accepted(constrained_ca: CAFiles) -> None:
    os.chmod(constrained_ca.key_path, 0o400)
    assert load_ca(constrained_ca.ca_dir) == constrained_ca


def test_unreadable_key_file(constrained_ca: CAFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests may run as root, for whom mode 000 still reads; simulate EACCES instead.
    def deny(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", deny)
    with pytest.raises(CAError, match=r"cannot read .*Permission denied") as e:
        load_ca(constrained_ca.ca_dir)
    assert "user that owns the CA directory" in e.value.diagnostics()


def test_mismatched_key_and_certificate(constrained_ca: CAFiles, open_ca: CAFiles) -> None:
    # Key of one CA, certificate of the other, in the one file mitmproxy reads.
    own_key = constrained_ca.key_path.read_bytes().split(b"-----BEGIN CERTIFICATE-----")[0]
    other_cert = open_ca.certificate.public_bytes(serialization.Encoding.PEM)
    constrained_ca.key_path.write_bytes(own_key + other_cert)
    with pytest.raises(CAError, match="does not belong to the certificate"):
        load_ca(constrained_ca.ca_dir)


def test_device_certificate_differs(constrained_ca: CAFiles, open_ca: CAFiles) -> None:
    shutil.copyfile(open_ca.cert_path, constrained_ca.cert_path)
    with pytest.raises(CAError, match="different certificate"):
        load_ca(constrained_ca.ca_dir)


def test_device_certificate_missing(constrained_ca: CAFiles) -> None:
    constrained_ca.cert_path.unlink()
    with pytest.raises(CAError, match="is missing"):
        load_ca(constrained_ca.ca_dir)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "no readable PEM private key"),
        (b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n", "private key"),
    ],
)
def test_garbage_key_file(constrained_ca: CAFiles, content: bytes, message: str) -> None:
    constrained_ca.key_path.write_bytes(content)
    with pytest.raises(CAError, match=message):
        load_ca(constrained_ca.ca_dir)


def test_key_file_without_certificate(constrained_ca: CAFiles) -> None:
    key_only = constrained_ca.key_path.read_bytes().split(b"-----BEGIN CERTIFICATE-----")[0]
    constrained_ca.key_path.write_bytes(key_only)
    with pytest.raises(CAError, match="no readable PEM certificate"):
        load_ca(constrained_ca.ca_dir)


def test_export_pem_round_trip(constrained_ca: CAFiles) -> None:
    pem = export_ca(constrained_ca.ca_dir, "pem")
    assert x509.load_pem_x509_certificate(pem) == constrained_ca.certificate
    assert pem == constrained_ca.cert_path.read_bytes()
    assert pem.count(b"-----BEGIN") == 1
    assert b"PRIVATE KEY" not in pem


def test_export_der_round_trip(constrained_ca: CAFiles) -> None:
    der = export_ca(constrained_ca.ca_dir, "der")
    assert x509.load_der_x509_certificate(der) == constrained_ca.certificate
    with pytest.raises(ValueError):
        serialization.load_der_private_key(der, password=None)


def test_export_contains_no_key_material(constrained_ca: CAFiles) -> None:
    key_pem = constrained_ca.key_path.read_bytes().split(b"-----BEGIN CERTIFICATE-----")[0]
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    numbers = key.private_numbers()
    secrets = [n.to_bytes((n.bit_length() + 7) // 8) for n in (numbers.d, numbers.p, numbers.q)]

    pem = export_ca(constrained_ca.ca_dir, "pem")
    pem_der = base64.b64decode(b"".join(pem.splitlines()[1:-1]))
    der = export_ca(constrained_ca.ca_dir, "der")
    assert pem_der == der
    for secret in secrets:
        assert secret not in der


def test_export_unknown_format(constrained_ca: CAFiles) -> None:
    with pytest.raises(CAError, match="unknown export format 'p7b'"):
        export_ca(constrained_ca.ca_dir, "p7b")  # type: ignore[arg-type]


def test_export_refuses_a_broken_ca(constrained_ca: CAFiles) -> None:
    os.chmod(constrained_ca.key_path, 0o644)
    with pytest.raises(CAError, match="group or others"):
        export_ca(constrained_ca.ca_dir, "pem")
