"""The real agent CLIs (Claude Code, Codex, Gemini CLI) through the gateway to aimock,
configured only as docs/clients/ tells an employee: what they send is redacted before it
reaches the provider (the prompt, and a file the agent read with a tool), the flow is
audited with its model and findings, a block reads as a refusal in the CLI's output, and
Claude Code's side calls are recognized and audited as such.

Select with ``pytest -m agents``. Codex runs on both of its transports: HTTP (the guide's
set-up) and its default Responses WebSocket, which the gateway inspects per message.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.agentbed import Employee, claude_env, codex_env, run_agent
from tests.e2e.test_identity import Bed, device_login, start_bed
from tests.peers import NODE_BIN, Aimock

pytestmark = [pytest.mark.e2e, pytest.mark.agents]

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "aimock_agents" / "agents.json"
NODE_CLIENT = ROOT / "tests" / "e2e" / "clients" / "node_openai.mjs"
EMAIL, FILE_EMAIL = "jane.customer@example.com", "maria.rossi@example.org"
AWS = "AKIAIOSFODNN7EXAMPLE"
CLIS = ("claude", "codex", "gemini")
#: Where each CLI's prompt goes, as the audit record names the API.
APIS = {
    "claude": "anthropic.messages",
    "codex": "openai.responses",
    "gemini": "gemini.stream_generate_content",
}
POLICY = {
    "dlp_profiles": ["pii-basic"],
    "defaults": {"default_action": "block"},
    "tenants": {
        "acme": {
            "rules": [
                {
                    "id": "no-retired-claude",
                    "match": {"model": "claude-3-haiku*"},
                    "action": "block",
                    "reason": "This model is retired here; use the default one.",
                },
                {
                    "id": "acme-redact",
                    "match": {"kind": "api"},
                    "action": "redact",
                    "dlp_profile": "pii-basic",
                    "logging": "redacted",
                },
            ]
        }
    },
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for cli in CLIS:
        if not (NODE_BIN / cli).exists():
            pytest.fail(f"{cli} is not installed: run `npm ci` (the Makefile's test target does)")
    return tmp_path_factory.mktemp("agents")


@pytest.fixture(scope="module")
def notes(workdir: Path) -> Path:
    project = workdir / "project"
    project.mkdir()
    path = project / "notes.txt"
    path.write_text(f"Customer contact: {FILE_EMAIL}, order 4411.\n")
    return path


@pytest.fixture(scope="module")
def agents_aimock(workdir: Path, notes: Path) -> Iterator[Aimock]:
    """An aimock of its own: its tool-call fixtures name the notes file's real path."""
    fixtures = workdir / "aimock-fixtures"
    fixtures.mkdir()
    text = FIXTURES.read_text().replace("{NOTES}", str(notes))
    (fixtures / "agents.json").write_text(text)
    peer = Aimock(fixtures, workdir / "aimock.log")
    peer.start()
    yield peer
    peer.stop()


@pytest.fixture(scope="module")
def bed(agents_aimock: Aimock, workdir: Path) -> Iterator[Bed]:
    policy = workdir / "policy.yaml"
    policy.write_text(yaml.safe_dump(POLICY))
    (workdir / "bed").mkdir()
    b = start_bed(
        workdir / "bed",
        agents_aimock,
        surrogate=False,
        extra_config={
            "policy": {"file": str(policy)},
            "dlp": {
                "profiles_file": str(ROOT / "packaging" / "demo" / "dlp-profiles.yaml"),
                "workers": 1,
            },
        },
    )
    yield b
    b.warden.stop()
    b.idp.stop()


@pytest.fixture(scope="module")
def employee(bed: Bed) -> Employee:
    """alice (department eng) after `warden login`: her device credential in the proxy."""
    login = device_login(bed, "alice", "dev-alice-password")
    proxy = bed.warden.proxy_url.replace("http://", f"http://device:{login['credential']}@")
    return Employee(proxy, bed.warden.ca_cert)


def journal_since(bed: Bed, before: int) -> str:
    return json.dumps(bed.aimock.journal()[before:])


def passthrough_connects(bed: Bed) -> float:
    m = re.search(
        r'warden_connects_total\{decision="passthrough"\} ([0-9.]+)', bed.warden.metrics()
    )
    return float(m.group(1)) if m else 0.0


def alice_flows(bed: Bed) -> list[dict[str, Any]]:
    return [
        r
        for r in bed.warden.audit_records("acme")
        if r["kind"] == "flow" and (r.get("principal") or {}).get("subject") == "alice"
    ]


@pytest.mark.parametrize("cli", CLIS)
def test_prompt_is_redacted_and_audited(
    cli: str, bed: Bed, employee: Employee, workdir: Path
) -> None:
    before, audited = len(bed.aimock.journal()), len(alice_flows(bed))
    passthrough = passthrough_connects(bed)
    run = run_agent(cli, f"agent-probe: write to {EMAIL} about the order", workdir / cli, employee)
    assert run.returncode == 0, run.output
    assert "agent probe reached the mock upstream" in run.output
    upstream = journal_since(bed, before)
    assert "agent-probe" in upstream, "the CLI's request did not reach aimock"
    assert EMAIL not in upstream and "<EMAIL_ADDRESS_1>" in upstream
    flows = [r for r in alice_flows(bed)[audited:] if r["destination"]["api"] == APIS[cli]]
    assert flows, f"no audited {APIS[cli]} flow"
    flow = flows[-1]
    assert flow["destination"]["model"], flow
    assert ("EMAIL_ADDRESS", 1) in {(f["entity_type"], f["count"]) for f in flow["findings"]}
    assert flow["outcome"] == "redacted" and flow["principal"]["auth_method"] == "device"
    # configured as the guide says, the CLI sends nothing through the proxy to other hosts
    assert passthrough_connects(bed) == passthrough


def test_codex_over_its_websocket_transport_is_redacted_and_audited(
    bed: Bed, employee: Employee, workdir: Path
) -> None:
    """Codex's default transport: the Responses API over a WebSocket. The prompt is
    redacted in the socket message that reaches aimock and the turn is audited, exactly as
    over HTTP (before issue 21.1 the socket was a bypass: the prompt went out verbatim)."""
    home = workdir / "codex-ws"
    home.mkdir()
    before, audited = len(bed.aimock.journal()), len(alice_flows(bed))
    run = run_agent(
        "codex",
        f"agent-probe: write to {EMAIL} about the order",
        home,
        employee,
        env=codex_env(home, employee, websocket=True),
    )
    assert run.returncode == 0, run.output
    assert "agent probe reached the mock upstream" in run.output
    upstream = journal_since(bed, before)
    assert "agent-probe" in upstream, "the CLI's request did not reach aimock"
    assert EMAIL not in upstream and "<EMAIL_ADDRESS_1>" in upstream
    flows = alice_flows(bed)[audited:]
    turns = [r for r in flows if (r.get("details") or {}).get("transport") == "websocket"]
    assert any(
        ("EMAIL_ADDRESS", 1) in {(f["entity_type"], f["count"]) for f in r["findings"]}
        for r in turns
    ), turns
    assert any((r.get("details") or {}).get("turn") for r in turns), turns


#: Each CLI's own file-reading tool: Claude Code's Read, Gemini CLI's read_file, and for
#: Codex a shell command (exec_command: `cat notes.txt`) run in its read-only sandbox.
@pytest.mark.parametrize(
    ("cli", "prompt"),
    [
        ("claude", "agent-read-notes"),
        ("gemini", "agent-gemini-read"),
        ("codex", "agent-codex-read"),
    ],
)
def test_file_read_with_a_tool_is_redacted(
    cli: str, prompt: str, bed: Bed, employee: Employee, workdir: Path, notes: Path
) -> None:
    before = len(bed.aimock.journal())
    run = run_agent(
        cli,
        f"{prompt}: read notes.txt and sum it up",
        workdir / f"{cli}-tool",
        employee,
        cwd=notes.parent,
    )
    assert run.returncode == 0, run.output
    assert "Summary: the notes name one customer contact." in run.output
    upstream = journal_since(bed, before)
    assert "order 4411" in upstream, "the tool's result did not reach aimock"
    assert FILE_EMAIL not in upstream and "<EMAIL_ADDRESS_1>" in upstream


@pytest.mark.parametrize("cli", CLIS)
def test_dlp_block_reads_as_a_refusal(
    cli: str, bed: Bed, employee: Employee, workdir: Path
) -> None:
    before = len(bed.aimock.journal())
    run = run_agent(cli, f"agent-probe: deploy with key {AWS}", workdir / f"{cli}-block", employee)
    assert "Egress Warden stopped this request" in run.output, run.output
    assert "AWS_ACCESS_KEY_ID" in run.output
    # Claude Code words every 403 as an authentication failure; refusals are 400s for it
    assert "Failed to authenticate" not in run.output
    assert AWS not in journal_since(bed, before)


def test_claude_policy_block_names_the_rule(bed: Bed, employee: Employee, workdir: Path) -> None:
    before = len(bed.aimock.journal())
    run = run_agent(
        "claude", "agent-probe", workdir / "claude-model", employee, model="claude-3-haiku-20240307"
    )
    assert run.returncode != 0
    assert "no-retired-claude" in run.output and "This model is retired here" in run.output
    assert "Failed to authenticate" not in run.output
    assert "agent-probe" not in journal_since(bed, before)


def test_claude_side_calls_are_recognized_and_audited(
    bed: Bed, employee: Employee, workdir: Path
) -> None:
    """Without CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC Claude Code fetches its start-up
    settings and sends telemetry: the first are audited as ``bootstrap`` side calls and
    allowed, the telemetry is audited as such and refused by the default ``side_calls``
    setting, and the agent still answers."""
    audited = len(alice_flows(bed))
    home = workdir / "claude-chatty"
    home.mkdir()
    env = claude_env(home, employee, quiet=False)
    run = run_agent("claude", "agent-probe", home, employee, env=env)
    assert run.returncode == 0 and "agent probe reached" in run.output, run.output
    flows = alice_flows(bed)[audited:]
    kinds = {(r["details"].get("side_call"), r["decision"]["rule_id"]) for r in flows}
    assert ("telemetry", "tenant:acme/side_calls/telemetry") in kinds, kinds
    bootstrap = [r for r in flows if r["details"].get("side_call") == "bootstrap"]
    assert bootstrap and all(
        r["destination"]["api"] in ("anthropic.client_bootstrap", "anthropic.feature_flags")
        for r in bootstrap
    )
    unparsed = [r["destination"] for r in flows if r["decision"]["rule_id"].endswith("/unparsed")]
    assert not unparsed, unparsed


def curl_through(employee: Employee, method: str, url: str, body: str | None) -> str:
    """curl as docs/clients/curl.md sets it up; returns status line and body."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HTTPS_PROXY": employee.proxy}
    env["CURL_CA_BUNDLE"] = str(employee.ca_file)
    args = ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "-X", method, url]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "--data-binary", body]
    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


COUNT_BODY = json.dumps(
    {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": f"mail {EMAIL}"}]}
)
GEMINI_COUNT = json.dumps({"contents": [{"parts": [{"text": f"mail {EMAIL}"}]}]})


#: Side calls as they arrive from any client: (method, url, body, kind, rule the
#: decision names, whether the prompt's e-mail address was found and redacted).
@pytest.mark.parametrize(
    ("method", "url", "body", "kind", "rule", "redacted"),
    [
        (
            "POST",
            "https://api.anthropic.com/v1/messages/count_tokens",
            COUNT_BODY,
            "token_count",
            "acme-redact",
            True,
        ),
        (
            "POST",
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:countTokens",
            GEMINI_COUNT,
            "token_count",
            "acme-redact",
            True,
        ),
        (
            "POST",
            "https://api.anthropic.com/api/event_logging/batch",
            json.dumps({"events": [{"event_data": {"note": EMAIL}}]}),
            "telemetry",
            "tenant:acme/side_calls/telemetry",
            False,
        ),
        ("GET", "https://api.openai.com/v1/models", None, "model_list", "acme-redact", False),
    ],
)
def test_side_calls_end_to_end(
    method: str,
    url: str,
    body: str | None,
    kind: str,
    rule: str,
    redacted: bool,
    bed: Bed,
    employee: Employee,
) -> None:
    audited = len(alice_flows(bed))
    answer = curl_through(employee, method, url, body)
    flow = [r for r in alice_flows(bed)[audited:] if r["details"].get("side_call") == kind][-1]
    assert flow["decision"]["rule_id"] == rule, flow
    if redacted:
        assert flow["outcome"] == "redacted"
        assert ("EMAIL_ADDRESS", 1) in {(f["entity_type"], f["count"]) for f in flow["findings"]}
    if rule.endswith("/side_calls/telemetry"):
        assert answer.endswith("\n400") and "side_calls" in answer and "telemetry" in answer
        assert flow["outcome"] == "blocked"


def node_openai(employee: Employee, home: Path, *, dispatcher: str) -> dict[str, Any]:
    """tests/e2e/clients/node_openai.mjs on this machine's Node (20 in CI), set up as
    docs/clients/node.md says: HTTPS_PROXY, NODE_EXTRA_CA_CERTS, the API key and, for
    Node 20, undici's EnvHttpProxyAgent as the global dispatcher."""
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "HTTPS_PROXY": employee.proxy,
        "NODE_EXTRA_CA_CERTS": str(employee.ca_file),
        "OPENAI_API_KEY": "sk-dummy-for-the-gateway-test",
        "WARDEN_TEST_DISPATCHER": dispatcher,
    }
    out = subprocess.run(
        ["node", str(NODE_CLIENT), f"agent-probe: write to {EMAIL}"],
        env=env,
        cwd=ROOT,  # node_modules of the test bed
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def intercepted_connects(bed: Bed) -> float:
    m = re.search(r'warden_connects_total\{decision="intercept"\} ([0-9.]+)', bed.warden.metrics())
    return float(m.group(1)) if m else 0.0


@pytest.mark.parametrize("dispatcher", ["global", "client"])
def test_node_openai_sdk_with_the_dispatcher_is_intercepted(
    dispatcher: str, bed: Bed, employee: Employee, workdir: Path
) -> None:
    before, audited = len(bed.aimock.journal()), len(alice_flows(bed))
    result = node_openai(employee, workdir / f"node-{dispatcher}", dispatcher=dispatcher)
    assert result.get("text") == "Noted: the agent probe reached the mock upstream.", result
    upstream = journal_since(bed, before)
    assert EMAIL not in upstream and "<EMAIL_ADDRESS_1>" in upstream
    flow = [r for r in alice_flows(bed)[audited:] if r["destination"]["api"]][-1]
    assert flow["destination"]["api"] == "openai.chat_completions"
    assert flow["destination"]["model"] == "gpt-4o-mini" and flow["findings"]


def test_node_fetch_without_the_dispatcher_goes_direct(
    bed: Bed, employee: Employee, workdir: Path
) -> None:
    """Why the guide's two lines are needed: Node 20's fetch ignores HTTPS_PROXY, so the
    SDK connects to api.openai.com itself (which this offline test bed cannot resolve)
    and the gateway never sees the request."""
    before, connects = len(bed.aimock.journal()), intercepted_connects(bed)
    result = node_openai(employee, workdir / "node-without", dispatcher="none")
    # offline (CI): the name does not resolve; with internet: the real API refuses the key
    assert result.get("error") in ("APIConnectionError", "AuthenticationError"), result
    assert len(bed.aimock.journal()) == before
    assert intercepted_connects(bed) == connects


def test_the_clis_are_the_pinned_ones() -> None:
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]
    for name in ("@anthropic-ai/claude-code", "@openai/codex", "@google/gemini-cli"):
        assert re.fullmatch(r"\d+\.\d+\.\d+", pinned[name]), f"{name} must be pinned exactly"
    assert shutil.which("node")
