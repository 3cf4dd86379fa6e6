"""The control plane over HTTPS: a certificate from the warden CA, or a clear refusal."""

from __future__ import annotations

import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from tests.peers import WardenProcess


def _with(w: WardenProcess, extra: dict) -> None:
    cfg = yaml.safe_load(w.config_path.read_text())
    for key, value in extra.items():
        cfg.setdefault(key, {}).update(value)
    w.config_path.write_text(yaml.safe_dump(cfg))


def test_portal_served_over_https_with_a_ca_issued_certificate(tmp_path: Path) -> None:
    w = WardenProcess(tmp_path, {})
    _with(w, {"control": {"tls": {"issue_from_ca": True}}, "ca": {"name_constraints": False}})
    w.start()
    try:
        ctx = ssl.create_default_context(cafile=str(w.ca_cert))
        with urllib.request.urlopen(
            f"https://127.0.0.1:{w.control_port}/healthz", context=ctx, timeout=5
        ) as r:
            assert r.status == 200
            # HSTS on every answer over TLS (issue 19, 9), errors included.
            assert r.headers["Strict-Transport-Security"] == "max-age=31536000"
        try:
            urllib.request.urlopen(
                f"https://127.0.0.1:{w.control_port}/no-such-page", context=ctx, timeout=5
            )
        except urllib.error.HTTPError as err:
            assert err.code == 404
            assert err.headers["Strict-Transport-Security"] == "max-age=31536000"
        key = tmp_path / "state" / "portal" / "portal-key.pem"
        assert key.stat().st_mode & 0o777 == 0o600
    finally:
        w.stop()


def test_constrained_ca_cannot_serve_an_ip_portal_and_says_why(tmp_path: Path) -> None:
    w = WardenProcess(tmp_path, {})
    _with(w, {"control": {"tls": {"issue_from_ca": True}}})
    out = subprocess.run(w.argv, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "name constraints do not cover the portal name '127.0.0.1'" in out.stderr
    assert "control.tls.cert_file/key_file" in out.stderr


async def test_no_hsts_over_plain_http(tmp_path: Path) -> None:
    """HSTS over http is meaningless and browsers ignore it; the header is for TLS only."""
    from aiohttp.test_utils import TestClient, TestServer

    from warden.gateway.control import build_app
    from warden.gateway.metrics import GatewayMetrics

    ca = tmp_path / "ca.pem"
    ca.write_text("not served here")
    app = build_app(GatewayMetrics(), ca, {})
    async with TestClient(TestServer(app)) as client:
        r = await client.get("/healthz")
        assert r.status == 200 and "Strict-Transport-Security" not in r.headers
