"""Request bodies as the SDKs and web apps send them, written by hand from their docs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote_plus


def compact(doc: object) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Sample:
    name: str
    service_id: str
    path: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    method: str = "POST"


SIGV4 = (
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20251120/us-east-1/bedrock/"
    "aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=0123abcd"
)

OPENAI_CHAT = {
    "messages": [
        {"role": "developer", "content": "You are terse."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this image?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_abc",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_abc", "content": "18°C and sunny"},
    ],
    "model": "gpt-4o-mini",
    "stream": True,
    "stream_options": {"include_usage": True},
}

OPENAI_RESPONSES = {
    "input": [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Summarize the memo"},
                {"type": "input_file", "file_id": "file-123"},
            ],
        },
        {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": '{"id":7}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "Memo: layoffs in Q3"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "Earlier answer"}]},
        {"type": "reasoning", "id": "rs_1", "summary": []},
    ],
    "model": "gpt-4.1",
    "instructions": "Answer in German.",
}

OPENAI_EMBEDDINGS = {
    "input": ["alpha", "beta"],
    "model": "text-embedding-3-small",
    "encoding_format": "base64",
}

OPENAI_COMPLETIONS = {
    "model": "gpt-3.5-turbo-instruct",
    "prompt": "Say this is a test",
    "suffix": "end",
    "max_tokens": 7,
}

ANTHROPIC_MESSAGES = {
    "max_tokens": 1024,
    "messages": [
        {"role": "user", "content": "Hello, Claude"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "secret plan", "signature": "sig=="},
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_01", "name": "get_stock", "input": {"t": "ACME"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": "ACME is at 12.5"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_02",
                    "content": [{"type": "text", "text": "second result"}],
                },
                {
                    "type": "document",
                    "source": {"type": "text", "media_type": "text/plain", "data": "Contract"},
                },
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"},
                },
            ],
        },
    ],
    "model": "claude-sonnet-4-5",
    "system": [
        {"type": "text", "text": "You are a lawyer.", "cache_control": {"type": "ephemeral"}}
    ],
    "stream": True,
}

GEMINI_GENERATE = {
    "contents": [
        {
            "role": "user",
            "parts": [
                {"text": "Write a haiku"},
                {"inlineData": {"mimeType": "image/png", "data": "iVBOR"}},
            ],
        },
        {"role": "model", "parts": [{"text": "Old pond"}]},
        {"parts": [{"text": "Another"}]},
    ],
    "systemInstruction": {"parts": [{"text": "You are a poet"}]},
    "generationConfig": {"temperature": 0.5},
}

GEMINI_EMBED = {"model": "models/text-embedding-004", "content": {"parts": [{"text": "embed me"}]}}

BEDROCK_CONVERSE = {
    "messages": [
        {
            "role": "user",
            "content": [
                {"text": "Hello"},
                {"image": {"format": "png", "source": {"bytes": "iVBOR"}}},
            ],
        },
        {"role": "assistant", "content": [{"text": "Hi"}]},
        {
            "role": "user",
            "content": [
                {
                    "toolResult": {
                        "toolUseId": "t1",
                        "content": [{"text": "tool says 42"}, {"json": {"a": 1}}],
                    }
                },
                {"guardContent": {"text": {"text": "guard me"}}},
            ],
        },
    ],
    "system": [{"text": "Be brief"}],
    "inferenceConfig": {"maxTokens": 512},
}

BEDROCK_INVOKE_ANTHROPIC = {
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 256,
    "system": "Be brief",
    "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}],
}

BEDROCK_INVOKE_NOVA = {
    "schemaVersion": "messages-v1",
    "messages": [{"role": "user", "content": [{"text": "Hi Nova"}]}],
    "system": [{"text": "sys"}],
    "inferenceConfig": {"maxTokens": 300},
}

CHATGPT_CONVERSATION = {
    "action": "next",
    "messages": [
        {
            "id": "aaa1b2c3-0000-4000-8000-000000000001",
            "author": {"role": "user"},
            "create_time": 1731000000.123,
            "content": {
                "content_type": "multimodal_text",
                "parts": [
                    {"content_type": "image_asset_pointer", "asset_pointer": "file-service://f"},
                    "Draft an email to HR about Jane",
                ],
            },
            "metadata": {"selected_github_repos": []},
        }
    ],
    "parent_message_id": "client-created-root",
    "model": "auto",
    "timezone_offset_min": -60,
    "timezone": "Europe/Berlin",
    "conversation_mode": {"kind": "primary_assistant"},
    "enable_message_followups": True,
    "system_hints": [],
    "supports_buffering": True,
    "supported_encodings": ["v1"],
    "paragen_cot_summary_display_override": "allow",
    "force_parallel_switch": "auto",
}

CLAUDE_COMPLETION = {
    "prompt": "Summarize the attached file",
    "parent_message_uuid": "00000000-0000-4000-8000-000000000000",
    "timezone": "Europe/Berlin",
    "personalized_styles": [
        {"type": "default", "key": "Default", "name": "Normal", "prompt": "Normal"}
    ],
    "locale": "en-US",
    "tools": [],
    "attachments": [
        {
            "file_name": "notes.txt",
            "file_size": 24,
            "file_type": "text/plain",
            "extracted_content": "Salary of Jane Doe: 90k",
        }
    ],
    "files": [],
    "sync_sources": [],
    "rendering_mode": "messages",
}

GEMINI_WEB_INNER = [
    ["Wie heißt der CEO? 👋", 0, None, None, None, None, 0],
    ["de"],
    ["c_1a2b", "r_3c4d", "rc_5e6f"],
    None,
    None,
    None,
    [1],
    0,
    [],
    [],
    1,
    0,
]
GEMINI_WEB_AT = "AJvLN6M9x-Zk0:1731000000000"


def gemini_web_body(inner: object = GEMINI_WEB_INNER) -> bytes:
    """The form body the Gemini page posts (``f.req`` first, ``at`` token, trailing ``&``)."""
    outer = json.dumps([None, json.dumps(inner, separators=(",", ":"), ensure_ascii=False)])
    freq = quote_plus(outer.replace(", ", ","), safe="")
    return f"f.req={freq}&at={quote_plus(GEMINI_WEB_AT, safe='')}&".encode()


CLAUDE_PATH = (
    "/api/organizations/0f1e2d3c-0000-4000-8000-00000000000a/chat_conversations/"
    "8a7b6c5d-0000-4000-8000-00000000000b/completion"
)
GEMINI_WEB_PATH = (
    "/_/BardChatUi/data/assistant.lamda.BardFrontendService/StreamGenerate"
    "?bl=boq_assistant-bard-web-server_20251110.08_p0&f.sid=-123&hl=de&_reqid=123456&rt=c"
)
BEDROCK_MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
BEDROCK_MODEL_PATH = "anthropic.claude-3-5-sonnet-20240620-v1%3A0"

#: One sample per api, every one of them parsed with at least one segment.
SAMPLES: tuple[Sample, ...] = (
    Sample("openai chat", "openai", "/v1/chat/completions", compact(OPENAI_CHAT)),
    Sample("openai responses", "openai", "/v1/responses", compact(OPENAI_RESPONSES)),
    Sample("openai embeddings", "openai", "/v1/embeddings", compact(OPENAI_EMBEDDINGS)),
    Sample("openai completions", "openai", "/v1/completions", compact(OPENAI_COMPLETIONS)),
    Sample(
        "azure chat",
        "azure-openai",
        "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21",
        compact({k: v for k, v in OPENAI_CHAT.items() if k != "model"}),
    ),
    Sample(
        "azure responses",
        "azure-openai",
        "/openai/responses?api-version=2025-04-01-preview",
        compact(OPENAI_RESPONSES),
    ),
    Sample(
        "azure embeddings",
        "azure-openai",
        "/openai/deployments/emb-small/embeddings?api-version=2024-10-21",
        compact({"input": "one text"}),
    ),
    Sample("anthropic", "anthropic", "/v1/messages", compact(ANTHROPIC_MESSAGES)),
    Sample(
        "gemini generate",
        "gemini",
        "/v1beta/models/gemini-2.5-flash:generateContent",
        compact(GEMINI_GENERATE),
    ),
    Sample(
        "gemini stream",
        "gemini",
        "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
        compact(GEMINI_GENERATE),
    ),
    Sample(
        "gemini embed",
        "gemini",
        "/v1beta/models/text-embedding-004:embedContent",
        compact(GEMINI_EMBED),
    ),
    Sample(
        "bedrock converse bearer",
        "bedrock",
        f"/model/{BEDROCK_MODEL_PATH}/converse",
        compact(BEDROCK_CONVERSE),
        (("Authorization", "Bearer ABSKQmVkcm9ja0FQSUtleQ=="),),
    ),
    Sample(
        "bedrock invoke bearer",
        "bedrock",
        f"/model/{BEDROCK_MODEL_PATH}/invoke",
        compact(BEDROCK_INVOKE_ANTHROPIC),
        (("authorization", "Bearer ABSKQmVkcm9ja0FQSUtleQ=="),),
    ),
    Sample("chatgpt", "chatgpt-web", "/backend-api/f/conversation", compact(CHATGPT_CONVERSATION)),
    Sample("claude web", "claude-web", CLAUDE_PATH, compact(CLAUDE_COMPLETION)),
    Sample("gemini web", "gemini-web", GEMINI_WEB_PATH, gemini_web_body()),
)
