"""`warden doctor`: green on a good set-up, red with the right fix for each thing broken on purpose.

The peers are real sockets on loopback: an IdP stand-in (stdlib HTTP server in a thread
serving discovery and a JWKS), a TCP syslog collector (a listening socket), a UDP one,
and for the "running" case the gateway itself (`WardenProcess`). The IdP stand-in rather
than the dev IdP because one fault has to be made on demand: an IdP whose clock is
minutes off. No real IdP produces that for a test, so the stand-in sends an old HTTP
``Date`` header, exactly what a skewed IdP (or a skewed gateway host) looks like.
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import threading
from collections.abc import Iterator
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.peers import WardenProcess, free_port
from warden.certs import init_ca
from warden.cli.doctor import CheckResult, exit_code, render, render_json, run_checks
from warden.providers.catalog import Catalog

SECRET_ENV = "DOCTOR_TEST_OIDC_SECRET"
ENV = {SECRET_ENV: "not-a-real-secret"}


# --------------------------------------------------------------------------- peers


class FakeIdp:
    """Discovery + JWKS on loopback; ``date_offset`` skews the Date header it sends."""

    def __init__(self) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        jwk.update(kid="k1", use="sig", alg="RS256")
        self.jwks = {"keys": [jwk]}
        self.date_offset = datetime.timedelta(0)
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def date_time_string(self, timestamp: float | None = None) -> str:
                return format_datetime(
                    datetime.datetime.now(datetime.UTC) + idp.date_offset, usegmt=True
                )

            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body: dict[str, Any] = {
                        "issuer": idp.issuer,
                        "authorization_endpoint": f"{idp.issuer}/auth",
                        "token_endpoint": f"{idp.issuer}/token",
                        "jwks_uri": f"{idp.issuer}/jwks",
                        "device_authorization_endpoint": f"{idp.issuer}/device",
                    }
                elif self.path == "/jwks":
                    body = idp.jwks
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeIdp:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def idp() -> Iterator[FakeIdp]:
    with FakeIdp() as server:
        yield server


@pytest.fixture
def collector() -> Iterator[int]:
    """A TCP syslog collector: a listening socket (the kernel completes the handshake)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


@pytest.fixture(scope="module")
def ca_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ca_dir = tmp_path_factory.mktemp("doctor-ca") / "ca"
    init_ca(ca_dir, name_constraints=Catalog.default().name_constraint_domains())
    return ca_dir


def make_setup(
    tmp_path: Path, ca_template: Path, issuer: str, syslog_port: int, **overrides: Any
) -> Path:
    """A config file with a state folder (0700, CA inside), one IdP and TCP syslog."""
    import shutil

    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    shutil.copytree(ca_template, state / "ca")
    config: dict[str, Any] = {
        "state_dir": str(state),
        "proxy": {"listen": {"host": "127.0.0.1", "port": free_port()}},
        "control": {"listen": {"host": "127.0.0.1", "port": free_port()}},
        "identity": {
            "identity_providers": [
                {
                    "id": "corp",
                    "issuer": issuer,
                    "client_id": "egress-warden",
                    "client_secret_env": SECRET_ENV,
                    "device_client_id": "egress-warden-cli",
                    "tenant": "acme",
                }
            ],
            "tenants": [{"id": "acme", "display_name": "Acme", "identity_providers": ["corp"]}],
        },
        "audit": {"syslog": {"transport": "tcp", "host": "127.0.0.1", "port": syslog_port}},
    }
    config.update(overrides)
    path = tmp_path / "warden.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results}


def failures(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results if not r.ok}


# --------------------------------------------------------------------------- green


def test_green_on_a_good_setup(
    tmp_path: Path, ca_template: Path, idp: FakeIdp, collector: int
) -> None:
    results = run_checks(make_setup(tmp_path, ca_template, idp.issuer, collector), env=ENV)
    assert failures(results) == {}, render(results)
    assert exit_code(results) == 0
    named = by_name(results)
    for name in (
        "config",
        "CA key file",
        "CA files",
        "CA expiry",
        "CA name constraints",
        "secret files",
        "control port",
        "proxy port",
        "IdP corp: client secret",
        "IdP corp: discovery",
        "IdP corp: clock",
        "IdP corp: JWKS",
        "syslog",
        "disk (state)",
        "state folder",
    ):
        assert named[name].status in ("pass", "warn"), (name, render(results))
    assert named["CA name constraints"].status == "pass"
    assert named["IdP corp: clock"].status == "pass"
    assert "TCP connection accepted" in named["syslog"].detail
    assert "All " in render(results)
    assert json.loads(render_json(results))[0]["status"] == "pass"


def test_a_running_gateway_holds_its_ports_and_says_so(tmp_path: Path) -> None:
    gateway = WardenProcess(tmp_path, {})
    gateway.start()
    try:
        results = run_checks(gateway.config_path, env={})
    finally:
        gateway.stop()
    named = by_name(results)
    for port in ("control port", "proxy port"):
        assert named[port].ok, render(results)
        assert "running gateway" in named[port].detail
    assert named["state folder"].ok, render(results)
    assert named["secret files"].ok, render(results)


# --------------------------------------------------------------------------- red, one fault each


def test_missing_secret_env_var(
    tmp_path: Path, ca_template: Path, idp: FakeIdp, collector: int
) -> None:
    results = run_checks(make_setup(tmp_path, ca_template, idp.issuer, collector), env={})
    failed = failures(results)
    assert list(failed) == ["IdP corp: client secret"]
    assert SECRET_ENV in failed["IdP corp: client secret"].detail
    assert "/etc/egress-warden/env" in (failed["IdP corp: client secret"].fix or "")
    assert exit_code(results) == 1


def test_key_file_readable_by_others(
    tmp_path: Path, ca_template: Path, idp: FakeIdp, collector: int
) -> None:
    path = make_setup(tmp_path, ca_template, idp.issuer, collector)
    key = tmp_path / "state" / "ca" / "mitmproxy-ca.pem"
    os.chmod(key, 0o644)
    failed = failures(run_checks(path, env=ENV))
    assert list(failed) == ["CA key file"]
    assert "0644" in failed["CA key file"].detail
    assert f"chmod 600 {key}" in (failed["CA key file"].fix or "")


def test_idp_down(tmp_path: Path, ca_template: Path, collector: int) -> None:
    issuer = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    failed = failures(run_checks(make_setup(tmp_path, ca_template, issuer, collector), env=ENV))
    assert list(failed) == ["IdP corp: discovery"]
    assert "unreachable" in failed["IdP corp: discovery"].detail
    assert "reach the IdP" in (failed["IdP corp: discovery"].fix or "")


def test_issuer_mismatch(tmp_path: Path, ca_template: Path, idp: FakeIdp, collector: int) -> None:
    path = make_setup(tmp_path, ca_template, idp.issuer + "/", collector)
    failed = failures(run_checks(path, env=ENV))
    assert list(failed) == ["IdP corp: discovery"]
    assert "issuer" in (failed["IdP corp: discovery"].fix or "")


def test_jwks_without_a_usable_key(
    tmp_path: Path, ca_template: Path, idp: FakeIdp, collector: int
) -> None:
    idp.jwks = {"keys": [{"kty": "oct", "kid": "x", "k": "c2VjcmV0"}]}
    failed = failures(run_checks(make_setup(tmp_path, ca_template, idp.issuer, collector), env=ENV))
    assert list(failed) == ["IdP corp: JWKS"]
    assert "rotate" in (failed["IdP corp: JWKS"].fix or "")  # symmetric secret published


def test_collector_down(tmp_path: Path, ca_template: Path, idp: FakeIdp) -> None:
    path = make_setup(tmp_path, ca_template, idp.issuer, free_port())
    failed = failures(run_checks(path, env=ENV))
    assert list(failed) == ["syslog"]
    assert "cannot connect" in failed["syslog"].detail
    assert "spool" in (failed["syslog"].fix or "")


def test_bad_config_keys_are_all_listed(tmp_path: Path) -> None:
    path = tmp_path / "warden.yaml"
    path.write_text(yaml.safe_dump({"proxy": {"listne": {}}, "audit": {"syslog": {"host": "x"}}}))
    results = run_checks(path, env={})
    assert [r.name for r in results] == ["config"]
    assert not results[0].ok
    assert "proxy.listne: unknown key" in results[0].detail
    assert "audit.syslog.port: required key is missing" in results[0].detail
    assert results[0].fix
    assert "[FAIL] config" in render(results)
    assert "fix:" in render(results)


def test_skewed_idp_clock(tmp_path: Path, ca_template: Path, idp: FakeIdp, collector: int) -> None:
    idp.date_offset = -datetime.timedelta(minutes=5)
    failed = failures(run_checks(make_setup(tmp_path, ca_template, idp.issuer, collector), env=ENV))
    assert list(failed) == ["IdP corp: clock"]
    detail = failed["IdP corp: clock"].detail
    seconds = int(detail.split(" s ahead of the IdP")[0].rsplit(" ", 1)[1])
    assert 299 <= seconds <= 301  # the Date header has whole seconds
    assert "NTP" in (failed["IdP corp: clock"].fix or "")


def test_port_taken_by_another_program(
    tmp_path: Path, ca_template: Path, idp: FakeIdp, collector: int
) -> None:
    path = make_setup(tmp_path, ca_template, idp.issuer, collector)
    port = yaml.safe_load(path.read_text())["proxy"]["listen"]["port"]
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen(1)
        failed = failures(run_checks(path, env=ENV))
    assert list(failed) == ["proxy port"]
    assert "proxy.listen.port" in (failed["proxy port"].fix or "")


def test_state_folder_open_to_others(
    tmp_path: Path, ca_template: Path, idp: FakeIdp, collector: int
) -> None:
    path = make_setup(tmp_path, ca_template, idp.issuer, collector)
    os.chmod(tmp_path / "state", 0o755)
    failed = failures(run_checks(path, env=ENV))
    assert list(failed) == ["state folder"]
    assert "chmod 700" in (failed["state folder"].fix or "")


def test_ca_expiring_soon_warns_and_expired_fails(
    tmp_path: Path, ca_template: Path, idp: FakeIdp
) -> None:
    path = make_setup(tmp_path, ca_template, idp.issuer, 9, identity={"mode": "off"}, audit={})
    now = datetime.datetime.now(datetime.UTC)
    soon = by_name(run_checks(path, env={}, clock=lambda: now + datetime.timedelta(days=3640)))
    assert soon["CA expiry"].status == "warn"
    assert "rotate" in (soon["CA expiry"].fix or "")
    late = by_name(run_checks(path, env={}, clock=lambda: now + datetime.timedelta(days=4000)))
    assert late["CA expiry"].status == "fail"


def test_unconstrained_ca_warns(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    init_ca(state / "ca")
    path = tmp_path / "warden.yaml"
    path.write_text(yaml.safe_dump({"state_dir": str(state), "identity": {"mode": "off"}}))
    named = by_name(run_checks(path, env={}))
    assert named["CA name constraints"].status == "warn"
    assert "name_constraints" in (named["CA name constraints"].fix or "")


def test_udp_collector_gets_a_test_message(tmp_path: Path, ca_template: Path, idp: FakeIdp) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        udp.settimeout(5)
        port = udp.getsockname()[1]
        path = make_setup(
            tmp_path,
            ca_template,
            idp.issuer,
            port,
            audit={"syslog": {"transport": "udp", "host": "127.0.0.1", "port": port}},
        )
        named = by_name(run_checks(path, env=ENV))
        message = udp.recv(4096)
    assert named["syslog"].status == "warn"
    assert "cannot be checked" in named["syslog"].detail
    assert message.startswith(b"<110>1 ")  # log_audit (13) * 8 + info (6)
    assert b" egress-warden - doctor [warden@32473 " in message


def test_a_broken_policy_fails_the_config_check_and_the_rest_still_runs(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text("tenants:\n  acme:\n    rules: [{action: zap}]\n")
    path = tmp_path / "warden.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "state_dir": str(tmp_path / "state"),
                "identity": {
                    "identity_providers": [
                        {
                            "id": "corp",
                            "issuer": "https://idp.example.com",
                            "client_id": "w",
                            "client_secret_env": "S",
                            "tenant": "acme",
                        }
                    ],
                    "tenants": [
                        {"id": "acme", "display_name": "A", "identity_providers": ["corp"]}
                    ],
                },
                "policy": {"file": "policy.yaml"},
            }
        )
    )
    results = run_checks(path, env={}, timeout=0.5)
    failed = failures(results)
    assert "tenants.acme.rules[0].action" in failed["config"].detail
    assert "CA" in by_name(results)  # the checks that need only the config still ran
