"""`warden evidence keygen|add-recipient` and the start-up check of investigators' keys."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from warden.audit.evidence import generate_identity
from warden.cli import main
from warden.config import Config, parse_config
from warden.gateway.wiring.evidence import build_evidence
from warden.policy.engine import compile_policy
from warden.policy.loader import load_policy

WARDEN = Path(sys.executable).parent / "warden"

POLICY = """
tenants:
  acme:
    rules: [{id: keys, match: {kind: api}, action: block, evidence: capture}]
  globex:
    rules: [{id: api, match: {kind: api}, action: allow}]
"""


def _config(tmp_path: Path) -> Config:
    data = {
        "state_dir": str(tmp_path / "state"),
        "identity": {
            "identity_providers": [
                {
                    "id": "idp",
                    "issuer": "https://idp.example",
                    "client_id": "w",
                    "client_secret_env": "S",
                    "tenant_claim": "tenant",
                }
            ],
            "tenants": [
                {"id": "acme", "display_name": "Acme", "identity_providers": ["idp"]},
                {"id": "globex", "display_name": "Globex", "identity_providers": ["idp"]},
            ],
        },
    }
    return parse_config(data, "test.yaml", tmp_path, {"S": "secret"})


def test_keygen_writes_a_0600_key_and_prints_the_public_half(tmp_path: Path) -> None:
    out = subprocess.run(
        [str(WARDEN), "evidence", "keygen", "-o", str(tmp_path / "k.key")],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    public = out.stdout.strip()
    text = (tmp_path / "k.key").read_text()
    assert public.startswith("age1") and public in text and "AGE-SECRET-KEY-1" in text
    assert (tmp_path / "k.key").stat().st_mode & 0o777 == 0o600
    again = subprocess.run(
        [str(WARDEN), "evidence", "keygen", "-o", str(tmp_path / "k.key")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert again.returncode == 2 and "already exists" in again.stderr
    assert (tmp_path / "k.key").read_text() == text  # never overwritten


def test_keygen_refuses_a_git_work_tree(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "keys").mkdir()
    code = main(["evidence", "keygen", "-o", str(tmp_path / "repo" / "keys" / "k.key")])
    assert code == 2 and not (tmp_path / "repo" / "keys" / "k.key").exists()


def test_a_capturing_tenant_without_keys_does_not_start(tmp_path: Path) -> None:
    config = _config(tmp_path)
    policy = compile_policy(load_policy(POLICY))
    with pytest.raises(SystemExit) as exc:
        build_evidence(config, tmp_path / "audit.db", policy)
    message = str(exc.value)
    assert "tenant 'acme'" in message and "add-recipient --tenant acme" in message
    assert "globex" not in message  # it captures nothing
    folder = config.audit_dir / "evidence-recipients"
    folder.mkdir(parents=True)
    (folder / "acme.txt").write_text("# Rita\n" + generate_identity()[1] + "\n")
    assert build_evidence(config, tmp_path / "audit.db", policy) is not None
    (folder / "acme.txt").write_text("not-a-key\n")
    with pytest.raises(SystemExit, match=r"acme\.txt line 1"):
        build_evidence(config, tmp_path / "audit.db", policy)
