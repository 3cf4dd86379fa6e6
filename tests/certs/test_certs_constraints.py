"""Name constraints, proven on leaves that mitmproxy's own CertStore issues.

(a) cryptography's X.509 path validation; (b) a real TLS handshake through Python's
`ssl` (OpenSSL). Every leaf the constrained CA must not vouch for is also checked under
an unconstrained CA, where it passes, so each failure is the constraint's doing.
mitmproxy 12.2's leaves (SAN, serverAuth EKU, AKI from our SKI) satisfy cryptography's
strict verifier as they are, so no leaf is hand-built here.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from mitmproxy.certs import CertStore, CertStoreEntry

from warden.certs import CAFiles

# OpenSSL's X509_V_ERR_PERMITTED_VIOLATION and X509_V_ERR_EXCLUDED_VIOLATION.
PERMITTED_VIOLATION = 47
EXCLUDED_VIOLATION = 48

IP4 = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
IP6 = x509.IPAddress(ipaddress.ip_address("::1"))


def dns(name: str) -> x509.DNSName:
    return x509.DNSName(name)


# (common name, SANs, the name the client connects to)
ALLOWED = [
    ("api.openai.com", [dns("api.openai.com")], dns("api.openai.com")),
    ("chatgpt.com", [dns("chatgpt.com")], dns("chatgpt.com")),
    ("ab.chatgpt.com", [dns("ab.chatgpt.com")], dns("ab.chatgpt.com")),  # subtree
]
REFUSED = [
    ("example.org", [dns("example.org")], dns("example.org")),
    (
        "api.openai.com.evil.test",
        [dns("api.openai.com.evil.test")],
        dns("api.openai.com.evil.test"),
    ),
    ("notchatgpt.com", [dns("notchatgpt.com")], dns("notchatgpt.com")),  # label boundary
    ("evilapi.openai.com", [dns("evilapi.openai.com")], dns("evilapi.openai.com")),
    ("openai.com", [dns("openai.com")], dns("openai.com")),  # parent of a permitted name
    ("127.0.0.1", [IP4], IP4),
    ("::1", [IP6], IP6),
    # One forbidden SAN taints the whole leaf, even for a permitted name.
    ("api.openai.com", [dns("api.openai.com"), dns("example.org")], dns("api.openai.com")),
    ("api.openai.com", [dns("api.openai.com"), IP4], dns("api.openai.com")),
]


def _id(case: tuple[str, list[x509.GeneralName], x509.GeneralName]) -> str:
    return "+".join(str(s.value) for s in case[1])


def _issue(ca: CAFiles, cn: str, sans: list[x509.GeneralName]) -> CertStoreEntry:
    return CertStore.from_store(ca.ca_dir, "mitmproxy", 2048).get_cert(cn, sans)


def _verify(ca: CAFiles, leaf: x509.Certificate, name: x509.GeneralName) -> None:
    assert isinstance(name, x509.DNSName | x509.IPAddress)
    verifier = PolicyBuilder().store(Store([ca.certificate])).build_server_verifier(name)
    verifier.verify(leaf, [])


# (a) cryptography's verifier ------------------------------------------------------------


@pytest.mark.parametrize("case", ALLOWED, ids=_id)
def test_verifier_accepts_catalog_names(
    constrained_ca: CAFiles, case: tuple[str, list[x509.GeneralName], x509.GeneralName]
) -> None:
    cn, sans, name = case
    _verify(constrained_ca, _issue(constrained_ca, cn, sans).cert.to_cryptography(), name)


@pytest.mark.parametrize("case", REFUSED, ids=_id)
def test_verifier_refuses_other_names_only_under_constraints(
    constrained_ca: CAFiles,
    open_ca: CAFiles,
    case: tuple[str, list[x509.GeneralName], x509.GeneralName],
) -> None:
    cn, sans, name = case
    leaf = _issue(constrained_ca, cn, sans).cert.to_cryptography()
    with pytest.raises(VerificationError, match="name constraint"):
        _verify(constrained_ca, leaf, name)

    _verify(open_ca, _issue(open_ca, cn, sans).cert.to_cryptography(), name)


# (b) a TLS handshake with OpenSSL -------------------------------------------------------


class _OneShotServer:
    """A TLS server on 127.0.0.1 that serves one handshake with the given leaf."""

    def __init__(self, entry: CertStoreEntry, workdir: Path) -> None:
        cert_file, key_file = workdir / "leaf.pem", workdir / "leaf-key.pem"
        cert_file.write_bytes(entry.cert.to_pem())
        key_file.write_bytes(
            entry.privatekey.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert_file, key_file)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.port: int = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
            with self.context.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"ok")
        except (OSError, ssl.SSLError):
            pass  # the client refused our certificate: that is what some tests want

    def __enter__(self) -> _OneShotServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(timeout=10)
        self.listener.close()


def _connect(ca: CAFiles, port: int, server_hostname: str) -> bytes:
    client = ssl.create_default_context(cafile=ca.cert_path)  # trusts only this CA
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        client.wrap_socket(raw, server_hostname=server_hostname) as tls,
    ):
        return tls.recv(2)


def _handshake(
    ca: CAFiles, case: tuple[str, list[x509.GeneralName], x509.GeneralName], workdir: Path
) -> bytes:
    cn, sans, name = case
    with _OneShotServer(_issue(ca, cn, sans), workdir) as server:
        return _connect(ca, server.port, str(name.value))


@pytest.mark.parametrize("case", ALLOWED[:2], ids=_id)
def test_tls_handshake_succeeds_for_catalog_names(
    constrained_ca: CAFiles,
    tmp_path: Path,
    case: tuple[str, list[x509.GeneralName], x509.GeneralName],
) -> None:
    assert _handshake(constrained_ca, case, tmp_path) == b"ok"


@pytest.mark.parametrize(
    ("case", "code"),
    [
        (REFUSED[0], PERMITTED_VIOLATION),  # example.org
        (REFUSED[1], PERMITTED_VIOLATION),  # api.openai.com.evil.test
        (REFUSED[5], EXCLUDED_VIOLATION),  # 127.0.0.1
    ],
    ids=lambda v: _id(v) if isinstance(v, tuple) else str(v),
)
def test_tls_handshake_fails_for_other_names_only_under_constraints(
    constrained_ca: CAFiles,
    open_ca: CAFiles,
    tmp_path: Path,
    case: tuple[str, list[x509.GeneralName], x509.GeneralName],
    code: int,
) -> None:
    with pytest.raises(ssl.SSLCertVerificationError) as e:
        _handshake(constrained_ca, case, tmp_path)
    assert e.value.verify_code == code, e.value.verify_message

    assert _handshake(open_ca, case, tmp_path) == b"ok"
