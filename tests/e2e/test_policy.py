"""Tenant and department policy end to end: the real SDKs see allow, block, coach and
quota decisions as readable errors; the policy reloads live and refuses a bad version."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
import yaml

from tests.e2e.test_identity import SERVICE_SECRET, Bed, curl, start_bed
from tests.identity.devidp import service_client
from tests.peers import UNSAFE_ENV, WARDEN, Aimock

pytestmark = pytest.mark.e2e

CLIENT = Path(__file__).parent / "clients" / "sdk_client.py"
GREETING = "Hello from the mock upstream. How can I help?"
RESOURCE = "urn:egress-warden:proxy"

POLICY: dict[str, Any] = {
    "dlp_profiles": ["pii-basic"],
    "defaults": {"default_action": "block", "quotas": {"per_user": {"requests_per_minute": 100}}},
    "tenants": {
        "acme": {
            "models": ["gpt-4o*", "claude-*"],
            "rules": [
                {
                    "id": "acme-webapps-coach",
                    "match": {"kind": "webapp"},
                    "action": "coach",
                    "coach": {
                        "message": "Do not paste customer data into public chats.",
                        "period": "P1D",
                    },
                },
                {"id": "acme-api-allow", "match": {"kind": "api"}, "action": "allow"},
            ],
            "departments": {
                "finance": {
                    "rules": [
                        {
                            "id": "finance-no-gpt4o",
                            "match": {"model": "gpt-4o*"},
                            "action": "block",
                            "reason": "Finance uses Claude for customer data (DPA in place).",
                        }
                    ]
                },
                "interns": {"quotas": {"per_user": {"requests_per_minute": 2}}},
                "tokens": {"quotas": {"per_user": {"tokens_per_day": 20}}},
            },
        },
        "globex": {"rules": [{"id": "globex-allow", "match": {"kind": "api"}, "action": "allow"}]},
    },
}


@pytest.fixture(scope="module")
def bed(aimock: Aimock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    tmp = tmp_path_factory.mktemp("policy")
    policy_file = tmp / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(POLICY))
    clients = [
        service_client(f"svc-{dept}", SERVICE_SECRET, {"tenant": "acme", "department": dept})
        for dept in ("eng", "finance", "interns", "interns2", "tokens")
    ]
    b = start_bed(
        tmp,
        aimock,
        surrogate=False,
        extra_config={"policy": {"file": str(policy_file)}},
        extra_clients=clients,
    )
    b.policy_file = policy_file  # type: ignore[attr-defined]
    yield b
    b.warden.stop()
    b.idp.stop()


def token(bed: Bed, dept: str) -> str:
    return bed.idp.client_credentials_token(f"svc-{dept}", SERVICE_SECRET, RESOURCE)


def sdk(
    bed: Bed, provider: str, bearer: str, model: str, prompt: str = "hello warden"
) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env.update(
        HTTPS_PROXY=bed.warden.proxy_url,
        SSL_CERT_FILE=str(bed.warden.ca_cert),
        WARDEN_PROXY_BEARER=bearer,
        OPENAI_API_KEY="sk-test",
        ANTHROPIC_API_KEY="sk-ant-test",
    )
    out = subprocess.run(
        [sys.executable, str(CLIENT), provider, "plain", prompt, model],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return dict(json.loads(out.stdout))


def test_allowed_department_reaches_the_model(bed: Bed) -> None:
    assert sdk(bed, "openai", token(bed, "eng"), "gpt-4o-mini").get("text") == GREETING


def test_blocked_department_gets_a_readable_sdk_error_in_both_sdks(bed: Bed) -> None:
    before = len(bed.aimock.journal())
    result = sdk(bed, "openai", token(bed, "finance"), "gpt-4o-mini")
    assert result["error"] == "PermissionDeniedError" and result["status"] == 403
    assert "Finance uses Claude for customer data" in result["message"]
    assert "finance-no-gpt4o" in result["message"]
    assert "it@acme.example" in result["message"]  # whom to ask
    assert len(bed.aimock.journal()) == before
    # Finance may use Claude: the Anthropic SDK goes through.
    assert sdk(bed, "anthropic", token(bed, "finance"), "claude-sonnet-4-5").get("text") == GREETING


def test_model_not_listed_for_the_tenant_is_denied(bed: Bed) -> None:
    result = sdk(bed, "openai", token(bed, "eng"), "o3-mini")
    assert result["error"] == "PermissionDeniedError"
    assert "tenant:acme/models" in result["message"]


def test_anthropic_sdk_block_is_readable(bed: Bed) -> None:
    result = sdk(bed, "anthropic", token(bed, "eng"), "mistral-large-latest")
    # 400, not 403: Claude Code shows a 403 as "Failed to authenticate" (providers/errors.py)
    assert result["error"] == "BadRequestError" and result["status"] == 400
    assert "tenant:acme/models" in result["message"]


def test_quota_gives_429_with_retry_after(bed: Bed) -> None:
    bearer = token(bed, "interns")
    # Per-minute limits count in fixed UTC minutes: three calls (~1 s each) must fall in
    # one minute, or the third would rightly pass in the next one.
    if time.time() % 60 > 45:
        time.sleep(61 - time.time() % 60)
    results = [sdk(bed, "openai", bearer, "gpt-4o-mini") for _ in range(3)]
    assert [r.get("text") for r in results[:2]] == [GREETING, GREETING]
    over = results[2]
    assert over["error"] == "RateLimitError" and over["status"] == 429
    assert int(over["retry_after"]) >= 1
    assert "requests_per_minute" in over["message"] or "per minute" in over["message"]
    # Another user of the same department is not slowed by this one's limit.
    assert sdk(bed, "openai", token(bed, "interns2"), "gpt-4o-mini").get("text") == GREETING


def test_webapp_coaching_then_acknowledgement(bed: Bed) -> None:
    bearer = token(bed, "eng")
    hdr = ["--proxy-header", f"Proxy-Authorization: Bearer {bearer}"]
    body = json.dumps(
        {
            "action": "next",
            "model": "gpt-4o",
            "messages": [
                {
                    "author": {"role": "user"},
                    "content": {"content_type": "text", "parts": ["hello warden"]},
                }
            ],
        }
    )
    out = curl(
        bed,
        *hdr,
        "https://chatgpt.com/backend-api/conversation",
        "-H",
        "Content-Type: application/json",
        "-d",
        body,
    )
    assert " 403" in out.stdout.splitlines()[0]
    doc = json.loads(out.stdout.split("\n\n", 1)[1])
    message = doc["error"]["message"]
    assert "Do not paste customer data" in message
    url = message[message.index("http") :].split()[0].rstrip(".")
    page = httpx.get(url, timeout=10)
    assert page.status_code == 200 and "I understand" in page.text
    ack = httpx.post(
        url.split("?")[0],
        data={"token": unquote(url.split("token=")[1])},
        timeout=10,
        follow_redirects=False,
    )
    assert ack.status_code == 302
    again = curl(
        bed,
        *hdr,
        "https://chatgpt.com/backend-api/conversation",
        "-H",
        "Content-Type: application/json",
        "-d",
        body,
    )
    assert " 403" not in again.stdout.splitlines()[0]
    # A forged acknowledgement link is refused.
    assert httpx.post(url.split("?")[0], data={"token": "x.y"}, timeout=10).status_code == 400


def test_unparsed_body_on_an_api_host_is_blocked(bed: Bed) -> None:
    out = curl(
        bed,
        "--proxy-header",
        f"Proxy-Authorization: Bearer {token(bed, 'eng')}",
        "https://api.openai.com/v1/chat/completions",
        "-H",
        "Content-Type: application/json",
        "-d",
        "{not json",
    )
    assert " 403" in out.stdout.splitlines()[0]
    assert "tenant:acme/unparsed" in out.stdout


def test_hot_reload_applies_and_a_bad_version_is_refused(bed: Bed) -> None:
    path: Path = bed.policy_file  # type: ignore[attr-defined]
    new = json.loads(json.dumps(POLICY))
    new["tenants"]["acme"]["departments"]["finance"]["rules"][0]["match"] = {"model": "claude-*"}
    path.write_text(yaml.safe_dump(new))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and "policy reloaded" not in bed.warden.log():
        time.sleep(0.3)
    assert sdk(bed, "openai", token(bed, "finance"), "gpt-4o-mini").get("text") == GREETING
    path.write_text("tenants: [this is not a policy")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and "policy reload refused" not in bed.warden.log():
        time.sleep(0.3)
    assert "policy reload refused" in bed.warden.log()
    # The last good policy stays in force.
    assert sdk(bed, "openai", token(bed, "finance"), "gpt-4o-mini").get("text") == GREETING
    path.write_text(yaml.safe_dump(POLICY))


def test_policy_cli_check_and_explain(bed: Bed) -> None:
    env = {**os.environ, **UNSAFE_ENV}
    example = Path(__file__).resolve().parents[2] / "policy" / "example-policy.yaml"
    check = subprocess.run(
        [str(WARDEN), "policy", "check", str(example)],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    explain = bed.warden.cli(
        "policy",
        "explain",
        "--tenant",
        "acme",
        "--user",
        "svc-finance",
        "--department",
        "finance",
        "--model",
        "gpt-4o-mini",
    )
    assert explain.returncode == 0, explain.stderr
    assert "block" in explain.stdout and "finance-no-gpt4o" in explain.stdout


def test_token_quota_counts_the_usage_of_answers(bed: Bed) -> None:
    """20 tokens a day: the first answer (aimock reports 15) passes, the second passes the
    check at 15 and brings the day to 30, the third is refused."""
    bearer = token(bed, "tokens")
    assert sdk(bed, "openai", bearer, "gpt-4o-mini").get("text") == GREETING
    assert sdk(bed, "openai", bearer, "gpt-4o-mini").get("text") == GREETING
    over = sdk(bed, "openai", bearer, "gpt-4o-mini")
    assert over["error"] == "RateLimitError" and over["status"] == 429
    assert "token" in over["message"].lower()
