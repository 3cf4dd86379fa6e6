"""The SCIM 2.0 HTTP endpoints (RFC 7644) of one tenant, as aiohttp routes.

Routes (mounted on the control plane; every one needs the tenant's bearer token):
  GET POST              /scim/v2/{tenant}/Users            list (filter, startIndex, count) / create
  POST                  /scim/v2/{tenant}/Users/.search    list, with the query in the body
  GET PUT PATCH DELETE  /scim/v2/{tenant}/Users/{id}
  GET POST              /scim/v2/{tenant}/Groups
  POST                  /scim/v2/{tenant}/Groups/.search
  GET PUT PATCH DELETE  /scim/v2/{tenant}/Groups/{id}
  GET                   /scim/v2/{tenant}/ServiceProviderConfig
  GET                   /scim/v2/{tenant}/ResourceTypes[/{id}]
  GET                   /scim/v2/{tenant}/Schemas[/{id}]
  POST                  /scim/v2/{tenant}/.search          users and groups at once
Anything else under /scim/v2/{tenant}/ is a SCIM 404; a method a route lacks, a SCIM 405.

Every answer is ``application/scim+json``; errors use the SCIM error schema. No or a bad
token is 401; a good token on another tenant's URL is 404, like any unknown resource.
Resources carry ``ETag`` (``meta.version``); ``If-Match`` on PUT/PATCH/DELETE is
checked (412), ``If-None-Match`` on GET answers 304.

Quirks of real IdPs accepted here and in ``service``: Entra's capitalised ``op``
(``"Replace"``), booleans as strings (``"False"``), ``replace`` without ``path`` with
dotted keys (``"name.givenName"``), member removal as ``path: "members"`` with a value
list or as ``members[value eq "…"]``, PATCH with zero operations, and the manager as a
bare id; Okta's ``startIndex``/``count`` probe, ``filter=userName eq "…"``, and PUT
without ``active``.

Over 400 lines: the request checks (JSON depth, paging, attributes) a hostile IdP meets.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import json
import logging
import re
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, cast

from aiohttp import web
from pydantic import ValidationError
from scim2_models import Context, ListResponse, ResponseParameters, SCIMException

from . import discovery
from .discovery import GroupModel, UserModel
from .errors import ScimError, invalid_value
from .service import Page, Rendered, RequestScope, ScimService

logger = logging.getLogger("warden.scim")

CONTENT_TYPE = "application/scim+json"
LIST_SCHEMA = str(ListResponse.__schema__)
PREFIX = "/scim/v2/{tenant}"

Handler = Callable[[web.Request, RequestScope], Awaitable[web.Response]]

# A SCIM resource or PatchOp nests about six levels; the JSON decoder and everything after
# it recurse per level, so a deeper body is refused before it is decoded.
MAX_JSON_DEPTH = 32
# startIndex and count are positions in a list held in memory; SQLite's integers end at
# 2**63 and a larger value must be a 400, not an overflow.
MAX_LIST_NUMBER = 2**31 - 1
_JSON_STRUCTURE = re.compile(r'[\\"\[\]{}]')


@dataclass(frozen=True, slots=True)
class _Kind:
    """One SCIM resource type as the routes see it: its path and the service's methods."""

    path: str  # "Users" or "Groups"
    model: Any  # the scim2-models class, for attributes= and excludedAttributes=
    list: Callable[[ScimService, RequestScope, str | None, int, int | None], Page]
    create: Callable[[ScimService, RequestScope, Any], Rendered]
    get: Callable[[ScimService, RequestScope, str], Rendered]
    replace: Callable[[ScimService, RequestScope, str, Any, str | None], Rendered]
    patch: Callable[[ScimService, RequestScope, str, Any, str | None], Rendered]
    delete: Callable[[ScimService, RequestScope, str, str | None], None]


#: The two resource types, in the order their routes are added.
KINDS: Final = (
    _Kind(
        "Users",
        UserModel,
        ScimService.list_users,
        ScimService.create_user,
        ScimService.get_user,
        ScimService.replace_user,
        ScimService.patch_user,
        ScimService.delete_user,
    ),
    _Kind(
        "Groups",
        GroupModel,
        ScimService.list_groups,
        ScimService.create_group,
        ScimService.get_group,
        ScimService.replace_group,
        ScimService.patch_group,
        ScimService.delete_group,
    ),
)


def scim_routes(service: ScimService, public_url: str | None = None) -> list[web.RouteDef]:
    """The routes, in the order they must be added (the catch-all last).

    ``public_url``: the control plane's address as IdPs reach it (``meta.location`` and
    ``$ref`` are built from it); None: from the request's scheme and Host.
    """
    api = _ScimApi(service, public_url)
    return [
        *(
            route
            for kind in KINDS
            for route in (
                web.route("*", f"{PREFIX}/{kind.path}", api.entry(api.collection(kind))),
                web.route("*", f"{PREFIX}/{kind.path}/.search", api.entry(api.search(kind))),
                web.route("*", f"{PREFIX}/{kind.path}/{{id}}", api.entry(api.resource(kind))),
            )
        ),
        web.route("*", PREFIX + "/ServiceProviderConfig", api.entry(api.service_provider_config)),
        web.route("*", PREFIX + "/ResourceTypes", api.entry(api.resource_types)),
        web.route("*", PREFIX + "/ResourceTypes/{id}", api.entry(api.resource_type)),
        web.route("*", PREFIX + "/Schemas", api.entry(api.schemas)),
        web.route("*", PREFIX + "/Schemas/{id}", api.entry(api.schema)),
        web.route("*", PREFIX + "/.search", api.entry(api.root_search)),
        web.route("*", PREFIX, api.entry(api.unknown)),
        web.route("*", PREFIX + "/{tail:.*}", api.entry(api.unknown)),
    ]


def scim_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
        content_type=CONTENT_TYPE,
        charset="utf-8",
        headers=headers,
    )


def error_response(error: ScimError) -> web.Response:
    headers = {"WWW-Authenticate": 'Bearer realm="scim"'} if error.status == 401 else None
    return scim_response(error.body(), error.status, headers)


def _method_not_allowed(request: web.Request, allowed: str) -> ScimError:
    return ScimError(405, f"{request.method} is not supported here; use {allowed}")


class _ScimApi:
    def __init__(self, service: ScimService, public_url: str | None) -> None:
        self.service = service
        self.public_url = public_url.rstrip("/") if public_url else None
        # The service runs on one thread of its own: each call reads or writes the state
        # database (on PostgreSQL a network round trip, up to a second in an outage) and
        # the event loop may serve proxied flows (proxy.workers: 1); one thread keeps the
        # calls in the order they came, as the loop did.
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="scim")

    async def _call[T](self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, functools.partial(fn, *args))

    def entry(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def run(request: web.Request) -> web.Response:
            tenant = request.match_info["tenant"]
            try:
                caller = await self._call(
                    self.service.authenticate, tenant, request.headers.get("Authorization")
                )
                base = self.public_url or f"{request.scheme}://{request.host}"
                return await handler(request, RequestScope(caller, f"{base}/scim/v2/{tenant}"))
            except ScimError as exc:
                return error_response(exc)
            except web.HTTPRequestEntityTooLarge:
                return error_response(ScimError(413, "the request body is too large"))
            except sqlite3.OperationalError as exc:
                # the state database is down or did not answer within its bound: the
                # write did not happen (one transaction); the IdP retries a 503
                logger.warning("SCIM %s %s: %s", request.method, request.path, exc)
                return error_response(
                    ScimError(503, "the state database is unavailable; try again")
                )
            except Exception:
                logger.exception("SCIM %s %s failed", request.method, request.path)
                return error_response(ScimError(500, "internal error; see the gateway's log"))

        return run

    # -- users and groups ----------------------------------------------------------------

    def collection(self, kind: _Kind) -> Handler:
        """``/Users`` or ``/Groups``: list (GET) or create (POST)."""

        async def handle(request: web.Request, scope: RequestScope) -> web.Response:
            if request.method == "GET":
                query = request.query
                start, count = _int(query, "startIndex", 1), _opt_int(query, "count")
                page = await self._call(
                    kind.list, self.service, scope, query.get("filter"), start, count
                )
                params = _params(
                    kind.model, query.get("attributes"), query.get("excludedAttributes")
                )
                return _list(page, params)
            if request.method == "POST":
                body = await _json(request)
                created = await self._call(kind.create, self.service, scope, body)
                return _resource(created, Context.RESOURCE_CREATION_RESPONSE, request, 201)
            raise _method_not_allowed(request, "GET or POST")

        return handle

    def search(self, kind: _Kind) -> Handler:
        """``/Users/.search`` or ``/Groups/.search``: list, with the query in the body."""

        async def handle(request: web.Request, scope: RequestScope) -> web.Response:
            if request.method != "POST":
                raise _method_not_allowed(request, "POST")
            body = await _json(request)
            filter_text, start, count, params = _search(kind.model, body)
            page = await self._call(kind.list, self.service, scope, filter_text, start, count)
            return _list(page, params)

        return handle

    def resource(self, kind: _Kind) -> Handler:
        """``/Users/{id}`` or ``/Groups/{id}``: read, replace, patch, delete."""

        async def handle(request: web.Request, scope: RequestScope) -> web.Response:
            rid = request.match_info["id"]
            if_match = request.headers.get("If-Match")
            service = self.service
            match request.method:
                case "GET":
                    found = await self._call(kind.get, service, scope, rid)
                    return _resource(found, Context.RESOURCE_QUERY_RESPONSE, request)
                case "PUT":
                    body = await _json(request)
                    replaced = await self._call(kind.replace, service, scope, rid, body, if_match)
                    return _resource(replaced, Context.RESOURCE_REPLACEMENT_RESPONSE, request)
                case "PATCH":
                    body = await _json(request)
                    patched = await self._call(kind.patch, service, scope, rid, body, if_match)
                    return _resource(patched, Context.RESOURCE_PATCH_RESPONSE, request)
                case "DELETE":
                    await self._call(kind.delete, service, scope, rid, if_match)
                    return web.Response(status=204)
            raise _method_not_allowed(request, "GET, PUT, PATCH or DELETE")

        return handle

    # -- discovery -----------------------------------------------------------------------

    async def service_provider_config(
        self, request: web.Request, scope: RequestScope
    ) -> web.Response:
        _only_get(request)
        return scim_response(discovery.service_provider_config(scope.base_url))

    async def resource_types(self, request: web.Request, scope: RequestScope) -> web.Response:
        _only_get(request)
        return scim_response(_list_body(discovery.resource_types(scope.base_url)))

    async def resource_type(self, request: web.Request, scope: RequestScope) -> web.Response:
        _only_get(request)
        return _one_of(
            discovery.resource_types(scope.base_url), request.match_info["id"], "ResourceType"
        )

    async def schemas(self, request: web.Request, scope: RequestScope) -> web.Response:
        _only_get(request)
        return scim_response(_list_body(discovery.schemas(scope.base_url)))

    async def schema(self, request: web.Request, scope: RequestScope) -> web.Response:
        _only_get(request)
        return _one_of(discovery.schemas(scope.base_url), request.match_info["id"], "Schema")

    async def root_search(self, request: web.Request, scope: RequestScope) -> web.Response:
        if request.method != "POST":
            raise _method_not_allowed(request, "POST")
        body = await _json(request)
        filter_text, start, count, params = _search(UserModel | GroupModel, body)
        return _list(
            await self._call(self.service.search_all, scope, filter_text, start, count), params
        )

    async def unknown(self, request: web.Request, scope: RequestScope) -> web.Response:
        raise ScimError(404, f"no SCIM endpoint at {request.path}")


# -- request and response helpers ----------------------------------------------------------


def _only_get(request: web.Request) -> None:
    if request.method not in ("GET", "HEAD"):
        raise _method_not_allowed(request, "GET")


async def _json(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        raise ScimError(400, "the request has no body; send a JSON object", "invalidSyntax")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScimError(400, f"the request body is not UTF-8: {exc}", "invalidSyntax") from None
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise ScimError(
            400,
            f"the request body nests {depth} levels deep; at most {MAX_JSON_DEPTH} are allowed",
            "invalidSyntax",
        )
    try:
        body = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ScimError(400, f"the request body is not JSON: {exc}", "invalidSyntax") from None
    try:  # "\ud800" decodes to a string no database or UTF-8 answer can hold
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise invalid_value(
            "the request body holds a lone UTF-16 surrogate (an unpaired \\uD800-\\uDFFF "
            "escape); send valid Unicode"
        ) from None
    return body


def json_depth(text: str) -> int:
    """How deep ``text``'s arrays and objects nest (strings skipped), in linear time: the
    regex finds only brackets, quotes and backslashes."""
    depth = deepest = 0
    in_string = False
    escaped = -1  # the position a backslash makes literal
    for match in _JSON_STRUCTURE.finditer(text):
        pos, ch = match.start(), match.group()
        if pos == escaped:
            continue
        if ch == "\\":
            escaped = pos + 1
        elif ch == '"':
            in_string = not in_string
        elif in_string:
            continue
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _int(query: Any, name: str, default: int) -> int:
    value = _opt_int(query, name)
    return default if value is None else value


def _opt_int(query: Any, name: str) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > 20:
        raise invalid_value(f"{name} must be an integer up to {MAX_LIST_NUMBER}")
    try:
        return _list_number(name, int(raw))
    except ValueError:
        raise invalid_value(f"{name} must be an integer, not {raw!r}") from None


def _list_number(name: str, value: int) -> int:
    if abs(value) > MAX_LIST_NUMBER:
        raise invalid_value(f"{name} {value} is out of range: at most {MAX_LIST_NUMBER}")
    return value


def _params(model: Any, attributes: Any, excluded: Any) -> ResponseParameters[Any] | None:
    if not attributes and not excluded:
        return None
    if attributes and excluded:
        raise ScimError(
            400, "attributes and excludedAttributes cannot be used together", "invalidValue"
        )
    try:
        params: Any = cast(Any, ResponseParameters)[model].model_validate(
            {"attributes": attributes or None, "excluded_attributes": excluded or None}
        )
    except ValidationError as exc:
        raise ScimError.from_validation(exc) from None
    except SCIMException as exc:
        raise ScimError.from_scim_exception(exc) from None
    return cast(ResponseParameters[Any], params)


def _search(
    model: Any, body: Any
) -> tuple[str | None, int, int | None, ResponseParameters[Any] | None]:
    """The parts of a SearchRequest (RFC 7644 §3.4.3) this server uses."""
    if not isinstance(body, dict):
        raise ScimError(400, "the request body must be a JSON object", "invalidSyntax")
    lowered = {k.lower(): v for k, v in body.items()}
    if lowered.get("sortby") is not None:
        raise invalid_value("sorting is not supported (see /ServiceProviderConfig)")
    filter_text = lowered.get("filter")
    if filter_text is not None and not isinstance(filter_text, str):
        raise ScimError(400, "filter must be a string", "invalidFilter")
    start, count = lowered.get("startindex", 1), lowered.get("count")
    if not _is_int(start) or (count is not None and not _is_int(count)):
        raise invalid_value("startIndex and count must be integers")
    start = _list_number("startIndex", start)
    count = None if count is None else _list_number("count", count)

    def joined(value: Any) -> str | None:
        if not isinstance(value, list):
            return value  # type: ignore[no-any-return]  # checked by ResponseParameters
        if not all(isinstance(name, str) for name in value):  # join() raised TypeError: 500
            raise invalid_value("attributes and excludedAttributes list attribute names")
        return ",".join(value)

    params = _params(
        model, joined(lowered.get("attributes")), joined(lowered.get("excludedattributes"))
    )
    return filter_text, start, count, params


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _dump(rendered: Rendered, ctx: Context, params: ResponseParameters[Any] | None) -> Any:
    return rendered.resource.model_dump(scim_ctx=ctx, response_parameters=params)


def _resource(
    rendered: Rendered, ctx: Context, request: web.Request, status: int = 200
) -> web.Response:
    query = request.query
    model = type(rendered.resource)
    params = _params(model, query.get("attributes"), query.get("excludedAttributes"))
    headers = {"ETag": rendered.etag}
    if status == 201 and rendered.resource.meta and rendered.resource.meta.location:
        headers["Location"] = rendered.resource.meta.location
    if request.method == "GET":
        none_match = request.headers.get("If-None-Match")
        if none_match and rendered.etag in [t.strip() for t in none_match.split(",")]:
            return web.Response(status=304, headers=headers)
    return scim_response(_dump(rendered, ctx, params), status, headers)


def _list(page: Page, params: ResponseParameters[Any] | None) -> web.Response:
    resources = [_dump(r, Context.RESOURCE_QUERY_RESPONSE, params) for r in page.resources]
    body: dict[str, Any] = {
        "schemas": [LIST_SCHEMA],
        "totalResults": page.total,
        "startIndex": page.start_index,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }
    return scim_response(body)


def _list_body(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": [LIST_SCHEMA],
        "totalResults": len(items),
        "startIndex": 1,
        "itemsPerPage": len(items),
        "Resources": items,
    }


def _one_of(items: list[dict[str, Any]], wanted: str, kind: str) -> web.Response:
    for item in items:
        if item.get("id") == wanted:
            return scim_response(item)
    raise ScimError(404, f"{kind} {wanted!r} not found")
