"""What the adapters report: text segments of a request, parse results, usage, stream events.

A ``TextSegment.path`` locates one string in the decoded request body: ``str`` steps are
object keys, ``int`` steps are array indexes. One step is special: ``JSON_STRING``
(``"<json>"``) says "the value here is a string holding a JSON document; continue inside
that document". Gemini's web app needs it: its form field ``f.req`` holds
``[null, "<inner JSON>"]`` and the prompt is ``inner[0][0]``, so the prompt's path is
``("f.req", 1, "<json>", 0, 0)``. For form-encoded bodies the first step is the form
field's name and its value is JSON-decoded. ``rewrite.rewrite_request`` re-encodes each
level on the way back out.
"""

from __future__ import annotations

from dataclasses import dataclass

SegmentPath = tuple[str | int, ...]

#: Path step: the current value is a JSON document serialized into a string.
JSON_STRING = "<json>"


@dataclass(frozen=True, slots=True)
class TextSegment:
    """One string of a request that a person or tool wrote, and who wrote it.

    ``role`` is one of "system", "developer", "user", "assistant", "tool", "input"
    (embeddings). Unknown message roles count as "user".
    """

    path: SegmentPath
    role: str
    text: str


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    """What an adapter made of one request.

    ``api`` is a stable id such as "openai.chat_completions" (``None`` when the request is
    not an inference call or could not be routed). ``parsed=False`` means the text of the
    request is NOT known: ``unparsed_reason`` says why in a fixed phrase (never a value
    from the request), and callers that must inspect text should fail closed.
    ``rewritable=False`` means the body must not be changed even though its text is known
    (Bedrock's SigV4 signature covers the body's hash): redaction has to block instead.
    """

    service_id: str
    api: str | None
    model: str | None
    stream: bool
    segments: tuple[TextSegment, ...]
    parsed: bool
    rewritable: bool
    unparsed_reason: str | None
    #: The conversation the body or path names (``conversations``), if any.
    conversation: str | None = None

    @classmethod
    def unparsed(
        cls, service_id: str, reason: str, api: str | None = None, model: str | None = None
    ) -> ParsedRequest:
        return cls(service_id, api, model, False, (), False, False, reason)


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one exchange; ``None`` where the provider did not say. ``estimated``
    marks counts Egress Warden computed itself rather than read from the provider."""

    input_tokens: int | None
    output_tokens: int | None
    estimated: bool = False


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One provider event of a streamed answer.

    ``text``: the answer text this event adds (a delta), ``None`` if it adds none.
    ``usage``: the usage known so far (running totals, the last one is final), ``None``
    if this event says nothing about usage. ``raw_event``: the provider's name for the
    event (SSE ``event:``, the payload's ``type``, the event-stream ``:event-type``),
    ``None`` when the provider gives none. Never the payload itself.
    """

    text: str | None
    usage: Usage | None
    raw_event: str | None
    #: The provider's id of the answer, where its stream names one (OpenAI Responses'
    #: ``response.created``): later turns refer to it (``conversations.ResponseThreads``).
    response_id: str | None = None
