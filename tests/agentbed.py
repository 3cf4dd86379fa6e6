"""The agent CLIs of the test bed (npm devDependencies), run as an employee runs them.

Each CLI gets only what docs/clients/ tells employees to set: the proxy with their device
credential, the interception CA, a dummy API key, and the settings that keep it
non-interactive and quiet (no login prompt, no update check, no telemetry). HOME (and
CODEX_HOME) is a fresh folder per run, so nothing of the machine's own set-up leaks in.

- Claude Code (native binary; honours HTTPS_PROXY and NODE_EXTRA_CA_CERTS):
  ``ANTHROPIC_API_KEY``, ``CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`` (no telemetry,
  error reporting or update checks), ``DISABLE_AUTOUPDATER=1``; ``claude -p PROMPT``.
- Codex CLI (Rust, reqwest: honours HTTPS_PROXY, trusts SSL_CERT_FILE):
  ``OPENAI_API_KEY``, ``CODEX_HOME`` holding a config.toml with a provider that turns
  the Responses WebSocket transport off (``supports_websockets = false``), and update
  checks, analytics, plugins and apps off (else it also calls github.com, api.github.com
  and chatgpt.com); ``codex exec --skip-git-repo-check PROMPT`` with stdin closed.
- Gemini CLI (Node; honours HTTPS_PROXY itself, NODE_EXTRA_CA_CERTS):
  ``GEMINI_API_KEY``, ``GEMINI_CLI_TRUST_WORKSPACE=true``, ~/.gemini/settings.json with
  usage statistics and auto-update off; ``gemini -m MODEL -p PROMPT`` (a named model skips
  the CLI's model router, which would first ask a small model to classify the prompt).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.peers import NODE_BIN

#: The settings of docs/clients/codex.md: the OpenAI provider over HTTP (no WebSocket).
CODEX_CONFIG = """\
model_provider = "openai-http"
check_for_update_on_startup = false

[model_providers.openai-http]
name = "OpenAI over HTTPS"
base_url = "https://api.openai.com/v1"
env_key = "OPENAI_API_KEY"
wire_api = "responses"
supports_websockets = false

[analytics]
enabled = false

[features]
plugins = false
apps = false
"""

#: Codex on its default transport: the built-in OpenAI provider, which opens the Responses
#: API as a WebSocket (``GET /v1/responses`` upgraded) through HTTPS_PROXY; the gateway
#: inspects each message. Update checks, analytics, plugins and apps still off.
CODEX_CONFIG_WEBSOCKET = """\
check_for_update_on_startup = false

[analytics]
enabled = false

[features]
plugins = false
apps = false
"""

#: The settings of docs/clients/gemini-cli.md.
GEMINI_SETTINGS = {
    "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
    "privacy": {"usageStatisticsEnabled": False},
}

GEMINI_MODEL = "gemini-2.5-flash"

#: A generous bound for one non-interactive run (each takes 1-5 s on an idle machine); it
#: only stops a hung CLI from hanging the suite.
RUN_TIMEOUT_S = 180


@dataclass(frozen=True)
class AgentRun:
    returncode: int
    output: str  # stdout and stderr together, as the user sees them


@dataclass(frozen=True)
class Employee:
    """What an employee's shell holds after `warden login`: proxy URL and CA file."""

    proxy: str
    ca_file: Path


def _base_env(home: Path, employee: Employee) -> dict[str, str]:
    # Only PATH survives from the test's own environment: no proxy, key or CA of ours.
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "HTTPS_PROXY": employee.proxy,
        "LANG": "C.UTF-8",
        "TERM": "dumb",
    }


def claude_env(home: Path, employee: Employee, *, quiet: bool = True) -> dict[str, str]:
    env = _base_env(home, employee)
    env.update(
        NODE_EXTRA_CA_CERTS=str(employee.ca_file),
        ANTHROPIC_API_KEY="sk-ant-dummy-for-the-gateway-test",
        DISABLE_AUTOUPDATER="1",
    )
    if quiet:
        env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] = "1"
    return env


def codex_env(home: Path, employee: Employee, *, websocket: bool = False) -> dict[str, str]:
    codex_home = home / ".codex"
    codex_home.mkdir(parents=True, exist_ok=True)
    (codex_home / "config.toml").write_text(CODEX_CONFIG_WEBSOCKET if websocket else CODEX_CONFIG)
    env = _base_env(home, employee)
    env.update(
        CODEX_HOME=str(codex_home),
        SSL_CERT_FILE=str(employee.ca_file),
        OPENAI_API_KEY="sk-dummy-for-the-gateway-test",
    )
    return env


def gemini_env(home: Path, employee: Employee) -> dict[str, str]:
    settings = home / ".gemini" / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps(GEMINI_SETTINGS))
    env = _base_env(home, employee)
    env.update(
        NODE_EXTRA_CA_CERTS=str(employee.ca_file),
        GEMINI_API_KEY="dummy-gemini-key-for-the-gateway-test",
        GEMINI_CLI_TRUST_WORKSPACE="true",
    )
    return env


def argv(cli: str, prompt: str, model: str | None = None) -> list[str]:
    """The non-interactive command line; ``model`` picks another model than the default."""
    if cli == "claude":
        return [str(NODE_BIN / "claude"), *(["--model", model] if model else []), "-p", prompt]
    if cli == "codex":
        chosen = ["-m", model] if model else []
        return [str(NODE_BIN / "codex"), "exec", "--skip-git-repo-check", *chosen, prompt]
    if cli == "gemini":
        return [str(NODE_BIN / "gemini"), "-m", model or GEMINI_MODEL, "-p", prompt]
    raise ValueError(f"unknown agent CLI {cli!r}")


def env_for(cli: str, home: Path, employee: Employee) -> dict[str, str]:
    return {"claude": claude_env, "codex": codex_env, "gemini": gemini_env}[cli](home, employee)


def run_agent(
    cli: str,
    prompt: str,
    home: Path,
    employee: Employee,
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    model: str | None = None,
) -> AgentRun:
    home.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        argv(cli, prompt, model),
        env=env if env is not None else env_for(cli, home, employee),
        cwd=cwd or home,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    return AgentRun(out.returncode, out.stdout)
