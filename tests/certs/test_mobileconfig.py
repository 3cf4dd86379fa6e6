"""The .mobileconfig export: payload types, the embedded CA, the fail-closed proxy, stable bytes."""

from __future__ import annotations

import plistlib
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from warden.certs import CAError, CAFiles
from warden.certs.mobileconfig import mobileconfig

PAC = "https://warden.example.com:8081/proxy.pac"
IDENT = "com.example.egress-warden"


def _der(ca: CAFiles) -> bytes:
    return ca.certificate.public_bytes(serialization.Encoding.DER)


def test_profile_carries_the_ca_and_the_pac_proxy(constrained_ca: CAFiles) -> None:
    der = _der(constrained_ca)
    profile = plistlib.loads(
        mobileconfig(der, org="Example Corp", identifier=IDENT, proxy_pac_url=PAC)
    )
    assert profile["PayloadType"] == "Configuration"
    assert profile["PayloadIdentifier"] == IDENT
    assert profile["PayloadVersion"] == 1
    assert profile["PayloadOrganization"] == "Example Corp"
    by_type = {p["PayloadType"]: p for p in profile["PayloadContent"]}
    assert set(by_type) == {"com.apple.security.root", "com.apple.proxy.http.global"}
    root = by_type["com.apple.security.root"]
    assert root["PayloadContent"] == der
    assert root["PayloadIdentifier"] == f"{IDENT}.ca"
    proxy = by_type["com.apple.proxy.http.global"]
    assert proxy["ProxyType"] == "Auto"
    assert proxy["ProxyPACURL"] == PAC
    assert proxy["ProxyPACFallbackAllowed"] is False  # fail closed
    uuids = [profile["PayloadUUID"], root["PayloadUUID"], proxy["PayloadUUID"]]
    assert len(set(uuids)) == 3
    for value in uuids:
        assert str(uuid.UUID(value)).upper() == value
        assert uuid.UUID(value).version == 5


def test_without_a_pac_url_only_the_ca(open_ca: CAFiles) -> None:
    profile = plistlib.loads(
        mobileconfig(_der(open_ca), org="Example Corp", identifier=IDENT, proxy_pac_url=None)
    )
    assert [p["PayloadType"] for p in profile["PayloadContent"]] == ["com.apple.security.root"]


def test_re_export_is_byte_identical_and_a_new_ca_changes_the_uuids(
    constrained_ca: CAFiles, open_ca: CAFiles
) -> None:
    a = mobileconfig(_der(constrained_ca), org="Example Corp", identifier=IDENT, proxy_pac_url=PAC)
    b = mobileconfig(_der(constrained_ca), org="Example Corp", identifier=IDENT, proxy_pac_url=PAC)
    assert a == b
    other = plistlib.loads(
        mobileconfig(_der(open_ca), org="Example Corp", identifier=IDENT, proxy_pac_url=PAC)
    )
    assert other["PayloadUUID"] != plistlib.loads(a)["PayloadUUID"]
    assert other["PayloadIdentifier"] == IDENT  # devices replace the old profile


def test_refuses_what_is_not_a_ca_certificate(constrained_ca: CAFiles, tmp_path: Path) -> None:
    with pytest.raises(CAError, match="not a DER-encoded certificate"):
        mobileconfig(b"not a certificate", org="X", identifier=IDENT, proxy_pac_url=None)
    openssl = shutil.which("openssl")
    if openssl is not None:
        key = tmp_path / "leaf.key"
        cert = tmp_path / "leaf.der"
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", str(key), "-subj", "/CN=leaf", "-days", "1",
             "-addext", "basicConstraints=critical,CA:FALSE", "-outform", "DER", "-out", str(cert)],
            check=True, capture_output=True,
        )  # fmt: skip
        with pytest.raises(CAError, match="not a CA certificate"):
            mobileconfig(cert.read_bytes(), org="X", identifier=IDENT, proxy_pac_url=None)


@pytest.mark.parametrize(
    ("identifier", "pac"),
    [("not reverse dns", None), (IDENT, "ftp://x.example/p.pac"), (IDENT, "https://u:p@x/p.pac")],
)
def test_refuses_bad_identifier_or_pac_url(
    constrained_ca: CAFiles, identifier: str, pac: str | None
) -> None:
    with pytest.raises(ValueError):
        mobileconfig(_der(constrained_ca), org="X", identifier=identifier, proxy_pac_url=pac)


def test_plutil_accepts_it_when_available(constrained_ca: CAFiles, tmp_path: Path) -> None:
    """macOS's own parser, where the tests run on a Mac; elsewhere skipped."""
    plutil = shutil.which("plutil")
    if plutil is None:
        pytest.skip("plutil (macOS) is not available")
    path = tmp_path / "warden.mobileconfig"
    path.write_bytes(
        mobileconfig(_der(constrained_ca), org="Example Corp", identifier=IDENT, proxy_pac_url=PAC)
    )
    subprocess.run([plutil, "-lint", str(path)], check=True)
