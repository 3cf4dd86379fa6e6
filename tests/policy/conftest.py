"""Fixtures for the policy tests: a compact policy covering every layer, and builders."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Until the editable install maps `warden.policy` (pyproject's packages list), load the
# folder under that name so the tests run either way.
if importlib.util.find_spec("warden.policy") is None:  # pragma: no cover
    _spec = importlib.util.spec_from_file_location(
        "warden.policy",
        ROOT / "policy" / "__init__.py",
        submodule_search_locations=[str(ROOT / "policy")],
    )
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["warden.policy"] = _module
    _spec.loader.exec_module(_module)

from warden.policy.engine import CompiledPolicy, compile_policy  # noqa: E402
from warden.policy.facts import PrincipalFacts, RequestFacts  # noqa: E402
from warden.policy.loader import load_policy  # noqa: E402

EXAMPLE = ROOT / "policy" / "example-policy.yaml"

POLICY = """
dlp_profiles: [pii-strict, secrets]
defaults:
  scan_profile: secrets
  quotas:
    per_user: {requests_per_minute: 5}
  rules:
    - id: no-keys
      enforce: true
      match: {entities: [API_KEY, "*_TOKEN"]}
      action: block
      reason: Keys never leave.
    - id: default-webapps-coach
      match: {kind: webapp}
      action: coach
      coach: Think before you paste.
tenants:
  acme:
    models: ["gpt-4o*", "claude-*"]
    roles:
      reviewer:
        groups: [sec-reviewers]
        rules:
          - {id: reviewer-o3, match: {model: "o3*"}, action: allow}
    rules:
      - {id: acme-big, match: {min_bytes: 100000}, action: block, reason: Too big.}
      - {id: acme-many-segments, match: {min_segments: 50}, action: block}
      - {id: acme-api, match: {kind: api}, action: allow}
    departments:
      finance:
        rules:
          - {id: fin-no-4o, match: {model: "GPT-4O"}, action: block, reason: Not for finance.}
          - {id: fin-redact, match: {provider: [openai, anthropic]}, action: redact, dlp_profile: pii-strict, logging: full-redacted-body}
      eng:
        rules:
          - {id: eng-pii-redact, match: {entities: [PERSON]}, action: redact, dlp_profile: pii-strict}
    groups:
      contractors:
        rules:
          - {id: contractors-no-claude, match: {model: "claude-*"}, action: block}
    users:
      alice:
        rules:
          - {id: alice-claude, match: {model: "claude-3*"}, action: allow, logging: redacted}
  open:
    default_action: allow
    allow_unparsed: true
    allow_anonymous: true
  plain: {}
"""


@pytest.fixture(scope="session")
def policy() -> CompiledPolicy:
    return compile_policy(load_policy(POLICY))


@pytest.fixture(scope="session")
def example() -> CompiledPolicy:
    return compile_policy(load_policy(EXAMPLE.read_text()))


def who(tenant: str | None = "acme", subject: str | None = "bob", **kw: object) -> PrincipalFacts:
    return PrincipalFacts(tenant, subject, **kw)  # type: ignore[arg-type]


def api(model: str | None = "gpt-4o", **kw: object) -> RequestFacts:
    base: dict[str, object] = {
        "provider": "openai",
        "service": "openai",
        "host": "api.openai.com",
        "kind": "api",
        "api": "openai.chat_completions",
        "model": model,
        "parsed": True,
        "body_bytes": 800,
        "segments": 2,
        "entity_types": frozenset(),
    }
    base.update(kw)
    return RequestFacts(**base)  # type: ignore[arg-type]


def web(service: str = "chatgpt-web", host: str = "chatgpt.com", **kw: object) -> RequestFacts:
    return api(None, service=service, host=host, kind="webapp", api="openai.web_conversation", **kw)
