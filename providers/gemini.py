"""Gemini API request shapes: ``models/{model}:generateContent``, ``:streamGenerateContent``
and ``:embedContent`` under ``/v1beta/``, ``/v1/`` or ``/v1alpha/``.

The model and whether the answer streams come from the path. Text: ``contents[].parts[]
.text`` (role "user", or "model" which counts as "assistant"), every string of a part's
``functionResponse.response`` (a tool's result, role "tool") and the system instruction's
parts. The REST API accepts proto field names in camelCase and snake_case alike, so both
``systemInstruction`` and ``system_instruction`` are read.
"""

from __future__ import annotations

from . import requestpath
from .adapter import Adapter, Extracted, Route
from .fields import Segments, ShapeError, as_object, opt_list, opt_object, opt_str, req_list
from .requestpath import ANY
from .shapes import SegmentPath

_VERSIONS = frozenset({"v1", "v1beta", "v1alpha"})
_METHODS = {
    "generatecontent": ("gemini.generate_content", False),
    "streamgeneratecontent": ("gemini.stream_generate_content", True),
    "embedcontent": ("gemini.embed_content", False),
}


def route(segments: tuple[str, ...]) -> Route | None:
    if not segments or segments[0].lower() not in _VERSIONS:
        return None
    for collection in ("models", "tunedmodels"):
        captured = requestpath.match(segments[1:], (collection, ANY))
        if captured is None:
            continue
        name, _, method = captured[0].rpartition(":")
        found = _METHODS.get(method.lower())
        if found is None or not name:
            return None
        model = name if collection == "models" else f"tunedModels/{name}"
        return Route(found[0], model=model, stream=found[1])
    return None


#: A ``functionResponse`` with more strings than this is not read (the request is then
#: unparsed and refused): tool results are files and command output, not JSON dumps.
MAX_TOOL_RESULT_STRINGS = 20_000


def _parts(segments: Segments, content: dict[str, object], path: SegmentPath, role: str) -> None:
    for j, raw in enumerate(opt_list(content, "parts") or ()):
        part = as_object(raw, "part")
        segments.add_field(part, "text", (*path, "parts", j), role)
        # A tool's result (a file an agent read, a command's output) is text the user's
        # machine sends: every string of its ``response`` object is scanned.
        for key in ("functionResponse", "function_response"):
            result = opt_object(part, key)
            if result is not None and result.get("response") is not None:
                segments.add_strings(
                    result["response"],
                    (*path, "parts", j, key, "response"),
                    "tool",
                    MAX_TOOL_RESULT_STRINGS,
                )


def extract(found: Route, doc: dict[str, object]) -> Extracted:
    segments = Segments()
    if found.api == "gemini.embed_content":
        content = opt_object(doc, "content")
        if content is None:
            raise ShapeError("missing content")
        _parts(segments, content, ("content",), "input")
        return Extracted(segments.freeze(), found.model, False)
    for key in ("systemInstruction", "system_instruction"):
        instruction = opt_object(doc, key)
        if instruction is not None:
            _parts(segments, instruction, (key,), "system")
    for i, raw in enumerate(req_list(doc, "contents")):
        content = as_object(raw, "content")
        role = "assistant" if opt_str(content, "role") == "model" else "user"
        _parts(segments, content, ("contents", i), role)
    return Extracted(segments.freeze(), found.model, found.stream)


ADAPTER = Adapter(route, extract)
