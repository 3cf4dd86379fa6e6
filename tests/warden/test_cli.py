"""The ``warden`` command as an operator meets it: errors, CA commands, clean shutdown."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509

from tests.peers import WARDEN, WardenProcess, port_open


def warden(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(WARDEN), *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_run_with_a_broken_config_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    cfg = tmp_path / "w.yaml"
    cfg.write_text(
        "proxy:\n  listen: {port: 0}\nca:\n  validity_days: -1\nunsafe_testing:\n  route_catalog_hosts_to: http://10.1.2.3:80\n"
    )
    out = warden("--config", str(cfg), "run")
    assert out.returncode == 2
    assert "3 problem(s)" in out.stderr
    assert "proxy.listen.port: 0 is not allowed" in out.stderr
    assert "ca.validity_days: -1 is not allowed" in out.stderr
    assert "unsafe_testing.route_catalog_hosts_to" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "state").exists()  # nothing was created


def test_unknown_catalog_service_in_extra_hosts_is_reported(tmp_path: Path) -> None:
    cfg = tmp_path / "w.yaml"
    cfg.write_text("catalog:\n  extra_hosts:\n    azure-opnai: [x.openai.azure.com]\n")
    out = warden("--config", str(cfg), "config", "check")
    assert out.returncode == 2
    assert "catalog.extra_hosts.azure-opnai: unknown service" in out.stderr
    assert "azure-openai" in out.stderr  # the known ids are listed


def test_ca_init_export_rotate(tmp_path: Path) -> None:
    cfg = tmp_path / "w.yaml"
    cfg.write_text("state_dir: st\n")
    out = warden("--config", str(cfg), "ca", "init")
    assert out.returncode == 0, out.stderr
    assert "name-constrained: yes" in out.stdout
    key = tmp_path / "st" / "ca" / "mitmproxy-ca.pem"
    assert key.stat().st_mode & 0o777 == 0o600

    again = warden("--config", str(cfg), "ca", "init")
    assert again.returncode == 2 and "--force" in again.stderr

    der = subprocess.run(
        [str(WARDEN), "--config", str(cfg), "ca", "export", "--format", "der"],
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout
    cert = x509.load_der_x509_certificate(der)
    constraints = cert.extensions.get_extension_for_class(x509.NameConstraints)
    permitted = {n.value for n in constraints.value.permitted_subtrees or []}
    assert {"api.openai.com", "chatgpt.com", "api.anthropic.com"} <= permitted
    assert "openai.com" not in permitted and "google.com" not in permitted

    rotated = warden("--config", str(cfg), "ca", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    der2 = subprocess.run(
        [str(WARDEN), "--config", str(cfg), "ca", "export", "--format", "der"],
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout
    assert der2 != der
    assert list((tmp_path / "st" / "ca" / "archive").iterdir())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_clean_shutdown_on_signal(tmp_path: Path, sig: signal.Signals) -> None:
    proc = WardenProcess(tmp_path, {})
    proc.start()
    assert proc.proc is not None
    with urllib.request.urlopen(f"{proc.control_url}/healthz", timeout=5) as r:
        assert r.status == 200
    proc.proc.send_signal(sig)
    assert proc.proc.wait(15) == 0, proc.log()
    assert not port_open(proc.proxy_port) and not port_open(proc.control_port)
    assert "stopped" in proc.log()
    assert "Traceback" not in proc.log()


@pytest.mark.parametrize(
    ("which", "message"),
    [("control", "cannot listen on"), ("proxy", "failed to listen on")],
)
def test_port_in_use_is_a_clear_error(tmp_path: Path, which: str, message: str) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = WardenProcess(tmp_path, {})
        taken = proc.control_port if which == "control" else proc.proxy_port
        proc.config_path.write_text(proc.config_path.read_text().replace(str(taken), str(port)))
        out = subprocess.run(proc.argv, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert f"{message} 127.0.0.1:{port}" in out.stderr
    assert f"{which}.listen.port" in out.stderr  # names the config key to change


def test_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "warden.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith("warden ")
