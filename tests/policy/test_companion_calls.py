"""``companion_calls``: a web app's companion calls allowed or blocked per service, tenant
and department, without opening unparsed traffic; model rules apply to all three apps
with the names ``providers/webmodels.py`` resolves (acme's list of the example policy)."""

from __future__ import annotations

from typing import Any

import pytest

from warden.policy.engine import CompiledPolicy, compile_policy, decide
from warden.policy.facts import PrincipalFacts, RequestFacts
from warden.policy.loader import PolicyError, load_policy
from warden.providers.catalog import Catalog
from warden.providers.parse import parse_request

from .conftest import who

APPS = {
    "chatgpt-web": ("openai", "chatgpt.com"),
    "claude-web": ("anthropic", "claude.ai"),
    "gemini-web": ("google", "gemini.google.com"),
}
COMPANION_API = {
    "chatgpt-web": "chatgpt.preflight",
    "claude-web": "claude.conversations",
    "gemini-web": "gemini_web.batchexecute",
}
CONVERSATION_API = {
    "chatgpt-web": "chatgpt.conversation",
    "claude-web": "claude.completion",
    "gemini-web": "gemini_web.stream_generate",
}

POLICY: dict[str, Any] = {
    "defaults": {"default_action": "allow", "companion_calls": {"gemini-web": "block"}},
    "tenants": {
        "acme": {
            "companion_calls": {"claude-web": "block"},
            "departments": {"eng": {"companion_calls": {"claude-web": "allow"}}},
        },
        "open": {},
    },
}


def webapp(
    service: str, api: str | None, model: str | None = None, parsed: bool = True
) -> RequestFacts:
    provider, host = APPS[service]
    return RequestFacts(provider, service, host, "webapp", api, model, parsed, 300, 2, frozenset())


def decided(tenant: str, dept: str | None, request: RequestFacts, doc: Any = None) -> Any:
    policy = compile_policy(load_policy(doc or POLICY))
    return decide(policy, PrincipalFacts(tenant, "bob", dept), request)


@pytest.mark.parametrize(
    ("tenant", "dept", "service", "rule_id"),
    [
        ("open", None, "chatgpt-web", "tenant:open/default"),  # built-in default: allow
        ("open", None, "gemini-web", "tenant:open/companion_calls/gemini-web"),  # defaults'
        ("acme", None, "claude-web", "tenant:acme/companion_calls/claude-web"),  # tenant's
        ("acme", "eng", "claude-web", "tenant:acme/default"),  # the department's over it
        ("acme", "ops", "claude-web", "tenant:acme/companion_calls/claude-web"),
    ],
)
def test_companion_calls_by_service_and_layer(
    tenant: str, dept: str | None, service: str, rule_id: str
) -> None:
    d = decided(tenant, dept, webapp(service, COMPANION_API[service]))
    assert d.rule_id == rule_id
    if "/companion_calls/" in rule_id:
        assert d.action == "block" and service in d.reason


@pytest.mark.parametrize("service", sorted(APPS))
def test_blocking_companion_calls_does_not_touch_the_conversation(service: str) -> None:
    doc = {"tenants": {"t": {"default_action": "allow", "companion_calls": {service: "block"}}}}
    assert decided("t", None, webapp(service, CONVERSATION_API[service]), doc).action == "allow"
    assert decided("t", None, webapp(service, COMPANION_API[service]), doc).action == "block"


@pytest.mark.parametrize("service", sorted(APPS))
def test_allowing_companion_calls_does_not_open_unparsed_bodies(service: str) -> None:
    # an unreadable companion body and an unknown call with a body stay refused
    for api in (COMPANION_API[service], None):
        d = decided("open", None, webapp(service, api, parsed=False))
        assert d.rule_id == "tenant:open/unparsed"


@pytest.mark.parametrize(
    "setting", [{"chatgpt": "allow"}, {"chatgpt-web": "maybe"}, {"openai": "block"}, ["x"]]
)
def test_bad_settings_are_refused_with_their_path(setting: object) -> None:
    with pytest.raises(PolicyError) as exc:
        load_policy({"tenants": {"acme": {"companion_calls": setting}}})
    assert "companion_calls" in str(exc.value)


CATALOG = Catalog.default()


def parsed_model(service: str, body: bytes, headers: dict[str, str]) -> str | None:
    path = {
        "chatgpt-web": "/backend-api/f/conversation",
        "claude-web": "/api/organizations/o/chat_conversations/c/completion",
        "gemini-web": "/_/BardChatUi/data/assistant.lamda.BardFrontendService/StreamGenerate",
    }[service]
    return parse_request(CATALOG.service(service), "POST", path, headers, body).model


def _chatgpt(model: str) -> bytes:
    return (
        b'{"action":"next","model":"' + model.encode() + b'","messages":[{"author":{"role":'
        b'"user"},"content":{"content_type":"text","parts":["hi"]}}]}'
    )


def _gemini_header(model_id: str) -> dict[str, str]:
    return {"x-goog-ext-525001261-jspb": f'[1,null,null,null,"{model_id}",null,null,0,[4]]'}


GEMINI_BODY = b"f.req=%5Bnull%2C%22%5B%5B%5C%22hi%5C%22%5D%5D%22%5D&at=x"


@pytest.mark.parametrize(
    ("service", "body", "headers", "action", "rule_id"),
    [
        # ChatGPT's default "auto" is gpt-5, on acme's list: the rules decide (coaching)
        ("chatgpt-web", _chatgpt("auto"), {}, "coach", "acme-webapps-coach"),
        ("chatgpt-web", _chatgpt("gpt-4o"), {}, "coach", "acme-webapps-coach"),
        ("chatgpt-web", _chatgpt("gpt-3.5-turbo"), {}, "block", "tenant:acme/models"),
        (
            "claude-web",
            b'{"prompt":"hi","model":"claude-opus-4-1"}',
            {},
            "coach",
            "acme-webapps-coach",
        ),
        (
            "gemini-web",
            GEMINI_BODY,
            _gemini_header("9d8ca3786ebdfbea"),
            "coach",
            "acme-webapps-coach",
        ),
        (
            "gemini-web",
            GEMINI_BODY,
            _gemini_header("f299729663a2343f"),
            "block",
            "tenant:acme/models",
        ),  # gemini-2.0-flash is not on acme's list
        # an id the catalog does not know is explicit, and acme's list refuses it
        (
            "gemini-web",
            GEMINI_BODY,
            _gemini_header("0123456789abcdef"),
            "block",
            "tenant:acme/models",
        ),
    ],
)
def test_acme_model_list_applies_to_all_three_apps(
    example: CompiledPolicy,
    service: str,
    body: bytes,
    headers: dict[str, str],
    action: str,
    rule_id: str,
) -> None:
    model = parsed_model(service, body, headers)
    provider, host = APPS[service]
    request = RequestFacts(
        provider,
        service,
        host,
        "webapp",
        CONVERSATION_API[service],
        model,
        True,
        300,
        1,
        frozenset(),
    )
    d = decide(example, who(department="eng"), request)
    assert (d.action, d.rule_id) == (action, rule_id)


def test_example_policy_allows_companion_calls(example: CompiledPolicy) -> None:
    for service in APPS:
        d = decide(example, who(department="eng"), webapp(service, COMPANION_API[service]))
        assert "/companion_calls/" not in d.rule_id  # on to the rules (acme coaches web apps)
        d = decide(example, who(department="eng"), webapp(service, None, parsed=False))
        assert d.rule_id == "tenant:acme/unparsed"
