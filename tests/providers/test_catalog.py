from __future__ import annotations

import pytest

from warden.providers.catalog import Catalog, Service

CATALOG = Catalog.default()


@pytest.mark.parametrize(
    ("host", "service_id"),
    [
        ("api.openai.com", "openai"),
        ("API.OPENAI.COM", "openai"),
        ("api.openai.com.", "openai"),
        ("chatgpt.com", "chatgpt-web"),
        ("chat.openai.com", "chatgpt-web"),
        ("claude.ai", "claude-web"),
        ("gemini.google.com", "gemini-web"),
        ("api.anthropic.com", "anthropic"),
        ("generativelanguage.googleapis.com", "gemini"),
        ("contoso.openai.azure.com", "azure-openai"),
        ("a.b.contoso.openai.azure.com", "azure-openai"),
        ("Contoso.OpenAI.Azure.com.", "azure-openai"),
        ("my-res.cognitiveservices.azure.com", "azure-openai"),
        ("proj.services.ai.azure.com", "azure-openai"),
        ("bedrock-runtime.us-east-1.amazonaws.com", "bedrock"),
        ("bedrock-runtime.ap-southeast-2.amazonaws.com", "bedrock"),
        ("bedrock-runtime-fips.us-west-2.amazonaws.com", "bedrock"),
        # Not in the catalog, including lookalikes:
        ("openai.azure.com", None),
        ("azure.com", None),
        ("openai.com", None),
        ("ab.chatgpt.com", None),
        ("api.openai.com.evil.com", None),
        ("evilopenai.com", None),
        ("evilapi.openai.com", None),
        ("api-openai.com", None),
        ("openai.azure.com.attacker.net", None),
        ("contoso.openai.azure.com.attacker.net", None),
        ("contosoopenai.azure.com", None),
        ("xopenai.azure.com", None),
        ("claude.ai.evil.com", None),
        ("bedrock-runtime.us-east-1.amazonaws.com.evil.com", None),
        ("bedrock-runtime.mars-1.amazonaws.com", None),
        ("bedrock-runtime-fips.eu-west-1.amazonaws.com", None),
        ("s3.us-east-1.amazonaws.com", None),
        # Not host names at all:
        ("", None),
        ("api.openai.com:443", None),
        ("api..openai.com", None),
        ("\u0430pi.openai.com", None),  # Cyrillic a
        ("x" * 300 + ".openai.azure.com", None),
    ],
)
def test_match(host: str, service_id: str | None) -> None:
    service = CATALOG.match(host)
    assert (service.id if service else None) == service_id


def _svc(sid: str, *hosts: str) -> Service:
    return Service(sid, "acme", "api", hosts, sid.title())


def test_exact_beats_wildcard_and_longer_wildcard_beats_shorter() -> None:
    catalog = Catalog(
        [
            _svc("wide", "*.acme.test"),
            _svc("narrow", "*.eu.acme.test"),
            _svc("exact", "special.eu.acme.test"),
        ]
    )
    assert catalog.match("x.acme.test").id == "wide"  # type: ignore[union-attr]
    assert catalog.match("x.eu.acme.test").id == "narrow"  # type: ignore[union-attr]
    assert catalog.match("y.x.eu.acme.test").id == "narrow"  # type: ignore[union-attr]
    assert catalog.match("special.eu.acme.test").id == "exact"  # type: ignore[union-attr]
    assert catalog.match("eu.acme.test").id == "wide"  # type: ignore[union-attr]
    assert catalog.match("acme.test") is None


def test_with_extra_hosts_returns_a_new_catalog() -> None:
    extended = CATALOG.with_extra_hosts("azure-openai", ["AI-Gateway.Corp.example."])
    assert extended.match("ai-gateway.corp.example").id == "azure-openai"  # type: ignore[union-attr]
    assert CATALOG.match("ai-gateway.corp.example") is None
    assert extended.service("azure-openai").hosts[-1] == "ai-gateway.corp.example"
    assert [s.id for s in extended.services] == [s.id for s in CATALOG.services]


@pytest.mark.parametrize(
    ("service_id", "hosts", "message"),
    [
        ("nope", ["a.example"], "unknown catalog service 'nope'; known services are anthropic"),
        ("openai", ["*.com"], "is not valid"),
        ("openai", "api.example.com", "not one string"),
        ("openai", ["claude.ai"], "listed for both 'openai' and 'claude-web'"),
    ],
)
def test_with_extra_hosts_refuses(service_id: str, hosts: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CATALOG.with_extra_hosts(service_id, hosts)


def test_duplicate_ids_and_patterns_are_refused() -> None:
    with pytest.raises(ValueError, match="lists service 'a' twice"):
        Catalog([_svc("a", "a.test"), _svc("a", "b.test")])
    with pytest.raises(ValueError, match=r"'\*\.x\.test' is listed for both 'a' and 'b'"):
        Catalog([_svc("a", "*.x.test"), _svc("b", "*.x.test")])


def test_default_with_extra_services() -> None:
    catalog = Catalog.default([_svc("mistral", "api.mistral.ai")])
    assert catalog.match("api.mistral.ai").id == "mistral"  # type: ignore[union-attr]
    assert catalog.match("api.openai.com").id == "openai"  # type: ignore[union-attr]


def test_all_host_patterns() -> None:
    patterns = CATALOG.all_host_patterns()
    assert patterns[:5] == (
        "api.openai.com",
        "*.openai.azure.com",
        "*.cognitiveservices.azure.com",
        "*.services.ai.azure.com",
        "api.anthropic.com",
    )
    assert patterns[-7:] == (
        "chatgpt.com",
        "chat.openai.com",
        # the blob hosts ChatGPT's attachments are PUT to (providers/uploads.py)
        "*.oaiusercontent.com",
        "fileserviceuploadsperm.blob.core.windows.net",
        "claude.ai",
        "gemini.google.com",
        "content-push.googleapis.com",  # Gemini web's upload host
    )
    assert CATALOG.all_hosts() == patterns
    assert len(set(patterns)) == len(patterns)


def test_name_constraint_domains_cover_every_host_and_little_else() -> None:
    domains = CATALOG.name_constraint_domains()
    assert domains == tuple(sorted(domains))
    assert {d for d in domains if "amazonaws" not in d} == {
        "api.openai.com",
        "openai.azure.com",
        "cognitiveservices.azure.com",
        "services.ai.azure.com",
        "api.anthropic.com",
        "generativelanguage.googleapis.com",
        "chatgpt.com",
        "chat.openai.com",
        "claude.ai",
        "gemini.google.com",
        "oaiusercontent.com",
        "fileserviceuploadsperm.blob.core.windows.net",
        "content-push.googleapis.com",
    }
    # never the whole of Azure storage or googleapis.com
    assert "blob.core.windows.net" not in domains and "googleapis.com" not in domains
    bedrock = [d for d in domains if "amazonaws" in d]
    assert len(bedrock) == len(CATALOG.service("bedrock").hosts)
    assert "amazonaws.com" not in domains and "azure.com" not in domains


def test_name_constraint_domains_drop_covered_subtrees() -> None:
    catalog = Catalog(
        [_svc("a", "acme.test", "api.acme.test", "*.eu.acme.test"), _svc("b", "*.other.test")]
    )
    assert catalog.name_constraint_domains() == ("acme.test", "other.test")
