"""Client software from a User-Agent: a small table of families, with the version where known.

The audit record keeps the family (``openai-python/1.54.3``, ``claude-code/2.0.14``,
``chrome/131``), never the whole header: a User-Agent is client-controlled free text, so
only what the table recognises is kept, and everything else is ``unknown``. The input is
cut to `MAX_USER_AGENT` characters before any pattern looks at it, and each pattern is a
literal prefix or token followed by a bounded version, so matching is linear.

The table is ordered: agents that embed an SDK's name (Claude Code sends
``claude-cli/<v> (external, cli)``; codex ``codex_cli_rs/<v>``) come before the SDKs,
and the browsers before the generic engines (Chrome's UA also names Safari; Edge's also
names Chrome).
"""

from __future__ import annotations

import re
from typing import Final

#: Characters of the User-Agent that are read; the rest is ignored.
MAX_USER_AGENT: Final = 512
UNKNOWN: Final = "unknown"

_VERSION: Final = r"v?(\d{1,6}(?:\.\d{1,6}){0,3})"

#: (family, pattern): the pattern's first group, when it has one, is the version.
_FAMILIES: Final[tuple[tuple[str, re.Pattern[str]], ...]] = tuple(
    (family, re.compile(pattern, re.IGNORECASE))
    for family, pattern in (
        ("claude-code", rf"\bclaude-cli/{_VERSION}"),
        ("claude-code", rf"\bclaude-code/{_VERSION}"),
        ("codex", rf"\bcodex_cli_rs/{_VERSION}"),
        ("codex", rf"\bcodex(?:-cli)?/{_VERSION}"),
        ("gemini-cli", rf"\bGeminiCLI/{_VERSION}"),
        ("aider", rf"\baider/{_VERSION}"),
        ("litellm", rf"\blitellm/{_VERSION}"),
        ("langchain", rf"\blangchain(?:-[a-z]+)?/{_VERSION}"),
        ("openai-python", rf"\bOpenAI/Python {_VERSION}"),
        ("openai-node", rf"\bOpenAI/JS {_VERSION}"),
        ("anthropic-python", rf"\bAnthropic/Python {_VERSION}"),
        ("anthropic-node", rf"\bAnthropic/JS {_VERSION}"),
        ("google-genai", rf"\bgoogle-genai-sdk/{_VERSION}"),
        ("google-genai", rf"\bgenai-js/{_VERSION}"),
        ("aws-sdk", rf"\b(?:Boto3|aws-sdk-[a-z]+)/{_VERSION}"),
        ("curl", rf"^curl/{_VERSION}"),
        ("wget", rf"^Wget/{_VERSION}"),
        ("httpx", rf"^python-httpx/{_VERSION}"),
        ("python-requests", rf"^python-requests/{_VERSION}"),
        ("aiohttp", rf"\baiohttp/{_VERSION}"),
        ("node-fetch", r"^(?:node-fetch|undici)\b"),
        ("edge", rf"\bEdg(?:e|A|iOS)?/{_VERSION}"),
        ("firefox", rf"\bFirefox/{_VERSION}"),
        ("chrome", rf"\b(?:Chrome|CriOS)/{_VERSION}"),
        ("safari", rf"\bVersion/{_VERSION}(?: Mobile/\w+)? Safari/"),
    )
)


#: The families the table knows, in table order (for suggestions in the console).
CLIENT_FAMILIES: Final = tuple(dict.fromkeys(family for family, _ in _FAMILIES))


def client_family(user_agent: str | None) -> str:
    """``family/major.minor`` (or ``family`` alone) for a known client; else ``unknown``.

    Browsers keep their major version only: the rest identifies a build, not software a
    reviewer asks about.
    """
    if not user_agent:
        return UNKNOWN
    text = user_agent[:MAX_USER_AGENT]
    for family, pattern in _FAMILIES:
        match = pattern.search(text)
        if match is None:
            continue
        version = match.group(1) if pattern.groups else None
        if not version:
            return family
        if family in _BROWSERS:
            version = version.split(".", 1)[0]
        return f"{family}/{version}"
    return UNKNOWN


_BROWSERS: Final = frozenset({"chrome", "firefox", "safari", "edge"})
