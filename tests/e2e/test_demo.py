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
    ):
        assert step in out.stdout, step
    # Nothing is left running after the tour.
    left = subprocess.run(["pgrep", "-f", str(tmp_path / "demo")], capture_output=True, text=True)
    assert left.stdout.strip() == ""
