"""The README's first command: the demo tour runs from start to end and every step passes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def test_demo_tour_passes_every_step(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "packaging" / "demo" / "tour.py"),
            "--no-wait",
            "--workdir",
            str(tmp_path / "demo"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "0 failed" in out.stdout
    for step in (
        "what reached the model: <EMAIL_ADDRESS_1>",
        "streamed answer: 'Dear Jane Roe",
        "PermissionDeniedError",
        "407, sign in again",
        "OK: every chain verifies",
        "warden doctor: every check passes",
        # the real `warden login`, shown as the employee types it
        "$ warden login --proxy http://127.0.0.1:",
        "Signed in as alice@acme.example (tenant acme, department eng).",
        # the hand-over: the printed commands were run as printed, for a user left active
        "curl through the gateway with dave's settings: the model answered",
    ):
        assert step in out.stdout, step
    # The last lines hand over commands that work: the proxy settings carry a credential
    # (no bare proxy that answers 407) and the CA bundle `warden login` wrote.
    farewell = out.stdout[out.stdout.index("Use the proxy as dave") :]
    env_file = tmp_path / "demo" / "dave.env"
    assert f". {env_file} && curl" in farewell
    assert "warden login --proxy http://127.0.0.1:" in farewell
    exports = env_file.read_text()
    assert "export HTTPS_PROXY=http://device:wdc_" in exports
    assert "ca-bundle.pem" in exports
    # Nothing is left running after the tour.
    left = subprocess.run(["pgrep", "-f", str(tmp_path / "demo")], capture_output=True, text=True)
    assert left.stdout.strip() == ""
