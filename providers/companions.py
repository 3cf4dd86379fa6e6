"""Companion calls: what the web apps' pages send beside the conversation itself (data only).

A conversation in ChatGPT, Claude or Gemini is more than the one request that carries the
prompt: the page asks for pre-flight tokens, creates the conversation, lists and renames
conversations, reads its settings and reports telemetry. Each call here gets an api id
(the audit record names it) and a side-call kind (``sidecalls.py``): ``companion``
(allowed or refused per service by policy ``companion_calls``) or ``telemetry`` (policy
``side_calls: {telemetry: ...}``, the same switch as the SDKs' and agents' telemetry).

A companion call is read as strictly as a prompt: every string of its body is a text
segment scanned by DLP (ChatGPT's ``conversation/prepare`` carries the prompt being typed
as ``partial_query``, Claude's title generation the first message), a body with more
strings than ``sidecalls.MAX_TELEMETRY_STRINGS`` is not read (refused as unparsed), and a
call listed with ``body="none"`` that comes with a body is not read either. A request of
the app that is not listed here stays "not an inference endpoint": with a body, refused
unless the tenant sets ``allow_unparsed`` (which this table does not change).

Shapes, from public clients that replay the apps' traffic:

- ChatGPT: ``backend-api/sentinel/chat-requirements`` (body ``{"p": <proof>}``),
  ``.../chat-requirements/prepare`` and ``/finalize``, ``backend-api/f/conversation/prepare``
  (answers ``{"conduit_token": ...}``, sent back as ``x-conduit-token``),
  ``backend-api/conversation/init``, ``backend-api/f/conversation/resume`` (acheong08/ChatGPT;
  sentinel, prepare and conduit as replayed by the Go and Python bridges indexed beside
  it; Simatwa/WebChatGPT ``assets/recons/*.md`` for the 2023 listing, ``gen_title`` and
  ``ces/v1`` telemetry). Everything under ``backend-anon`` as under ``backend-api``.
- Claude: ``api/organizations/{org}/chat_conversations`` (POST creates: ``{"uuid", "name",
  "model"}``; GET lists), ``.../chat_conversations/{id}`` (GET, PUT rename, DELETE),
  ``.../chat_conversations/{id}/title`` (st1vms/unofficial-claude-api).
- Gemini: ``_/BardChatUi/data/batchexecute``, a form body whose ``f.req`` holds the RPC
  calls ``[[[rpcid, "<JSON>", null, "generic"]]]`` (HanaokaYuzu/Gemini-API,
  ``src/gemini_webapi/constants.py``: ``BATCH_EXEC`` and the RPC ids).
"""

from __future__ import annotations

from typing import Final, Literal, NamedTuple

from .requestpath import ANY

#: How a call's body is read: ``none`` (no body expected), ``json`` (every string of
#: it), ``form:<field>`` (that form field JSON-decoded, every string of it).
type BodyForm = Literal["none", "json", "form:f.req"]


class Companion(NamedTuple):
    method: str
    pattern: tuple[str, ...]
    api: str
    kind: Literal["companion", "telemetry"]
    body: BodyForm


#: ChatGPT's companion calls below ``backend-api`` (and ``backend-anon``): method, path
#: (``{}``: any segment), api id, body form, kind.
_CHATGPT_CALLS: Final[tuple[tuple[str, str, str, BodyForm, str], ...]] = (
    # Pre-flight: proof of work and the conduit token the conversation request carries.
    ("POST", "sentinel/chat-requirements", "chatgpt.preflight", "json", "companion"),
    ("POST", "sentinel/chat-requirements/prepare", "chatgpt.preflight", "json", "companion"),
    ("POST", "sentinel/chat-requirements/finalize", "chatgpt.preflight", "json", "companion"),
    ("POST", "f/conversation/prepare", "chatgpt.preflight", "json", "companion"),
    ("POST", "conversation/prepare", "chatgpt.preflight", "json", "companion"),
    ("POST", "conversation/init", "chatgpt.preflight", "json", "companion"),
    ("POST", "f/conversation/resume", "chatgpt.resume", "json", "companion"),
    # Conversations: list, read, rename or hide, title.
    ("GET", "conversations", "chatgpt.conversations", "none", "companion"),
    ("GET", "conversation/{}", "chatgpt.conversations", "none", "companion"),
    ("PATCH", "conversation/{}", "chatgpt.conversations", "json", "companion"),
    ("POST", "conversation/gen_title/{}", "chatgpt.conversations", "json", "companion"),
    # Settings the page reads at start.
    ("GET", "me", "chatgpt.settings", "none", "companion"),
    ("GET", "models", "chatgpt.settings", "none", "companion"),
    ("GET", "settings/user", "chatgpt.settings", "none", "companion"),
    ("GET", "accounts/check", "chatgpt.settings", "none", "companion"),
    ("GET", "accounts/check/{}", "chatgpt.settings", "none", "companion"),
    ("POST", "lat/r", "chatgpt.telemetry", "json", "telemetry"),
)


def _chatgpt() -> tuple[Companion, ...]:
    out = [
        Companion(
            method,
            (root, *(ANY if s == "{}" else s for s in path.split("/"))),
            api,
            kind,  # type: ignore[arg-type]
            body,
        )
        for root in ("backend-api", "backend-anon")
        for method, path, api, body, kind in _CHATGPT_CALLS
    ]
    for kind in ("t", "b", "p", "i", "m"):  # Segment analytics proxied by chatgpt.com
        out.append(Companion("POST", ("ces", "v1", kind), "chatgpt.telemetry", "telemetry", "json"))
    return tuple(out)


_ORG = ("api", "organizations", ANY)
_CONV = (*_ORG, "chat_conversations")

CLAUDE: Final = (
    Companion("POST", _CONV, "claude.conversations", "companion", "json"),
    Companion("GET", _CONV, "claude.conversations", "companion", "none"),
    Companion("GET", (*_CONV, ANY), "claude.conversations", "companion", "none"),
    Companion("PUT", (*_CONV, ANY), "claude.conversations", "companion", "json"),
    Companion("PATCH", (*_CONV, ANY), "claude.conversations", "companion", "json"),
    Companion("DELETE", (*_CONV, ANY), "claude.conversations", "companion", "none"),
    Companion("POST", (*_CONV, ANY, "title"), "claude.conversations", "companion", "json"),
    Companion("GET", ("api", "organizations"), "claude.settings", "companion", "none"),
    Companion("GET", _ORG, "claude.settings", "companion", "none"),
    Companion("GET", ("api", "bootstrap"), "claude.settings", "companion", "none"),
    Companion("GET", ("api", "bootstrap", ANY), "claude.settings", "companion", "none"),
    Companion("GET", ("api", "account"), "claude.settings", "companion", "none"),
    Companion("PUT", ("api", "account", "settings"), "claude.settings", "companion", "json"),
    Companion("PATCH", ("api", "account", "settings"), "claude.settings", "companion", "json"),
)

GEMINI: Final = (
    Companion(
        "POST",
        ("_", "bardchatui", "data", "batchexecute"),
        "gemini_web.batchexecute",
        "companion",
        "form:f.req",
    ),
)

#: Companion calls by catalog service id.
COMPANION_CALLS: Final[dict[str, tuple[Companion, ...]]] = {
    "chatgpt-web": _chatgpt(),
    "claude-web": CLAUDE,
    "gemini-web": GEMINI,
}

#: The web-app services that have companion calls (policy ``companion_calls`` keys).
COMPANION_SERVICES: Final = tuple(COMPANION_CALLS)

#: Api ids whose body is form-encoded (``rewrite.py`` re-encodes the field).
FORM_COMPANION_APIS: Final = frozenset(
    c.api for calls in COMPANION_CALLS.values() for c in calls if c.body.startswith("form:")
)
