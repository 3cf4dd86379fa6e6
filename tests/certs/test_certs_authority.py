"""init_ca and rotate_ca: files, modes, certificate profile, refusal, archive."""

from __future__ import annotations

import datetime
import ipaddress
import os
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from warden.certs import CAError, CAFiles, init_ca, load_ca, rotate_ca

EXPECTED_FILES = {
    "mitmproxy-ca.pem": 0o600,
    "mitmproxy-ca-cert.pem": 0o644,
    "mitmproxy-ca-cert.cer": 0o644,
    "mitmproxy-ca-cert.p12": 0o644,
    "mitmproxy-dhparam.pem": 0o644,
}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _files(ca_dir: Path) -> dict[str, int]:
    return {p.name: _mode(p) for p in ca_dir.iterdir() if p.is_file()}


def test_init_writes_mitmproxy_files_with_private_modes(tmp_path: Path) -> None:
    ca_dir = tmp_path / "deep" / "ca"
    ca = init_ca(ca_dir)

    assert _files(ca_dir) == EXPECTED_FILES
    assert _mode(ca_dir) == 0o700
    assert ca.key_path == ca_dir / "mitmproxy-ca.pem"
    assert ca.cert_path == ca_dir / "mitmproxy-ca-cert.pem"
    assert not list(ca_dir.glob(".*.tmp"))


def test_init_tightens_an_existing_directory(tmp_path: Path) -> None:
    ca_dir = tmp_path / "ca"
    ca_dir.mkdir(mode=0o755)
    os.chmod(ca_dir, 0o755)
    init_ca(ca_dir)
    assert _mode(ca_dir) == 0o700


def test_key_file_is_created_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        init_ca(tmp_path / "ca")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "ca" / "mitmproxy-ca.pem") == 0o600


def test_certificate_profile(constrained_ca: CAFiles, catalog: tuple[str, ...]) -> None:
    cert = constrained_ca.certificate
    ext = cert.extensions

    bc = ext.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = ext.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    assert not ku.value.digital_signature
    ski = ext.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert ski.value == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())

    nc = ext.get_extension_for_class(x509.NameConstraints)
    assert nc.critical
    assert nc.value.permitted_subtrees == [x509.DNSName(n) for n in catalog]
    assert nc.value.excluded_subtrees == [
        x509.IPAddress(ipaddress.IPv4Network("0.0.0.0/0")),
        x509.IPAddress(ipaddress.IPv6Network("::/0")),
    ]

    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 3072
    assert cert.subject.rfc4514_string() == "O=Example Corp,CN=Egress Warden Interception CA"
    assert cert.issuer == cert.subject
    assert constrained_ca.name_constraints == catalog


def test_validity_starts_an_hour_back(tmp_path: Path) -> None:
    before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    ca = init_ca(tmp_path / "ca", validity_days=30)
    cert = ca.certificate
    assert before - datetime.timedelta(hours=1, seconds=2) <= cert.not_valid_before_utc
    assert cert.not_valid_before_utc <= before - datetime.timedelta(minutes=59)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == datetime.timedelta(
        days=30, hours=1
    )
    assert ca.not_after == cert.not_valid_after_utc


def test_unconstrained_ca_has_no_name_constraints(open_ca: CAFiles) -> None:
    assert open_ca.name_constraints is None
    with pytest.raises(x509.ExtensionNotFound):
        open_ca.certificate.extensions.get_extension_for_class(x509.NameConstraints)


def test_refuses_to_overwrite(constrained_ca: CAFiles) -> None:
    before = {p.name: p.read_bytes() for p in constrained_ca.ca_dir.iterdir()}
    with pytest.raises(CAError) as e:
        init_ca(constrained_ca.ca_dir)
    assert "already exists" in str(e.value)
    assert "warden ca rotate" in e.value.diagnostics()
    assert "--force" in e.value.diagnostics()
    assert {p.name: p.read_bytes() for p in constrained_ca.ca_dir.iterdir()} == before


def test_force_archives_the_old_ca(constrained_ca: CAFiles) -> None:
    ca_dir = constrained_ca.ca_dir
    new = init_ca(ca_dir, force=True)

    assert new.fingerprint_sha256 != constrained_ca.fingerprint_sha256
    assert new.name_constraints is None  # init takes only what it is given
    (archived,) = (ca_dir / "archive").iterdir()
    assert _mode(ca_dir / "archive") == 0o700
    assert _mode(archived) == 0o700
    assert _files(archived) == EXPECTED_FILES
    assert load_ca(archived).fingerprint_sha256 == constrained_ca.fingerprint_sha256
    datetime.datetime.strptime(archived.name, "%Y%m%dT%H%M%SZ")


def test_init_archives_stray_files_without_a_key(tmp_path: Path) -> None:
    ca_dir = tmp_path / "ca"
    ca_dir.mkdir()
    (ca_dir / "mitmproxy-ca-cert.pem").write_bytes(b"stale")
    (ca_dir / "config.yaml").write_text("keep me\n")

    init_ca(ca_dir)

    (archived,) = (ca_dir / "archive").iterdir()
    assert (archived / "mitmproxy-ca-cert.pem").read_bytes() == b"stale"
    assert (ca_dir / "config.yaml").read_text() == "keep me\n"


def test_rotate_keeps_settings_and_archives(
    constrained_ca: CAFiles, catalog: tuple[str, ...]
) -> None:
    ca_dir = constrained_ca.ca_dir
    (ca_dir / "mitmproxy-magisk-module.zip").write_bytes(b"old cert inside")

    new = rotate_ca(ca_dir)

    assert new.fingerprint_sha256 != constrained_ca.fingerprint_sha256
    assert new.spki_sha256 != constrained_ca.spki_sha256
    assert new.name_constraints == catalog
    assert new.common_name == constrained_ca.common_name
    assert new.organization == "Example Corp"
    old_life = constrained_ca.not_after - constrained_ca.certificate.not_valid_before_utc
    new_life = new.not_after - new.certificate.not_valid_before_utc
    assert old_life == new_life
    assert not (ca_dir / "mitmproxy-magisk-module.zip").exists()
    (archived,) = (ca_dir / "archive").iterdir()
    assert _mode(archived / "mitmproxy-ca.pem") == 0o600
    assert (archived / "mitmproxy-magisk-module.zip").exists()
    assert load_ca(ca_dir) == new


def test_rotate_overrides(constrained_ca: CAFiles) -> None:
    new = rotate_ca(
        constrained_ca.ca_dir,
        common_name="Other CA",
        organization=None,
        name_constraints=["claude.ai"],
        validity_days=10,
    )
    assert new.common_name == "Other CA"
    assert new.organization is None
    assert new.name_constraints == ("claude.ai",)
    assert new.not_after - new.certificate.not_valid_before_utc == datetime.timedelta(
        days=10, hours=1
    )


def test_rotate_can_drop_constraints(constrained_ca: CAFiles) -> None:
    assert rotate_ca(constrained_ca.ca_dir, name_constraints=None).name_constraints is None


def test_two_rotations_in_one_second_keep_both_archives(open_ca: CAFiles) -> None:
    first = rotate_ca(open_ca.ca_dir)
    second = rotate_ca(open_ca.ca_dir)
    archives = sorted((open_ca.ca_dir / "archive").iterdir())
    assert len(archives) == 2
    kept = {load_ca(a).fingerprint_sha256 for a in archives}
    assert kept == {open_ca.fingerprint_sha256, first.fingerprint_sha256}
    assert second.fingerprint_sha256 not in kept


def test_rotate_without_a_ca(tmp_path: Path) -> None:
    with pytest.raises(CAError, match="no CA in"):
        rotate_ca(tmp_path / "nothing")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"validity_days": 0}, "validity_days must be at least 1"),
        ({"common_name": ""}, "common name"),
        ({"common_name": "x" * 65}, "common name"),
        ({"organization": "o" * 65}, "organization"),
        ({"name_constraints": ["*.openai.com"]}, "'*.openai.com'"),
    ],
)
def test_init_rejects_bad_settings_before_touching_disk(
    tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(CAError, match=message):
        init_ca(tmp_path / "ca", **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "ca").exists()
