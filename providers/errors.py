"""Error bodies in each provider's own shape, so an SDK raises with our message readable.

OpenAI's SDK reads ``{"error": {"message", "type", "code"}}``, Anthropic's
``{"type": "error", "error": {"type", "message"}}``, Google's ``{"error": {"code",
"message", "status"}}``, AWS ``{"message": ...}``. Web apps get HTML from the caller.
"""

from __future__ import annotations

import json

from .eventstream import encode_message

_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    407: "UNAUTHENTICATED",
    429: "RESOURCE_EXHAUSTED",
    503: "UNAVAILABLE",
}
_ANTHROPIC_TYPE = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    407: "authentication_error",
    429: "rate_limit_error",
    503: "overloaded_error",
}


def error_body(provider: str, status: int, message: str, code: str) -> bytes:
    """The JSON body of an error the gateway answers itself, for ``provider``'s SDKs."""
    doc: dict[str, object]
    if provider == "anthropic":
        doc = {
            "type": "error",
            "error": {"type": _ANTHROPIC_TYPE.get(status, "api_error"), "message": message},
        }
    elif provider == "google":
        doc = {
            "error": {
                "code": status,
                "message": message,
                "status": _GOOGLE_STATUS.get(status, "UNKNOWN"),
            }
        }
    elif provider == "aws":
        doc = {"message": message, "__type": code}
    else:  # openai, microsoft (Azure OpenAI speaks OpenAI's shape), and anything else
        doc = {"error": {"message": message, "type": "egress_warden", "code": code, "param": None}}
    return json.dumps(doc, ensure_ascii=False).encode()


def stream_error_event(provider: str, api: str, message: str, code: str) -> bytes:
    """An error event that ends a streamed answer the gateway cuts, in the stream's own
    framing: an AWS event-stream exception message for Bedrock, else a server-sent event
    ``error`` whose data is the provider's error body (the OpenAI and Anthropic SDKs raise
    on it with our message)."""
    if api.startswith("bedrock."):
        body = json.dumps({"message": message}, ensure_ascii=False).encode()
        headers = {
            ":message-type": "exception",
            ":exception-type": "internalServerException",
            ":content-type": "application/json",
        }
        return encode_message(headers, body)
    return b"event: error\ndata: " + error_body(provider, 502, message, code) + b"\n\n"
