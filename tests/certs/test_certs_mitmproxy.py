"""mitmproxy 12.2 loads our CA from confdir as-is and issues leaves with it."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from mitmproxy.addons.tlsconfig import TlsConfig
from mitmproxy.certs import CertStore
from mitmproxy.test import taddons

from warden.certs import CAFiles, load_ca, rotate_ca
from warden.certs.layout import FFDHE2048_PEM


def _snapshot(ca_dir: Path) -> dict[str, tuple[bytes, int, int]]:
    return {
        p.name: (p.read_bytes(), p.stat().st_mode, p.stat().st_mtime_ns)
        for p in sorted(ca_dir.rglob("*"))
        if p.is_file()
    }


def test_certstore_loads_our_ca_and_writes_nothing(constrained_ca: CAFiles) -> None:
    before = _snapshot(constrained_ca.ca_dir)

    store = CertStore.from_store(constrained_ca.ca_dir, "mitmproxy", 2048)

    assert store.default_ca.fingerprint().hex(":").upper() == constrained_ca.fingerprint_sha256
    assert store.default_chain_file is None  # only our CA, no chain
    assert _snapshot(constrained_ca.ca_dir) == before
    assert load_ca(constrained_ca.ca_dir) == constrained_ca


def test_certstore_issues_a_leaf_under_our_ca(constrained_ca: CAFiles) -> None:
    store = CertStore.from_store(constrained_ca.ca_dir, "mitmproxy", 2048)

    entry = store.get_cert("api.openai.com", [x509.DNSName("api.openai.com")])

    leaf = entry.cert.to_cryptography()
    ca = constrained_ca.certificate
    leaf.verify_directly_issued_by(ca)
    assert leaf.issuer == ca.subject
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["api.openai.com"]
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert [c.fingerprint() for c in entry.chain_certs] == [store.default_ca.fingerprint()]


def test_tlsconfig_addon_uses_our_ca_via_confdir(constrained_ca: CAFiles) -> None:
    before = _snapshot(constrained_ca.ca_dir)
    tlsconfig = TlsConfig()
    with taddons.context(tlsconfig) as tctx:
        tctx.configure(tlsconfig, confdir=str(constrained_ca.ca_dir))
        fingerprint = tlsconfig.certstore.default_ca.fingerprint()
    assert fingerprint.hex(":").upper() == constrained_ca.fingerprint_sha256
    assert _snapshot(constrained_ca.ca_dir) == before


def test_certstore_loads_the_rotated_ca(constrained_ca: CAFiles) -> None:
    # mitmproxy reads fixed names only; the archive/ subdirectory does not disturb it.
    new = rotate_ca(constrained_ca.ca_dir)
    store = CertStore.from_store(constrained_ca.ca_dir, "mitmproxy", 2048)
    assert store.default_ca.fingerprint().hex(":").upper() == new.fingerprint_sha256


def _ffdhe2048_prime() -> int:
    """RFC 7919 A.1: p = 2^2048 - 2^1984 + (floor(2^1918 * e) + 560316) * 2^64 - 1."""
    guard = 64  # extra bits, so the sum of truncated terms floors to the exact value
    scale = 1 << (1918 + guard)
    total, term, k = 0, scale, 0
    while term:
        total += term
        k += 1
        term //= k
    return 2**2048 - 2**1984 + ((total >> guard) + 560316) * 2**64 - 1


def test_dhparam_is_rfc7919_ffdhe2048() -> None:
    params = serialization.load_pem_parameters(FFDHE2048_PEM)
    numbers = params.parameter_numbers()
    assert numbers.g == 2
    assert numbers.p == _ffdhe2048_prime()
