"""The default catalog: which LLM services Egress Warden knows and the hosts each answers on.

Data only. Each entry says where its hosts come from. A host belongs here only if it
carries prompts or answers; analytics, telemetry and static-asset hosts of the web apps
(``ab.chatgpt.com``, ``cdn.oaistatic.com``, ``s.anthropic.com`` ...) stay out, so they are
passed through untouched and the interception CA need not cover them.

To add a service: append a ``Service`` below and, if its request shape is new, an adapter
in ``parse.py``. Deployments add their own hosts through config (``catalog.extra_hosts``,
``Catalog.with_extra_hosts``) rather than here.
"""

from __future__ import annotations

from .service import Service

# AWS regions (commercial and GovCloud, partition "aws" / "aws-us-gov", domain
# amazonaws.com) as listed in the AWS General Reference "Regional endpoints", Nov 2025.
# Listed in full rather than only where Bedrock runs today: a region that gains Bedrock
# is then intercepted from day one. China (amazonaws.com.cn) and the European Sovereign
# Cloud (amazonaws.eu) are other partitions without Bedrock runtime endpoints here.
AWS_REGIONS: tuple[str, ...] = (
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-1",
    "ap-south-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-gov-east-1",
    "us-gov-west-1",
)

# FIPS 140 endpoints ("bedrock-runtime-fips.<region>.amazonaws.com") exist for the US
# regions only (AWS General Reference, "Amazon Bedrock endpoints and quotas").
AWS_FIPS_REGIONS: tuple[str, ...] = tuple(r for r in AWS_REGIONS if r.startswith("us-"))


def _bedrock_runtime_hosts() -> tuple[str, ...]:
    # Explicit names, never "*.amazonaws.com": that would intercept (and make the CA
    # valid for) S3, STS and every other AWS service.
    standard = tuple(f"bedrock-runtime.{region}.amazonaws.com" for region in AWS_REGIONS)
    fips = tuple(f"bedrock-runtime-fips.{region}.amazonaws.com" for region in AWS_FIPS_REGIONS)
    return standard + fips


DEFAULT_SERVICES: tuple[Service, ...] = (
    # OpenAI API reference: base URL https://api.openai.com/v1 (openai-python's default).
    Service("openai", "openai", "api", ("api.openai.com",), "OpenAI API"),
    # Azure OpenAI and Azure AI Foundry resource endpoints (learn.microsoft.com, "Azure
    # OpenAI endpoints"): https://{resource}.openai.azure.com/openai/...,
    # https://{resource}.cognitiveservices.azure.com/ for multi-service AI resources and
    # https://{resource}.services.ai.azure.com/ for Foundry (models, openai/v1, anthropic).
    Service(
        "azure-openai",
        "microsoft",
        "api",
        ("*.openai.azure.com", "*.cognitiveservices.azure.com", "*.services.ai.azure.com"),
        "Azure OpenAI",
    ),
    # Anthropic API reference: https://api.anthropic.com/v1 (anthropic-sdk-python default).
    Service("anthropic", "anthropic", "api", ("api.anthropic.com",), "Anthropic API"),
    # Gemini API reference: https://generativelanguage.googleapis.com/v1beta (google-genai).
    Service("gemini", "google", "api", ("generativelanguage.googleapis.com",), "Gemini API"),
    # Amazon Bedrock runtime (InvokeModel, Converse and their streams).
    Service("bedrock", "aws", "api", _bedrock_runtime_hosts(), "Amazon Bedrock"),
    # ChatGPT: the app moved to chatgpt.com in 2024; chat.openai.com still serves it.
    # Prompts go to /backend-api/(f/)conversation on these hosts. Attached files go as a
    # PUT to the signed upload_url POST /backend-api/files returns (providers/uploads.py):
    # an Azure blob host under oaiusercontent.com (sdmntpr<region>.oaiusercontent.com,
    # files.oaiusercontent.com), formerly fileserviceuploadsperm.blob.core.windows.net (an
    # exact name: never *.blob.core.windows.net, every Azure customer's storage).
    Service(
        "chatgpt-web",
        "openai",
        "webapp",
        (
            "chatgpt.com",
            "chat.openai.com",
            "*.oaiusercontent.com",
            "fileserviceuploadsperm.blob.core.windows.net",
        ),
        "ChatGPT",
    ),
    # Claude: prompts go to claude.ai/api/organizations/{org}/chat_conversations/...
    Service("claude-web", "anthropic", "webapp", ("claude.ai",), "Claude"),
    # Gemini app: prompts go to gemini.google.com/_/BardChatUi/data/...StreamGenerate;
    # attached files to content-push.googleapis.com/upload (Google's resumable upload).
    Service(
        "gemini-web",
        "google",
        "webapp",
        ("gemini.google.com", "content-push.googleapis.com"),
        "Gemini",
    ),
)
