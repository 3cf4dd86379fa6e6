"""Scope end to end: non-catalog TLS passes through untouched; unsanctioned hosts get 403;
a flow is judged on its SNI and Host too (an IP CONNECT with a catalog SNI, domain fronting)."""

from __future__ import annotations

import datetime
import hashlib
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.e2e import tunnel
from tests.peers import UNSAFE_ENV, Aimock, WardenProcess, free_port

pytestmark = pytest.mark.e2e


def self_signed(tmp: Path, name: str) -> tuple[Path, Path, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "server.pem", tmp / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path, cert.public_bytes(serialization.Encoding.DER)


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[int, Path, bytes]]:
    """A local HTTPS server that is not in the catalog, with its own self-signed certificate."""
    cert_path, key_path, der = self_signed(tmp_path, "intranet.test")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_path, key_path)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with ctx.wrap_socket(raw, server_side=True) as conn:
                    conn.recv(4096)
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\nintranet!"
                    )
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port, cert_path, der
    stop.set()
    thread.join(2)
    listener.close()


def connect_via_proxy(proxy_port: int, target: str) -> tuple[socket.socket, bytes]:
    sock = socket.create_connection(("127.0.0.1", proxy_port), timeout=10)
    sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    if b" 200 " not in head.split(b"\r\n")[0]:  # a refusal: read its body too
        header, _, body = head.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in header.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            None,
        )
        while (length is None or len(body) < length) and (chunk := sock.recv(4096)):
            body += chunk
        head = header + b"\r\n\r\n" + body
    return sock, head


@pytest.mark.parametrize("connect_host", ["127.0.0.1", "localhost"])
def test_non_catalog_tls_passes_through_untouched(
    gateway: WardenProcess, https_server: tuple[int, Path, bytes], connect_host: str
) -> None:
    port, cert_path, server_der = https_server
    sock, head = connect_via_proxy(gateway.proxy_port, f"{connect_host}:{port}")
    assert head.split(b"\r\n")[0].endswith(b"200 Connection established")
    ctx = ssl.create_default_context(cafile=str(cert_path))
    with ctx.wrap_socket(sock, server_hostname="intranet.test") as tls:
        seen = tls.getpeercert(binary_form=True)
        tls.sendall(b"GET / HTTP/1.1\r\nHost: intranet.test\r\n\r\n")
        reply = tls.recv(4096)
    # The client sees the server's own certificate, byte for byte, not one of the warden CA.
    assert seen is not None
    assert hashlib.sha256(seen).hexdigest() == hashlib.sha256(server_der).hexdigest()
    assert reply.endswith(b"intranet!")


def test_catalog_host_is_intercepted_with_the_warden_ca(gateway: WardenProcess) -> None:
    sock, head = connect_via_proxy(gateway.proxy_port, "api.openai.com:443")
    assert b" 200 " in head.split(b"\r\n")[0]
    ctx = ssl.create_default_context(cafile=str(gateway.ca_cert))
    with ctx.wrap_socket(sock, server_hostname="api.openai.com") as tls:
        cert = tls.getpeercert()
    assert cert is not None
    issuer = dict(x[0] for x in cert["issuer"])  # type: ignore[misc]
    assert issuer["commonName"] == "Egress Warden Interception CA"


@pytest.mark.parametrize("target", ["chat.deepseek.com:443", "API.DeepSeek.com.:443"])
def test_unsanctioned_host_is_refused_at_connect(gateway: WardenProcess, target: str) -> None:
    sock, head = connect_via_proxy(gateway.proxy_port, target)
    sock.close()
    status_line, _, rest = head.partition(b"\r\n")
    assert b" 403 " in status_line
    assert b"Not approved; ask it-security@example.com." in rest


def test_lookalike_host_is_not_intercepted(gateway: WardenProcess) -> None:
    """``api.openai.com.evil.test`` must not be treated as OpenAI (it would get our CA's
    certificate and its traffic would be parsed as prompts). Passed through, the tunnel
    leads to the unresolvable host itself, so no TLS handshake with a forged certificate
    can complete; intercepted, it would (the test bed connects upstream lazily)."""
    sock, _ = connect_via_proxy(gateway.proxy_port, "api.openai.com.evil.test:443")
    ctx = ssl.create_default_context(cafile=str(gateway.ca_cert))
    try:
        with (
            pytest.raises((ssl.SSLError, OSError)),
            ctx.wrap_socket(sock, server_hostname="api.openai.com.evil.test") as tls,
        ):
            tls.getpeercert()
    finally:
        sock.close()


def test_gateway_host_loopback_and_metadata_are_out_of_reach(tmp_path: Path) -> None:
    """Without the test bed's allowance, no client reaches the gateway's own control plane
    (or any loopback or link-local service) through the proxy, by IP or by name."""
    import yaml

    w = WardenProcess(tmp_path, {})
    cfg = yaml.safe_load(w.config_path.read_text())
    cfg["proxy"]["allow_loopback_destinations"] = False
    w.config_path.write_text(yaml.safe_dump(cfg))
    w.start()
    try:
        for target in (
            f"127.0.0.1:{w.control_port}",
            f"localhost:{w.control_port}",
            "169.254.169.254:80",
        ):
            sock, head = connect_via_proxy(w.proxy_port, target)
            sock.close()
            assert b" 502 " in head.split(b"\r\n")[0], (target, head[:200])
            assert b"loopback and link-local addresses are not reachable" in head
        # Plain HTTP through the proxy to the control plane is refused the same way.
        sock = socket.create_connection(("127.0.0.1", w.proxy_port), timeout=10)
        sock.sendall(
            f"GET http://127.0.0.1:{w.control_port}/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        )
        reply = sock.recv(65536)
        sock.close()
        assert b" 502 " in reply.split(b"\r\n")[0] and b"warden_flows" not in reply
    finally:
        w.stop()


# -- a CONNECT by address with the SNI of a catalog host (issue 19, finding 1) -------------

CHAT_PATH = "/v1/chat/completions"
HELLO = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello warden"}]}


def _by_address(w: WardenProcess, connect: str, sni: str | None, host: str) -> tunnel.Answer:
    """The attacker's own client: it does not check the certificate it is shown."""
    return tunnel.post_in_tunnel(
        w.proxy_port,
        connect=connect,
        sni=sni,
        host=host,
        ca=None,
        path=CHAT_PATH,
        payload=HELLO,
    )


@pytest.mark.parametrize("connect", ["203.0.113.7:443", "[::1]:443", "[2001:db8::7]:443"])
def test_connect_by_address_with_catalog_sni_is_judged_as_the_service(
    gateway: WardenProcess, connect: str
) -> None:
    """Before: intercepted (the SNI matched) but not judged, the request went to the
    address the client chose and nothing was recorded. Now it is an OpenAI flow: routed
    (the test bed routes judged catalog flows to aimock) and audited."""
    answer = _by_address(gateway, connect, "API.OpenAI.com.", "api.openai.com")
    assert answer.status == 200, answer
    assert answer.headers.get("x-warden-unsafe-test-routing") == "1"
    assert "Hello from the mock upstream" in answer.body.decode()


@pytest.mark.parametrize(
    ("connect", "sni", "host"),
    [
        ("203.0.113.7:443", "api.openai.com", "evil.test"),
        ("api.openai.com:443", "api.openai.com", "evil.test"),
        ("api.openai.com:443", "evil.test", "api.openai.com"),
        ("evil.test:443", "api.openai.com", "api.openai.com"),
        ("[::1]:443", "api.openai.com", "chatgpt.com"),
    ],
)
def test_names_that_disagree_are_refused_with_421(
    gateway: WardenProcess, connect: str, sni: str, host: str
) -> None:
    answer = _by_address(gateway, connect, sni, host)
    assert answer.status == 421, answer
    assert "domain fronting is refused" in str(answer.json()["error"])


def test_connect_by_address_without_sni_stays_a_tunnel(
    gateway: WardenProcess, https_server: tuple[int, Path, bytes]
) -> None:
    """No name to judge on: the tunnel leads to the address, with its own certificate."""
    port, cert_path, server_der = https_server
    sock, head = connect_via_proxy(gateway.proxy_port, f"127.0.0.1:{port}")
    assert b" 200 " in head.split(b"\r\n")[0]
    ctx = ssl.create_default_context(cafile=str(cert_path))
    ctx.check_hostname = False
    with ctx.wrap_socket(sock) as tls:  # no server_hostname: no SNI
        seen = tls.getpeercert(binary_form=True)
    assert seen is not None
    assert hashlib.sha256(seen).hexdigest() == hashlib.sha256(server_der).hexdigest()


@pytest.fixture(scope="module")
def enforcing(aimock: Aimock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WardenProcess]:
    """A gateway that enforces sign-in (its IdP is never reached: no credential is sent)."""
    w = WardenProcess(
        tmp_path_factory.mktemp("enforcing"),
        {
            "unsafe_testing": {"route_catalog_hosts_to": aimock.url},
            "identity": {
                "mode": "enforce",
                "identity_providers": [
                    {
                        "id": "dev",
                        "issuer": f"http://127.0.0.1:{free_port()}",
                        "client_id": "warden-portal",
                        "client_secret_env": "WARDEN_TEST_PORTAL_SECRET",
                        "tenant": "acme",
                    }
                ],
                "tenants": [{"id": "acme", "display_name": "Acme", "identity_providers": ["dev"]}],
            },
        },
        env={**UNSAFE_ENV, "WARDEN_TEST_PORTAL_SECRET": "unused"},
    )
    w.start()
    yield w
    w.stop()


@pytest.mark.parametrize("connect", ["203.0.113.7:443", "[::1]:443"])
def test_connect_by_address_must_sign_in_and_is_audited(
    enforcing: WardenProcess, connect: str
) -> None:
    answer = _by_address(enforcing, connect, "api.openai.com", "api.openai.com")
    assert answer.status == 407, answer
    assert "not signed in" in str(answer.json()["error"])
    fronted = _by_address(enforcing, connect, "api.openai.com", "evil.test")
    assert fronted.status == 421
    records = [
        r
        for r in enforcing.audit_records()
        if (r.get("destination") or {}).get("service") == "openai"
    ]
    outcomes = [(r["outcome"], r["status"]) for r in records]
    assert ("unauthenticated", 407) in outcomes
    refused = [r for r in records if r["outcome"] == "refused_host" and r["status"] == 421]
    assert refused and refused[-1]["decision"]["rule_id"] == "scope.misdirected"
    assert "evil.test" in refused[-1]["decision"]["reason"]
    metrics = enforcing.metrics()
    assert 'warden_connects_total{decision="by_address"}' in metrics
    assert 'warden_scope_by_name_total{decision="misdirected"}' in metrics


@pytest.mark.parametrize(
    ("url_host", "host", "status"),
    [("203.0.113.7", "api.openai.com", 200), ("[::1]", "api.openai.com", 200)],
)
def test_plain_http_to_an_address_with_a_catalog_host_is_judged(
    gateway: WardenProcess, url_host: str, host: str, status: int
) -> None:
    """Plain HTTP in absolute form: the URL names an address, the Host header OpenAI."""
    body = json.dumps(HELLO).encode()
    sock = socket.create_connection(("127.0.0.1", gateway.proxy_port), timeout=20)
    with sock:
        sock.sendall(
            f"POST http://{url_host}{CHAT_PATH} HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        answer = tunnel.read_answer(sock)
    assert answer.status == status, answer
    assert answer.headers.get("x-warden-unsafe-test-routing") == "1"  # judged as OpenAI


def test_plain_http_whose_url_and_host_disagree_is_refused(gateway: WardenProcess) -> None:
    sock = socket.create_connection(("127.0.0.1", gateway.proxy_port), timeout=20)
    with sock:
        sock.sendall(b"GET http://evil.test/v1/models HTTP/1.1\r\nHost: api.openai.com\r\n\r\n")
        answer = tunnel.read_answer(sock)
    assert answer.status == 421, answer
    assert "domain fronting is refused" in str(answer.json()["error"])


# -- a tunnel to an unsanctioned host named only by its SNI (issue 19) ----------------------


@pytest.mark.parametrize("connect_host", ["127.0.0.1", "localhost"])
@pytest.mark.parametrize("sni", ["chat.deepseek.com", "API.DeepSeek.com"])
def test_tunnel_whose_sni_is_unsanctioned_is_closed(
    gateway: WardenProcess, https_server: tuple[int, Path, bytes], connect_host: str, sni: str
) -> None:
    """A CONNECT to an address (or any harmless name) whose ClientHello names an
    unsanctioned service: before, mitmproxy passed it through as a tunnel and the client
    finished a handshake with whatever listened there; now the gateway reads the SNI and
    closes the connection before a byte reaches the target."""
    port, cert_path, _ = https_server
    closed_before = _closed_by_sni(gateway)
    sock, head = connect_via_proxy(gateway.proxy_port, f"{connect_host}:{port}")
    assert b" 200 " in head.split(b"\r\n")[0]  # the CONNECT itself names no refused host
    ctx = ssl.create_default_context(cafile=str(cert_path))
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the attacker's client: it would accept any server
    try:
        with pytest.raises((ssl.SSLError, OSError)), ctx.wrap_socket(sock, server_hostname=sni):
            pass
    finally:
        sock.close()
    assert _closed_by_sni(gateway) == closed_before + 1


def _closed_by_sni(w: WardenProcess) -> float:
    line = 'warden_scope_by_name_total{decision="blocked"} '
    found = [x for x in w.metrics().splitlines() if x.startswith(line)]
    return float(found[0].removeprefix(line)) if found else 0.0


def test_tunnel_whose_sni_is_harmless_still_passes(
    gateway: WardenProcess, https_server: tuple[int, Path, bytes]
) -> None:
    """The negative of the above: a tunnel by address with an SNI that names no refused
    host is left alone (the server's own certificate, byte for byte)."""
    port, cert_path, server_der = https_server
    sock, head = connect_via_proxy(gateway.proxy_port, f"127.0.0.1:{port}")
    assert b" 200 " in head.split(b"\r\n")[0]
    ctx = ssl.create_default_context(cafile=str(cert_path))
    with ctx.wrap_socket(sock, server_hostname="intranet.test") as tls:
        seen = tls.getpeercert(binary_form=True)
    assert seen is not None
    assert hashlib.sha256(seen).hexdigest() == hashlib.sha256(server_der).hexdigest()


@pytest.mark.parametrize("connect", ["203.0.113.7:443", "[::1]:443"])
def test_connect_by_address_shows_a_certificate_a_checking_client_accepts(
    gateway: WardenProcess, connect: str
) -> None:
    """The interception CA is name-constrained to catalog domains and excludes every IP;
    mitmproxy put the CONNECT target's address into the leaf it issued, so a client that
    checks name constraints (OpenSSL does) refused it. The leaf now names the SNI only."""
    answer = tunnel.post_in_tunnel(
        gateway.proxy_port,
        connect=connect,
        sni="api.openai.com",
        host="api.openai.com",
        ca=gateway.ca_cert,
        path=CHAT_PATH,
        payload=HELLO,
    )
    assert answer.status == 200, answer
    assert "Hello from the mock upstream" in answer.body.decode()
