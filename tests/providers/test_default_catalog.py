from __future__ import annotations

from warden.providers.default_catalog import AWS_FIPS_REGIONS, AWS_REGIONS, DEFAULT_SERVICES
from warden.providers.parse import ADAPTERS


def test_default_service_ids_and_kinds() -> None:
    assert [(s.id, s.provider, s.kind) for s in DEFAULT_SERVICES] == [
        ("openai", "openai", "api"),
        ("azure-openai", "microsoft", "api"),
        ("anthropic", "anthropic", "api"),
        ("gemini", "google", "api"),
        ("bedrock", "aws", "api"),
        ("chatgpt-web", "openai", "webapp"),
        ("claude-web", "anthropic", "webapp"),
        ("gemini-web", "google", "webapp"),
    ]


def test_every_default_service_has_an_adapter() -> None:
    assert {s.id for s in DEFAULT_SERVICES} == set(ADAPTERS)


def test_web_app_hosts_carry_prompts_and_uploads_only() -> None:
    hosts = {s.id: s.hosts for s in DEFAULT_SERVICES}
    # the app hosts, and the hosts each app uploads attached files to (providers/uploads.py)
    assert hosts["chatgpt-web"] == (
        "chatgpt.com",
        "chat.openai.com",
        "*.oaiusercontent.com",
        "fileserviceuploadsperm.blob.core.windows.net",
    )
    assert hosts["claude-web"] == ("claude.ai",)
    assert hosts["gemini-web"] == ("gemini.google.com", "content-push.googleapis.com")


def test_bedrock_hosts_are_explicit_per_region() -> None:
    bedrock = next(s for s in DEFAULT_SERVICES if s.id == "bedrock")
    assert not any(h.startswith("*") for h in bedrock.hosts)
    assert len(bedrock.hosts) == len(AWS_REGIONS) + len(AWS_FIPS_REGIONS)
    assert "bedrock-runtime.eu-central-1.amazonaws.com" in bedrock.hosts
    assert "bedrock-runtime.us-gov-west-1.amazonaws.com" in bedrock.hosts
    assert "bedrock-runtime-fips.us-east-1.amazonaws.com" in bedrock.hosts
    assert "bedrock-runtime-fips.eu-central-1.amazonaws.com" not in bedrock.hosts
    assert AWS_FIPS_REGIONS == (
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
        "us-gov-east-1",
        "us-gov-west-1",
    )
    assert len(set(AWS_REGIONS)) == len(AWS_REGIONS)
