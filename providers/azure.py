"""Azure OpenAI and Azure AI Foundry request routes; the bodies are OpenAI's (or Anthropic's).

Routes (``?api-version=...`` is ignored):

- ``/openai/deployments/{deployment}/chat/completions`` | ``/completions`` | ``/embeddings``:
  the deployment name is the model when the body names none;
- ``/openai/responses`` and the v1 API ``/openai/v1/{chat/completions,responses,
  embeddings,completions}``: the model is in the body;
- Foundry model inference ``/models/chat/completions`` and ``/models/embeddings``;
- Claude in Foundry, ``/anthropic/v1/messages`` (api "anthropic.messages").
"""

from __future__ import annotations

from . import anthropic, openai, requestpath
from .adapter import Adapter, Extracted, Route
from .requestpath import ANY

_DEPLOYMENT_ROUTES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("openai", "deployments", ANY, "chat", "completions"), "azure.chat_completions"),
    (("openai", "deployments", ANY, "completions"), "azure.completions"),
    (("openai", "deployments", ANY, "embeddings"), "azure.embeddings"),
)

_ROUTES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("openai", "responses"), "azure.responses"),
    (("openai", "v1", "chat", "completions"), "azure.chat_completions"),
    (("openai", "v1", "responses"), "azure.responses"),
    (("openai", "v1", "embeddings"), "azure.embeddings"),
    (("openai", "v1", "completions"), "azure.completions"),
    (("models", "chat", "completions"), "azure.chat_completions"),
    (("models", "embeddings"), "azure.embeddings"),
    (("anthropic", "v1", "messages"), "anthropic.messages"),
)


def route(segments: tuple[str, ...]) -> Route | None:
    for pattern, api in _DEPLOYMENT_ROUTES:
        captured = requestpath.match(segments, pattern)
        if captured is not None:
            return Route(api, model=captured[0])
    for pattern, api in _ROUTES:
        if requestpath.match(segments, pattern) is not None:
            return Route(api)
    return None


def extract(found: Route, doc: dict[str, object]) -> Extracted:
    family, kind = found.api.split(".", 1)
    if family == "anthropic":
        return anthropic.extract_messages(doc)
    extracted = openai.EXTRACTORS[kind](doc)
    return Extracted(extracted.segments, extracted.model or found.model, extracted.stream)


ADAPTER = Adapter(route, extract)
