"""Conversation ids: what ties one request to the others of the same conversation.

Where the provider or the client names one, it is read; nothing is inferred:

- ChatGPT web: the body's ``conversation_id`` (absent on a conversation's first message).
- Claude web: the conversation uuid in the path
  (``/api/organizations/{org}/chat_conversations/{uuid}/completion``).
- OpenAI Responses: the body's ``conversation`` (a string or ``{"id": ...}``), else
  ``previous_response_id`` (the turn before; `ResponseThreads` maps it to the thread's
  first response, so every turn of a chain carries the same id).
- Agents' session headers: Claude Code's ``X-Claude-Code-Session-Id``, codex's
  ``session_id`` / ``conversation_id`` (names seen in the pinned CLIs' binaries).

Ids are client-controlled text: only a bounded run of ``[A-Za-z0-9_.:-]`` is kept
(`MAX_CONVERSATION`), anything else is no conversation at all.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from typing import Final

from . import jsonbody

MAX_CONVERSATION: Final = 128
_ID: Final = re.compile(r"[A-Za-z0-9_.:-]{1,128}")

#: Headers by which agents name their session, in order of preference.
SESSION_HEADERS: Final = ("x-claude-code-session-id", "session_id", "conversation_id")

CHATGPT_API: Final = "chatgpt.conversation"
CLAUDE_API: Final = "claude.completion"
RESPONSES_APIS: Final = frozenset({"openai.responses", "azure.responses"})


def clean_id(value: object) -> str | None:
    """``value`` when it is a plausible id (bounded, no spaces or control characters)."""
    if isinstance(value, str) and _ID.fullmatch(value):
        return value
    return None


def from_document(api: str | None, doc: Mapping[str, object]) -> str | None:
    """The conversation named in a parsed request body of ``api``, if any."""
    if api == CHATGPT_API:
        return clean_id(doc.get("conversation_id"))
    if api in RESPONSES_APIS:
        conversation = doc.get("conversation")
        if isinstance(conversation, Mapping):
            conversation = conversation.get("id")
        return clean_id(conversation) or clean_id(doc.get("previous_response_id"))
    return None


def answer_id(api: str | None, body: bytes) -> str | None:
    """The id of a plain (not streamed) OpenAI Responses answer: its top-level ``id``."""
    if api not in RESPONSES_APIS or not body:
        return None
    try:
        doc = jsonbody.load_object(body)
    except (jsonbody.BodyError, RecursionError):
        return None
    return clean_id(doc.get("id"))


def from_path(api: str | None, segments: tuple[str, ...]) -> str | None:
    """Claude web's conversation uuid from the request path's segments."""
    if api == CLAUDE_API and len(segments) >= 6 and segments[3] == "chat_conversations":
        return clean_id(segments[4])
    return None


def from_headers(headers: Mapping[str, str]) -> str | None:
    """An agent's session id header (`SESSION_HEADERS`)."""
    for name in SESSION_HEADERS:
        value = headers.get(name)
        if value is not None and (found := clean_id(value.strip())) is not None:
            return found
    return None


class ResponseThreads:
    """OpenAI Responses chains: response id -> the conversation id of its thread.

    A turn that names ``previous_response_id`` belongs to the thread of that response;
    a thread's id is its first turn's answer id. Bounded (least recently used go first),
    in memory: after a restart a chain's later turns start from the id they name.
    """

    def __init__(self, max_entries: int = 50_000) -> None:
        self._max = max_entries
        self._threads: OrderedDict[str, str] = OrderedDict()

    def thread_of(self, response_id: str) -> str:
        """The conversation a turn continuing ``response_id`` belongs to."""
        found = self._threads.get(response_id)
        if found is None:
            return response_id
        self._threads.move_to_end(response_id)
        return found

    def answered(self, response_id: str, conversation: str | None) -> str:
        """Remember ``response_id``'s thread (its own id when it starts one); returns it."""
        thread = conversation or response_id
        self._threads[response_id] = thread
        self._threads.move_to_end(response_id)
        while len(self._threads) > self._max:
            self._threads.popitem(last=False)
        return thread
