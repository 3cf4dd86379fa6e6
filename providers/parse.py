"""The dispatcher: from a service and an HTTP request to a ``ParsedRequest``.

``parse_request`` routes the request by service and path to its API family's adapter,
decodes the body and lets the adapter find the text. It never raises on what a client
sent: anything it cannot read comes back ``parsed=False`` with a fixed reason, and the
caller decides (redaction fails closed on it). A POST to a path that is not an inference
endpoint of the service, and every other method, is "not an inference endpoint" with
``api=None`` unless it is a side call (``sidecalls``: token counting, telemetry, model
listing, client bootstrap), which gets its own api id; a recognized endpoint with an
unreadable body keeps its ``api``. A file upload (``uploads``) is recognized first by
method, path and headers and gets its upload api id; its body is the uploads stage's.

``parse_usage``, ``stream_parser_for`` and ``rewrite_request`` are re-exported here so
that callers need one import.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from . import (
    anthropic,
    azure,
    bedrock,
    conversations,
    formbody,
    gemini,
    jsonbody,
    openai,
    sidecalls,
    uploads,
    webapps,
)
from .adapter import Adapter, Route
from .catalog import Service
from .fields import ShapeError
from .jsonbody import BodyError
from .requestpath import split_target
from .responses import parse_usage
from .rewrite import rewrite_request
from .shapes import ParsedRequest
from .streams import stream_parser_for

__all__ = ["ADAPTERS", "parse_request", "parse_usage", "rewrite_request", "stream_parser_for"]

NOT_INFERENCE = "not an inference endpoint"

#: Adapters by catalog service id. A service added to the catalog without an entry here
#: is intercepted but its requests stay unparsed ("no request shape for this service").
ADAPTERS: dict[str, Adapter] = {
    "openai": openai.ADAPTER,
    "azure-openai": azure.ADAPTER,
    "anthropic": anthropic.ADAPTER,
    "gemini": gemini.ADAPTER,
    "bedrock": bedrock.ADAPTER,
    "chatgpt-web": webapps.CHATGPT,
    "claude-web": webapps.CLAUDE,
    "gemini-web": webapps.GEMINI,
}


#: Request paths up to this length have their route remembered (``_route``).
ROUTE_CACHE_MAX_PATH = 512


@functools.lru_cache(maxsize=1024)
def _cached_route(service_id: str, path: str) -> Route | None:
    return ADAPTERS[service_id].route(split_target(path))


def _route(service_id: str, adapter: Adapter, target: str) -> Route | None:
    """The adapter's route for a request target. Clients send the same few paths again and
    again, so routes of ordinary paths are remembered; the query is not part of the key
    (routes never depend on it, and it may carry an API key, e.g. Gemini's ``?key=``). The
    cache is bounded: endless distinct paths only evict each other."""
    path = target.split("?", 1)[0].split("#", 1)[0]
    if len(path) > ROUTE_CACHE_MAX_PATH:
        return adapter.route(split_target(path))
    return _cached_route(service_id, path)


def _document(adapter: Adapter, body: bytes) -> dict[str, object]:
    if not adapter.form_fields:
        return jsonbody.load_object(body)
    return {name: jsonbody.loads(formbody.field(body, name)) for name in adapter.form_fields}


def _parse(
    service: Service,
    adapter: Adapter,
    found: Route,
    headers: Mapping[str, str],
    body: bytes,
    path: str,
) -> ParsedRequest:
    try:
        doc = _document(adapter, body)
        extracted = adapter.extract(found, doc)
    except (BodyError, ShapeError) as exc:
        return ParsedRequest.unparsed(service.id, exc.reason, found.api, found.model)
    model = extracted.model if extracted.model is not None else found.model
    if adapter.resolve_model is not None:
        model = adapter.resolve_model(model, headers)
    return ParsedRequest(
        service_id=service.id,
        api=found.api,
        model=model,
        stream=extracted.stream or found.stream,
        segments=extracted.segments,
        parsed=True,
        rewritable=not adapter.signed_body(headers),
        unparsed_reason=None,
        conversation=conversations.from_document(found.api, doc)
        or conversations.from_path(found.api, split_target(path)),
    )


def _side_call(service: Service, method: str, path: str, body: bytes) -> ParsedRequest:
    """A side call (``sidecalls``) read as strictly as a prompt, else not an inference
    endpoint."""
    found = sidecalls.side_route(service.id, method, split_target(path))
    if found is None:
        return ParsedRequest.unparsed(service.id, NOT_INFERENCE)
    side, captured = found
    if side.extract is None:
        if body:
            return ParsedRequest.unparsed(service.id, "a body where the API takes none", side.api)
        return ParsedRequest(service.id, side.api, None, False, (), True, True, None)
    try:
        if side.form_fields:
            doc = {n: jsonbody.loads(formbody.field(body, n)) for n in side.form_fields}
        else:
            doc = jsonbody.load_object(body)
        extracted = side.extract(captured, doc)
    except (BodyError, ShapeError) as exc:
        return ParsedRequest.unparsed(service.id, exc.reason, side.api)
    except RecursionError:
        return ParsedRequest.unparsed(service.id, "body nesting too deep", side.api)
    except Exception:  # a bug of ours must not take the proxy down; callers fail closed
        return ParsedRequest.unparsed(service.id, "request could not be parsed", side.api)
    return ParsedRequest(
        service.id, side.api, extracted.model, False, extracted.segments, True, True, None
    )


def parse_request(
    service: Service, method: str, path: str, headers: Mapping[str, str], body: bytes
) -> ParsedRequest:
    """What ``service`` is asked to do: api, model, stream and the text segments.

    ``path`` is the request target with its query; ``body`` is already content-decoded.
    """
    upload = uploads.upload_route(service.id, method, path, headers)
    if upload is not None:
        # A file upload: its bytes are not text segments. The uploads stage reads the
        # body (``uploads.read_upload``), extracts and scans each file, and refuses the
        # request when it cannot (addons/uploads.py); nothing here is rewritten.
        return ParsedRequest(service.id, upload[0].api, None, False, (), True, False, None)
    adapter = ADAPTERS.get(service.id)
    if adapter is None:
        return ParsedRequest.unparsed(service.id, "no request shape for this service")
    found = _route(service.id, adapter, path) if method.upper() == "POST" else None
    if found is None:
        return _side_call(service, method, path, body)
    try:
        return _parse(service, adapter, found, headers, body, path)
    except RecursionError:
        return ParsedRequest.unparsed(service.id, "body nesting too deep", found.api, found.model)
    except Exception:  # a bug of ours must not take the proxy down; callers fail closed
        return ParsedRequest.unparsed(
            service.id, "request could not be parsed", found.api, found.model
        )
