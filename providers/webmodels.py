"""The models of the web apps, by the names policy matches: ChatGPT's aliases, Gemini's hex ids.

The web apps do not always name their model the way the APIs do:

- ChatGPT sends a slug in ``model``. Most are API-like (``gpt-4o``, ``o3``); some are
  aliases: ``auto`` (the default, which lets the app pick) and the old
  ``text-davinci-002-render-sha``. ``CHATGPT_MODEL_ALIASES`` names what they stand for.
- Gemini's app names its model in the header ``x-goog-ext-525001261-jspb``, a JSON array
  whose element 4 is a 16-digit hex id (``[1,null,null,null,"9d8ca3786ebdfbea",...]``).
  ``GEMINI_WEB_MODEL_IDS`` maps the ids the app has used to model names (taken from the
  public client HanaokaYuzu/Gemini-API, ``src/gemini_webapi/constants.py`` and its
  history, 2024-2026).
- Claude's app sends ``model`` only when the person picked one.

Where the app names no model, the model is ``<service>:default``; where it names one this
table does not know, ``<service>:unknown:<id>``. Neither matches a model glob such as
``gemini-2.5-*``, so a tenant's ``models`` list refuses them unless it lists them
(``gemini-web:*``); a rule may name them too. (``claude-web:default`` does match
``claude-*``: it is a Claude model, whichever one.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Final

#: ChatGPT's model aliases and what they stand for.
CHATGPT_MODEL_ALIASES: Final[Mapping[str, str]] = {
    # "auto" lets ChatGPT route between its fast and thinking GPT-5 models (Aug 2025 on).
    "auto": "gpt-5",
    "gpt-5-auto": "gpt-5",
    # The slug of the free tier's GPT-3.5 in 2023 (still in old clients' requests).
    "text-davinci-002-render-sha": "gpt-3.5-turbo",
}

#: The header in which Gemini's app names its model.
GEMINI_MODEL_HEADER: Final = "x-goog-ext-525001261-jspb"

#: Gemini app model ids → model names. Paid tiers use other ids for the same model.
GEMINI_WEB_MODEL_IDS: Final[Mapping[str, str]] = {
    "9d8ca3786ebdfbea": "gemini-3-pro",
    "e6fa609c3fa255c0": "gemini-3-pro",
    "fbb127bbb056c959": "gemini-3-flash",
    "56fdd199312815e2": "gemini-3-flash",
    "5bf011840784117a": "gemini-3-flash-thinking",
    "e051ce1aa80aa576": "gemini-3-flash-thinking",
    "4af6c7f5da75d65d": "gemini-2.5-pro",
    "2525e3954d185b3c": "gemini-2.5-pro",
    "71c2d248d3b102ff": "gemini-2.5-flash",
    "35609594dbe934d8": "gemini-2.5-flash",
    "9ec249fc9ad08861": "gemini-2.5-flash",
    "f299729663a2343f": "gemini-2.0-flash",
    "9c17b1863f581b8a": "gemini-2.0-flash-thinking",
    "7ca48d02d802f20a": "gemini-2.0-flash-thinking",
    "9d60dfae93c9ff1f": "gemini-1.5-pro",
    "418ab5ea040b5c43": "gemini-1.5-flash",
    "7daceb7ef88130f5": "gemini-1.5-flash",
}

#: A header longer than this is not read (the app's is about 60 characters).
MAX_MODEL_HEADER = 1024
#: What an unknown id may look like to be shown in a model name (else ``invalid``).
_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")


def default_model(service_id: str) -> str:
    return f"{service_id}:default"


def unknown_model(service_id: str, model_id: str) -> str:
    shown = model_id.lower() if _ID.match(model_id) else "invalid"
    return f"{service_id}:unknown:{shown}"


def chatgpt_model(slug: str | None) -> str:
    """The model a ChatGPT request's ``model`` slug stands for."""
    if slug is None or not slug.strip():
        return default_model("chatgpt-web")
    return CHATGPT_MODEL_ALIASES.get(slug.strip().lower(), slug)


def claude_web_model(model: str | None) -> str:
    """The model of a Claude app request (``claude-web:default`` when it names none)."""
    if model is None or not model.strip():
        return default_model("claude-web")
    return model


def gemini_web_model(headers: Mapping[str, str]) -> str:
    """The model Gemini's app names in ``x-goog-ext-525001261-jspb`` (see the module doc)."""
    raw = headers.get(GEMINI_MODEL_HEADER)
    if raw is None:
        return default_model("gemini-web")
    if len(raw) > MAX_MODEL_HEADER:
        return unknown_model("gemini-web", "invalid")
    try:
        doc = json.loads(raw)
    except ValueError:
        return unknown_model("gemini-web", "invalid")
    model_id = doc[4] if isinstance(doc, list) and len(doc) > 4 else None
    if model_id is None:
        return default_model("gemini-web")
    if not isinstance(model_id, str):
        return unknown_model("gemini-web", "invalid")
    name = GEMINI_WEB_MODEL_IDS.get(model_id.lower())
    return name if name is not None else unknown_model("gemini-web", model_id)
