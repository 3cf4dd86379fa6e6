"""SDK clients for the stream tests: the real openai and anthropic SDKs, configured as a user
configures them (the gateway as HTTPS proxy, its CA), in the test's own process, with a
count of the TCP connections they open (to see that a connection is reused)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai


class ConnectionCount:
    """Counts the TCP connections an httpx2 client opens (httpcore's ``trace`` extension)."""

    def __init__(self) -> None:
        self.opened = 0

    def _trace(self, name: str, info: dict[str, Any]) -> None:
        if name == "connection.connect_tcp.complete":
            self.opened += 1

    def hook(self, request: httpx2.Request) -> None:
        request.extensions["trace"] = self._trace


def http_client(proxy_url: str, ca: Path, count: ConnectionCount) -> httpx2.Client:
    return httpx2.Client(
        proxy=proxy_url,
        verify=ssl.create_default_context(cafile=str(ca)),
        timeout=60,
        event_hooks={"request": [count.hook]},
    )


def openai_client(proxy_url: str, ca: Path, count: ConnectionCount) -> openai.OpenAI:
    return openai.OpenAI(
        api_key="sk-test", max_retries=0, http_client=http_client(proxy_url, ca, count)
    )


def anthropic_client(proxy_url: str, ca: Path, count: ConnectionCount) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key="sk-ant-test", max_retries=0, http_client=http_client(proxy_url, ca, count)
    )
