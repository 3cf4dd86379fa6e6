"""``validate_all``: the config, catalog, policy and DLP profiles checked together, every
problem at once, each naming its file and key, the cause and the fix."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.peers import WARDEN
from warden.config.validation import validate_all

CONFIG = """
identity:
  identity_providers:
    - {id: corp, issuer: "https://idp.example.com", client_id: warden, client_secret_env: S, tenant: acme}
  tenants:
    - {id: acme, display_name: Acme, identity_providers: [corp]}
policy: {file: policy.yaml}
"""

GOOD_POLICY = """
tenants:
  acme:
    rules:
      - {action: allow}
"""

BROKEN_POLICY = """
tenants:
  acme:
    rules:
      - {action: zap}
      - {action: allow, match: {modle: gpt-4o}}
  nobody:
    rules: [{action: allow}]
"""


def write(tmp_path: Path, policy: str, extra: str = "") -> Path:
    (tmp_path / "policy.yaml").write_text(policy)
    cfg = tmp_path / "warden.yaml"
    cfg.write_text(CONFIG + extra)
    return cfg


def warden(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(WARDEN), *args], capture_output=True, text=True, timeout=120)


def test_a_good_set_passes(tmp_path: Path) -> None:
    result = validate_all(write(tmp_path, GOOD_POLICY), env={})
    assert result.problems == ()
    assert result.ok and result.catalog is not None


def test_every_policy_problem_is_named_with_its_file_key_and_fix(tmp_path: Path) -> None:
    result = validate_all(write(tmp_path, BROKEN_POLICY), env={})
    assert not result.ok
    policy_file = str(tmp_path / "policy.yaml")
    keys = sorted(p.key for p in result.problems)
    assert keys == [
        "tenants.acme.rules[0].action",
        "tenants.acme.rules[1].match.modle",
    ]
    assert all(p.file == policy_file and p.fix for p in result.problems)


def test_unknown_tenant_in_the_policy_is_found_once_the_structure_holds(tmp_path: Path) -> None:
    policy = "tenants:\n  acme: {rules: [{action: allow}]}\n  nobody: {rules: [{action: allow}]}\n"
    result = validate_all(write(tmp_path, policy), env={})
    assert [p.key for p in result.problems] == ["tenants.nobody"]


def test_config_catalog_dlp_and_policy_problems_come_together(tmp_path: Path) -> None:
    (tmp_path / "dlp.yaml").write_text("default: {entities: {EMAIL_ADDRESS: shred}}\n")
    extra = (
        "catalog: {extra_hosts: {azure-opnai: [x.openai.azure.com]}}\n"
        "dlp: {profiles_file: dlp.yaml, default_profile: strict}\n"
    )
    result = validate_all(write(tmp_path, BROKEN_POLICY, extra), env={})
    text = "\n".join(map(str, result.problems))
    assert "catalog.extra_hosts.azure-opnai: unknown service" in text
    assert "default.entities.EMAIL_ADDRESS" in text  # the DLP profiles file's own error
    assert "tenants.acme.rules[0].action" in text  # and the policy's, in the same pass
    assert result.catalog is None


def test_a_missing_policy_file_names_the_key_to_change(tmp_path: Path) -> None:
    cfg = write(tmp_path, GOOD_POLICY)
    (tmp_path / "policy.yaml").unlink()
    [problem] = validate_all(cfg, env={}).problems
    assert problem.key == "policy.file" and problem.file == str(cfg)
    assert "cannot read the policy file" in problem.cause


def test_config_check_names_a_broken_policy_and_fails(tmp_path: Path) -> None:
    out = warden("--config", str(write(tmp_path, BROKEN_POLICY)), "config", "check")
    assert out.returncode == 2, out.stdout
    assert "2 problem(s)" in out.stderr
    assert "policy.yaml: tenants.acme.rules[0].action" in out.stderr
    assert "policy.yaml: tenants.acme.rules[1].match.modle" in out.stderr
    assert "fix:" in out.stderr
    assert "Traceback" not in out.stderr


def test_config_check_passes_a_good_set(tmp_path: Path) -> None:
    out = warden("--config", str(write(tmp_path, GOOD_POLICY)), "config", "check")
    assert out.returncode == 0, out.stderr
    assert "valid" in out.stdout


def test_run_refuses_to_start_on_a_broken_policy_and_creates_nothing(tmp_path: Path) -> None:
    out = warden("--config", str(write(tmp_path, BROKEN_POLICY)), "run")
    assert out.returncode == 2
    assert "tenants.acme.rules[0].action" in out.stderr
    assert "tenants.acme.rules[1].match.modle" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "state").exists()  # refused before anything was made
