"""Model names the policy linter knows, and a likely destination for a model's family.

A list of globs, not a registry: it only lets ``lint`` warn about a model pattern that
matches nothing any provider is known to serve (usually a typo such as ``gtp-4o``).
Update it when providers add families; an unknown name is a warning, never an error.
"""

from __future__ import annotations

from .facts import Kind

KNOWN_MODELS: tuple[str, ...] = (
    # OpenAI (also Azure OpenAI deployments that keep the model's name)
    "gpt-5*",
    "gpt-4.5*",
    "gpt-4.1*",
    "gpt-4o*",
    "chatgpt-4o*",
    "gpt-4",
    "gpt-4-*",
    "gpt-3.5-turbo*",
    "gpt-oss-*",
    "gpt-realtime*",
    "gpt-image-*",
    "o1*",
    "o3*",
    "o4-mini*",
    "codex-*",
    "text-embedding-3-*",
    "text-embedding-ada-002",
    "omni-moderation-*",
    "whisper-1",
    "tts-1*",
    "dall-e-*",
    # Anthropic, also through Bedrock (optionally with a cross-region prefix)
    "claude-*",
    "anthropic.claude-*",
    "*.anthropic.claude-*",
    # Google
    "gemini-*",
    "models/gemini-*",
    "text-embedding-004",
    "gemini-embedding-*",
    # Other Bedrock families
    "amazon.nova-*",
    "amazon.titan-*",
    "meta.llama*",
    "mistral.*",
    "cohere.*",
    "ai21.*",
)

#: (model prefix, provider, catalog service id, host, kind): where ``explain`` assumes a
#: request for such a model goes when no host is given.
FAMILY_DESTINATIONS: tuple[tuple[str, str, str, str, Kind], ...] = (
    ("claude-", "anthropic", "anthropic", "api.anthropic.com", "api"),
    ("gemini-", "google", "gemini", "generativelanguage.googleapis.com", "api"),
    ("models/gemini-", "google", "gemini", "generativelanguage.googleapis.com", "api"),
    ("anthropic.", "aws", "bedrock", "bedrock-runtime.us-east-1.amazonaws.com", "api"),
    ("", "openai", "openai", "api.openai.com", "api"),
)


def likely_destination(model: str | None) -> tuple[str, str, str, Kind]:
    """(provider, service, host, kind) a request for ``model`` most likely goes to."""
    name = (model or "").lower()
    for prefix, provider, service, host, kind in FAMILY_DESTINATIONS:
        if name.startswith(prefix):
            return provider, service, host, kind
    raise AssertionError("the last family matches every name")  # pragma: no cover
