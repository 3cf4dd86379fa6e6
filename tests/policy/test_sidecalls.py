"""``side_calls``: token counting, telemetry, model listing and client bootstrap allowed
or blocked per tenant and department, before the rules, without opening unparsed
traffic; an allowed side call still meets the rules (and DLP) like any request."""

from __future__ import annotations

from typing import Any

import pytest

from warden.policy.engine import SIDE_CALL_DEFAULTS, compile_policy, decide
from warden.policy.facts import PrincipalFacts, RequestFacts
from warden.policy.loader import PolicyError, load_policy
from warden.providers.sidecalls import SIDE_CALL_KINDS

POLICY: dict[str, Any] = {
    "dlp_profiles": ["pii"],
    "defaults": {"default_action": "allow", "side_calls": {"model_list": "block"}},
    "tenants": {
        "acme": {
            "side_calls": {"telemetry": "allow", "token_count": "block"},
            "departments": {
                "eng": {"side_calls": {"token_count": "allow", "model_list": "allow"}},
                "ops": {"rules": []},
            },
            "rules": [
                {
                    "id": "redact-api",
                    "match": {"kind": "api"},
                    "action": "redact",
                    "dlp_profile": "pii",
                }
            ],
        },
        "plain": {"default_action": "block"},
        "open": {"default_action": "allow", "allow_unparsed": False},
    },
}

API = {
    "token_count": "anthropic.count_tokens",
    "telemetry": "anthropic.event_logging",
    "model_list": "openai.models",
    "bootstrap": "anthropic.client_bootstrap",
    "companion": "chatgpt.preflight",
}


def decide_for(tenant: str, department: str | None, api: str | None, parsed: bool = True) -> Any:
    policy = compile_policy(load_policy(POLICY))
    request = RequestFacts(
        "anthropic", "anthropic", "api.anthropic.com", "api", api, None, parsed, 100, 1
    )
    return decide(policy, PrincipalFacts(tenant, "alice", department), request)


@pytest.mark.parametrize(
    ("tenant", "department", "kind", "action", "rule_id"),
    [
        # the tenant's own settings over the defaults' over the built-in defaults
        ("acme", None, "telemetry", "redact", "redact-api"),
        ("acme", None, "token_count", "block", "tenant:acme/side_calls/token_count"),
        ("acme", None, "model_list", "block", "tenant:acme/side_calls/model_list"),
        ("acme", None, "bootstrap", "redact", "redact-api"),
        # a department's settings over the tenant's
        ("acme", "eng", "token_count", "redact", "redact-api"),
        ("acme", "eng", "model_list", "redact", "redact-api"),
        ("acme", "eng", "telemetry", "redact", "redact-api"),
        # a department without side_calls inherits the tenant's
        ("acme", "ops", "token_count", "block", "tenant:acme/side_calls/token_count"),
        # built-in defaults: telemetry blocked, the rest on to the rules
        ("open", None, "telemetry", "block", "tenant:open/side_calls/telemetry"),
        ("open", None, "token_count", "allow", "tenant:open/default"),
        ("open", None, "bootstrap", "allow", "tenant:open/default"),
        # allowed side calls meet the rules: a tenant that blocks by default blocks them
        ("plain", None, "token_count", "block", "tenant:plain/default"),
    ],
)
def test_side_call_settings_by_layer(
    tenant: str, department: str | None, kind: str, action: str, rule_id: str
) -> None:
    decision = decide_for(tenant, department, API[kind])
    assert (decision.action, decision.rule_id) == (action, rule_id)
    if "/side_calls/" in rule_id:
        assert kind in decision.reason and "block" in decision.reason


@pytest.mark.parametrize("kind", SIDE_CALL_KINDS)
def test_allowing_side_calls_does_not_open_unparsed_traffic(kind: str) -> None:
    # an unreadable body on a side-call endpoint, and an unknown endpoint with a body,
    # are refused as unparsed whatever side_calls says
    for tenant, dept in (("acme", "eng"), ("open", None)):
        assert decide_for(tenant, dept, API[kind], parsed=False).rule_id.endswith("/unparsed")
        assert decide_for(tenant, dept, None, parsed=False).rule_id.endswith("/unparsed")


def test_inference_is_not_a_side_call() -> None:
    assert decide_for("acme", None, "anthropic.messages").rule_id == "redact-api"


def test_built_in_defaults_are_documented_choices() -> None:
    assert dict(SIDE_CALL_DEFAULTS) == {
        "token_count": "allow",
        "telemetry": "block",
        "model_list": "allow",
        "bootstrap": "allow",
    }


@pytest.mark.parametrize(
    "side_calls",
    [{"telemetri": "block"}, {"telemetry": "redact"}, {"telemetry": True}, ["telemetry"]],
)
def test_bad_settings_are_refused_with_their_path(side_calls: object) -> None:
    doc = {"tenants": {"acme": {"side_calls": side_calls}}}
    with pytest.raises(PolicyError) as exc:
        load_policy(doc)
    assert "side_calls" in str(exc.value)
