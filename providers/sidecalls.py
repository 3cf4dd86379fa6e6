"""Side calls: the requests an API client or agent makes beside inference, by kind.

SDKs and agent CLIs do more than ask for answers: they count a prompt's tokens
(Anthropic ``POST /v1/messages/count_tokens``, OpenAI ``POST /v1/responses/input_tokens``,
Gemini ``:countTokens``), list models (``GET /v1/models``), send usage telemetry (Claude
Code's ``POST /api/event_logging/batch`` and ``/v2/batch``) and fetch their start-up
settings (Claude Code's ``GET /api/claude_cli/bootstrap`` and friends). Each side call
gets an api id of its own (so the audit record names it) and one of ``SIDE_CALL_KINDS``
(so policy can allow or refuse it per tenant and department, ``side_calls:``).

What a side call carries is read as strictly as a prompt:

- token counting carries the prompt itself, so it is read with the inference
  endpoint's extractor and scanned and redacted like one;
- telemetry carries whatever the client logs: every string of its JSON body is a text
  segment, so DLP sees all of it (a body of more than ``MAX_TELEMETRY_STRINGS`` strings
  is not read, and so refused as unparsed);
- model listings and most bootstrap calls are ``GET`` requests without a body; one that
  comes with a body is not read (unparsed), so nothing rides along unseen. Claude Code's
  feature-flag evaluation (``POST /api/eval/{client key}``) is a bootstrap call with a
  body (the client's attributes): every string of it is scanned, as for telemetry.

Paths were taken from the providers' API references and, for Claude Code, from its
requests through the gateway (@anthropic-ai/claude-code 2.1.332).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from . import anthropic, gemini, openai
from .adapter import Extracted, Route
from .companions import COMPANION_CALLS
from .fields import Segments, ShapeError, as_object
from .requestpath import ANY, match
from .shapes import TextSegment

type SideCallKind = Literal["token_count", "telemetry", "model_list", "bootstrap", "companion"]

#: Every kind, in the order the documentation lists them. ``companion`` is a web app's
#: call beside the conversation itself (``companions.py``); policy allows it per service
#: (``companion_calls``), not per kind.
SIDE_CALL_KINDS: Final[tuple[SideCallKind, ...]] = (
    "token_count",
    "telemetry",
    "model_list",
    "bootstrap",
    "companion",
)

#: A telemetry body with more strings than this is not read (refused as unparsed): a
#: real batch of Claude Code's holds a few thousand.
MAX_TELEMETRY_STRINGS: Final = 20_000


@dataclass(frozen=True, slots=True)
class SideRoute:
    """One side-call endpoint: ``method`` and path ``pattern`` (``ANY`` captures a
    segment), its api id and kind, and the body reader (``None``: no body expected)."""

    method: str
    pattern: tuple[str, ...]
    api: str
    kind: SideCallKind
    extract: Callable[[tuple[str, ...], dict[str, object]], Extracted] | None = None
    #: Non-empty: the body is form-encoded and ``extract`` gets these fields, each
    #: JSON-decoded (Gemini's ``batchexecute``); segment paths start with the field name.
    form_fields: tuple[str, ...] = ()


def telemetry_strings(doc: dict[str, object]) -> Extracted:
    """Every string value of ``doc`` (object keys are names the client chose, not data)."""
    segments = Segments()
    segments.add_strings(doc, (), "input", MAX_TELEMETRY_STRINGS)
    return Extracted(segments.freeze())


def every_string(captured: tuple[str, ...], doc: dict[str, object]) -> Extracted:
    """``telemetry_strings`` as a route's reader: every string of the body is a segment."""
    return telemetry_strings(doc)


def _anthropic_count(captured: tuple[str, ...], doc: dict[str, object]) -> Extracted:
    return anthropic.extract_messages(doc)


def _openai_input_tokens(captured: tuple[str, ...], doc: dict[str, object]) -> Extracted:
    return openai.extract_responses(doc)


def _gemini_count(captured: tuple[str, ...], doc: dict[str, object]) -> Extracted:
    """``{"contents": ...}`` or ``{"generateContentRequest": {...}}``; the model is the
    path's (``models/{model}:countTokens``)."""
    model = captured[0].rpartition(":")[0] if captured else None
    found = Route("gemini.generate_content", model=model)
    inner = doc.get("generateContentRequest")
    if inner is None:
        return gemini.extract(found, doc)
    if "contents" in doc:
        raise ShapeError("both contents and generateContentRequest")
    read = gemini.extract(found, as_object(inner, "generateContentRequest"))
    segments = tuple(
        TextSegment(("generateContentRequest", *s.path), s.role, s.text) for s in read.segments
    )
    return Extracted(segments, model)


_V = ("v1", "v1beta", "v1alpha")

#: Side-call endpoints by catalog service id.
SIDE_ROUTES: Final[dict[str, tuple[SideRoute, ...]]] = {
    "anthropic": (
        SideRoute(
            "POST",
            ("v1", "messages", "count_tokens"),
            "anthropic.count_tokens",
            "token_count",
            _anthropic_count,
        ),
        SideRoute(
            "POST",
            ("api", "event_logging", "batch"),
            "anthropic.event_logging",
            "telemetry",
            lambda _, doc: telemetry_strings(doc),
        ),
        SideRoute(
            "POST",
            ("api", "event_logging", "v2", "batch"),
            "anthropic.event_logging",
            "telemetry",
            lambda _, doc: telemetry_strings(doc),
        ),
        SideRoute("GET", ("v1", "models"), "anthropic.models", "model_list"),
        SideRoute("GET", ("v1", "models", ANY), "anthropic.models", "model_list"),
        *(
            SideRoute(
                "POST",
                ("api", name, ANY),
                "anthropic.feature_flags",
                "bootstrap",
                lambda _, doc: telemetry_strings(doc),
            )
            for name in ("eval", "eval-authed")
        ),
        *(
            SideRoute("GET", tuple(path.split("/")), "anthropic.client_bootstrap", "bootstrap")
            for path in (
                "api/claude_cli/bootstrap",
                "api/claude_code/settings",
                "api/claude_code/policy_limits",
                "api/claude_code_penguin_mode",
                "api/claude_code/organizations/metrics_enabled",
                "api/directory/server-urls",
            )
        ),
    ),
    "openai": (
        SideRoute(
            "POST",
            ("v1", "responses", "input_tokens"),
            "openai.input_tokens",
            "token_count",
            _openai_input_tokens,
        ),
        SideRoute("GET", ("v1", "models"), "openai.models", "model_list"),
        SideRoute("GET", ("v1", "models", ANY), "openai.models", "model_list"),
    ),
    "gemini": (
        *(
            SideRoute(
                "POST", (v, "models", ANY), "gemini.count_tokens", "token_count", _gemini_count
            )
            for v in _V
        ),
        *(SideRoute("GET", (v, "models"), "gemini.models", "model_list") for v in _V),
        *(SideRoute("GET", (v, "models", ANY), "gemini.models", "model_list") for v in _V),
    ),
}

SIDE_ROUTES.update(
    {
        service: tuple(
            SideRoute(
                c.method,
                c.pattern,
                c.api,
                c.kind,
                every_string if c.body != "none" else None,
                (c.body.partition(":")[2],) if c.body.startswith("form:") else (),
            )
            for c in calls
        )
        for service, calls in COMPANION_CALLS.items()
    }
)

#: The side-call kind of each side-call api id.
KIND_OF_API: Final[dict[str, SideCallKind]] = {
    r.api: r.kind for routes in SIDE_ROUTES.values() for r in routes
}


def side_call_of(api: str | None) -> SideCallKind | None:
    """The side-call kind of an api id (``None``: inference, or not recognized)."""
    return None if api is None else KIND_OF_API.get(api)


def side_route(
    service_id: str, method: str, segments: tuple[str, ...]
) -> tuple[SideRoute, tuple[str, ...]] | None:
    """The side-call endpoint ``method`` and the path ``segments`` name, with what its
    ``ANY`` segments captured; ``None`` if there is none."""
    method = method.upper()
    for candidate in SIDE_ROUTES.get(service_id, ()):
        if candidate.method != method:
            continue
        captured = match(segments, candidate.pattern)
        if captured is None:
            continue
        if candidate.api == "gemini.count_tokens" and not _is_count_tokens(captured[0]):
            continue
        return candidate, captured
    return None


def _is_count_tokens(model_and_method: str) -> bool:
    name, _, method = model_and_method.rpartition(":")
    return bool(name) and method.lower() == "counttokens"
