"""Client software from User-Agents: the families of the table, versions, and hostile input."""

from __future__ import annotations

import time

import pytest

from warden.providers.clients import CLIENT_FAMILIES, MAX_USER_AGENT, client_family

CASES = [
    ("OpenAI/Python 1.54.3", "openai-python/1.54.3"),
    ("OpenAI/JS 4.77.0", "openai-node/4.77.0"),
    ("Anthropic/Python 0.40.0", "anthropic-python/0.40.0"),
    ("Anthropic/JS 0.32.1", "anthropic-node/0.32.1"),
    # Claude Code sends the Anthropic SDK's header too; the agent wins
    ("claude-cli/2.0.14 (external, cli)", "claude-code/2.0.14"),
    ("codex_cli_rs/0.46.0 (Ubuntu 24.4.0; x86_64) xterm-256color", "codex/0.46.0"),
    ("GeminiCLI/0.34.0/gemini-2.5-pro (linux; x64)", "gemini-cli/0.34.0"),
    ("google-genai-sdk/1.2.0 gl-python/3.13.0", "google-genai/1.2.0"),
    ("curl/8.5.0", "curl/8.5.0"),
    ("python-httpx/0.28.1", "httpx/0.28.1"),
    ("python-requests/2.32.3", "python-requests/2.32.3"),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        "chrome/131",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.70",
        "edge/131",
    ),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "firefox/133"),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7_1) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/18.1 Safari/605.1.15",
        "safari/18",
    ),
    (None, "unknown"),
    ("", "unknown"),
    ("my-own-script", "unknown"),
    ("undici", "node-fetch"),
]


@pytest.mark.parametrize(("agent", "family"), CASES)
def test_families(agent: str | None, family: str) -> None:
    assert client_family(agent) == family


def test_every_family_is_listed_for_suggestions() -> None:
    assert {"claude-code", "codex", "gemini-cli", "openai-python", "chrome"} <= set(CLIENT_FAMILIES)


@pytest.mark.parametrize(
    "agent",
    [
        "curl/" + "9" * 100_000,  # an endless version
        "OpenAI/Python " + "1." * 50_000,
        "x" * 1_000_000 + "curl/8.0",  # the family past the part that is read
        "Chrome/\x00\n131",
    ],
)
def test_hostile_user_agents_are_bounded_and_never_kept_whole(agent: str) -> None:
    t0 = time.perf_counter()
    found = client_family(agent)
    # Generous for a loaded 2-core CI: linear matching over 512 characters is microseconds.
    assert time.perf_counter() - t0 < 0.5
    assert len(found) <= 64 and "\n" not in found and "\x00" not in found
    assert agent[MAX_USER_AGENT:] not in found or not agent[MAX_USER_AGENT:]
