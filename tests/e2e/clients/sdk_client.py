"""A user's program: calls an LLM API with the real SDK, configured only by environment.

The proxy and the CA come from HTTPS_PROXY and SSL_CERT_FILE, as the README tells users;
nothing here knows about Egress Warden. Prints one JSON line with what the SDK returned.
"""

from __future__ import annotations

import json
import os
import sys


def _http_client(module: object) -> object | None:
    """With WARDEN_PROXY_BEARER set, send it as Proxy-Authorization (service credentials)."""
    bearer = os.environ.get("WARDEN_PROXY_BEARER")
    if not bearer:
        return None
    import ssl

    import httpx2

    ctx = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    proxy = httpx2.Proxy(
        os.environ["HTTPS_PROXY"], headers={"Proxy-Authorization": f"Bearer {bearer}"}
    )
    return httpx2.Client(proxy=proxy, verify=ctx, timeout=30)


def openai_call(prompt: str, stream: bool) -> dict[str, object]:
    import openai

    client = openai.OpenAI(max_retries=0, http_client=_http_client(openai))  # type: ignore[arg-type]
    if not stream:
        r = client.chat.completions.create(
            model=os.environ.get("WARDEN_TEST_MODEL", "gpt-4o-mini"),
            messages=[{"role": "user", "content": prompt}],
        )
        return {
            "text": r.choices[0].message.content,
            "usage": r.usage.model_dump() if r.usage else None,
        }
    chunks = client.chat.completions.create(
        model=os.environ.get("WARDEN_TEST_MODEL", "gpt-4o-mini"),
        messages=[{"role": "user", "content": prompt}],
        stream=True,
        stream_options={"include_usage": True},
    )
    parts, events = [], 0
    for chunk in chunks:
        events += 1
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
    return {"text": "".join(parts), "events": events}


def anthropic_call(prompt: str, stream: bool) -> dict[str, object]:
    import anthropic

    client = anthropic.Anthropic(max_retries=0, http_client=_http_client(anthropic))  # type: ignore[arg-type]
    if not stream:
        m = client.messages.create(
            model=os.environ.get("WARDEN_TEST_MODEL", "claude-sonnet-4-5"),
            max_tokens=200,
            messages=[{"role": "user", "content": prompt}],
        )
        return {
            "text": "".join(b.text for b in m.content if b.type == "text"),
            "usage": m.usage.model_dump(),
        }
    parts, events = [], 0
    with client.messages.stream(
        model=os.environ.get("WARDEN_TEST_MODEL", "claude-sonnet-4-5"),
        max_tokens=200,
        messages=[{"role": "user", "content": prompt}],
    ) as s:
        for text in s.text_stream:
            events += 1
            parts.append(text)
    return {"text": "".join(parts), "events": events}


def main() -> None:
    sdk, mode, prompt = sys.argv[1], sys.argv[2], sys.argv[3]
    model = sys.argv[4] if len(sys.argv) > 4 else None
    if model:
        os.environ["WARDEN_TEST_MODEL"] = model
    call = {"openai": openai_call, "anthropic": anthropic_call}[sdk]
    try:
        result = call(prompt, mode == "stream")
    except Exception as exc:  # the test reads what the SDK raised
        result = {
            "error": type(exc).__name__,
            "message": str(exc),
            "status": getattr(exc, "status_code", None),
            "retry_after": getattr(getattr(exc, "response", None), "headers", {}).get(
                "retry-after"
            ),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
