"""SCIM payloads as pure functions: normalising what IdPs send, PATCH, ETags, meta, event details.

No store and no I/O: ``service`` reads and writes the store and calls these on the
decoded JSON and the scim2-models resources (RFC 7643/7644).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from pydantic import ValidationError
from scim2_models import (
    Context,
    EnterpriseUser,
    Meta,
    PatchOp,
    Resource,
    SCIMException,
    ScimPolicy,
)

from .discovery import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, GroupModel, UserModel
from .errors import ScimError, invalid_value
from .filters import ScimFilter, fold
from .store import (
    StoredUser,
)

if TYPE_CHECKING:
    from .service import RequestScope

logger = logging.getLogger("warden.scim")
ENTERPRISE_URN = str(EnterpriseUser.__schema__)
_MANAGER_PATH = f"{ENTERPRISE_URN}:manager".lower()

# What real IdPs send, accepted (see the module docstring of ``routes`` for the list):
# unknown attributes are dropped rather than refused (Entra and Okta send custom schema
# extensions the admin mapped), ``remove`` with a value list removes those values
# (Entra), and a ``replace``/``add`` whose path filter matches nothing creates the entry
# when the filter describes one (Entra: `emails[type eq "work"].value`).
POLICY = ScimPolicy(
    unknown=ScimPolicy.Unknown.ignore,
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)

MAX_IDS_IN_EVENT = 50  # member ids listed in one event; the count is always exact


def etag(version: int) -> str:
    return f'W/"{version}"'


def _now_iso(clock: Callable[[], float]) -> str:
    return dt.datetime.fromtimestamp(clock(), dt.UTC).isoformat()


def _when(iso: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso)


def _ci(mapping: Mapping[str, Any], key: str) -> str | None:
    """The key of ``mapping`` that is ``key`` case-insensitively (attribute names are)."""
    lowered = key.lower()
    return next((k for k in mapping if k.lower() == lowered), None)


def _meta(
    kind: str, scope: RequestScope, rid: str, created: str, modified: str, version: int
) -> Meta:
    return Meta(
        resource_type=kind,
        created=_when(created),
        last_modified=_when(modified),
        version=etag(version),
        location=f"{scope.base_url}/{kind}s/{rid}",
    )


def _meta_view(
    kind: str, scope: RequestScope, rid: str, created: str, modified: str, version: int
) -> dict[str, str]:
    return {
        "resourceType": kind,
        "created": created,
        "lastModified": modified,
        "version": etag(version),
        "location": f"{scope.base_url}/{kind}s/{rid}",
    }


#: A larger startIndex is past any result anyway; capped so that SQLite's 64-bit OFFSET
#: never overflows (startIndex=10**20 answered 500).
MAX_START_INDEX = 2**31


def _page(start_index: int, count: int | None) -> tuple[int, int]:
    """RFC 7644 §3.4.2.4: startIndex < 1 means 1; count < 0 means 0; we cap count."""
    start = min(max(1, start_index), MAX_START_INDEX)
    size = DEFAULT_PAGE_SIZE if count is None else max(0, min(count, MAX_PAGE_SIZE))
    return start, size


def _where(flt: ScimFilter) -> tuple[str, str] | None:
    hint = flt.equality_hint()
    if hint is None:
        return None
    attr, value = hint
    return (attr, fold(value)) if attr in ("username", "displayname") else hint


def _object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ScimError(400, "the request body must be a JSON object", "invalidSyntax")
    try:  # a lone surrogate (JSON "\ud800") cannot be stored: SQLite raised (a 500)
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise invalid_value(
            "the request body holds a lone surrogate (a \\ud800-\\udfff escape outside a "
            "pair), which is not text; send the value as UTF-8"
        ) from None
    return payload


def _validate(model: type[Resource[Any]], payload: dict[str, Any], ctx: Context) -> Any:
    try:
        return model.model_validate(payload, scim_ctx=ctx, scim_policy=POLICY)
    except ValidationError as exc:
        raise ScimError.from_validation(exc) from None
    except SCIMException as exc:
        raise ScimError.from_scim_exception(exc) from None


def _operations(body: dict[str, Any]) -> list[Any]:
    key = _ci(body, "Operations")
    if key is None:
        raise invalid_value("a PATCH body needs 'Operations': a list of add/remove/replace")
    operations = body[key]
    if not isinstance(operations, list):
        raise invalid_value("'Operations' must be a list")
    if key != "Operations":
        body["Operations"] = body.pop(key)
    return operations


def _apply_patch(model_type: type[Resource[Any]], body: dict[str, Any], model: Any) -> None:
    """Validate and apply a PatchOp to ``model`` in place: all operations or none."""
    try:
        patch: Any = cast(Any, PatchOp)[model_type].model_validate(
            body, scim_ctx=Context.RESOURCE_PATCH_REQUEST, scim_policy=POLICY
        )
        patch.patch(model, scim_policy=POLICY)
    except ValidationError as exc:
        raise ScimError.from_validation(exc) from None
    except SCIMException as exc:
        raise ScimError.from_scim_exception(exc) from None
    except (TypeError, ValueError) as exc:
        raise invalid_value(f"the PATCH cannot be applied: {exc}") from None


def _touches_active(op: Any) -> bool:
    if not isinstance(op, dict):
        return False
    path_key, value_key = _ci(op, "path"), _ci(op, "value")
    path = op.get(path_key) if path_key else None
    if isinstance(path, str):
        return path.strip().lower() in (
            "active",
            "urn:ietf:params:scim:schemas:core:2.0:user:active",
        )
    value = op.get(value_key) if value_key else None
    return isinstance(value, dict) and _ci(value, "active") is not None


def _manager(value: Any, base_url: str) -> Any:
    """Entra sends the manager as a bare id, or without ``$ref``; RFC 7643 needs both."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, str):
        return {"value": value, "$ref": f"{base_url}/Users/{value}"} if value else None
    if isinstance(value, dict):
        vkey = _ci(value, "value")
        if vkey and isinstance(value[vkey], str) and _ci(value, "$ref") is None:
            return value | {"$ref": f"{base_url}/Users/{value[vkey]}"}
    return value


def _normalize_enterprise(ext: Any, base_url: str) -> Any:
    if isinstance(ext, dict):
        key = _ci(ext, "manager")
        if key is not None:
            ext[key] = _manager(ext[key], base_url)
    return ext


def _normalize_resource(payload: dict[str, Any], base_url: str) -> dict[str, Any]:
    key = _ci(payload, ENTERPRISE_URN)
    if key is not None:
        payload[key] = _normalize_enterprise(payload[key], base_url)
    return payload


def _normalize_patch(operations: list[Any], base_url: str, resource_id: str) -> list[Any]:
    """The operations, rewritten where an IdP deviates in a way that has one meaning.

    - Entra: a value-path key in a path-less value (``{"emails[type eq \"work\"].value":
      …}``) becomes an operation of its own with that path (scim2-models would drop it).
    - Entra: ``"$ref": null`` in the entries of a ``remove`` value list is left out, so
      the entries match on ``value``.
    - Entra: the manager as a bare id, or without ``$ref`` (see ``_manager``).
    - Okta: ``{"op": "replace", "value": {"id": <this resource's id>, …}}`` (a group
      rename) drops the unchanged read-only ``id``.
    """
    out: list[Any] = []
    for op in operations:
        if not isinstance(op, dict):
            out.append(op)
            continue
        op_key, path_key, value_key = _ci(op, "op"), _ci(op, "path"), _ci(op, "value")
        path = op.get(path_key) if path_key else None
        verb = op.get(op_key) if op_key else None
        if value_key is None:
            out.append(op)
            continue
        value = op[value_key]
        lowered = path.strip().lower() if isinstance(path, str) else None
        if lowered == _MANAGER_PATH:
            op[value_key] = _manager(value, base_url)
        elif lowered == ENTERPRISE_URN.lower():
            op[value_key] = _normalize_enterprise(value, base_url)
        elif isinstance(verb, str) and verb.lower() == "remove" and isinstance(value, list):
            op[value_key] = [
                {k: v for k, v in e.items() if v is not None} if isinstance(e, dict) else e
                for e in value
            ]
        elif path is None and isinstance(value, dict):
            id_key = _ci(value, "id")
            if id_key is not None and value[id_key] == resource_id:
                del value[id_key]
            split = []
            for k in list(value):
                if k.lower() == _MANAGER_PATH:
                    value[k] = _manager(value[k], base_url)
                elif k.lower() == ENTERPRISE_URN.lower():
                    value[k] = _normalize_enterprise(value[k], base_url)
                elif "[" in k:
                    split.append({"op": verb, "path": k, "value": value.pop(k)})
            if value or not split:
                out.append(op)
            out.extend(split)
            continue
        out.append(op)
    return out


def _user_doc(model: Any) -> dict[str, Any]:
    stored = model.model_copy(update={"id": None, "meta": None, "password": None, "groups": None})
    return _known_schemas(stored.model_dump(scim_ctx=Context.DEFAULT), UserModel)


def _group_doc(model: Any) -> dict[str, Any]:
    stored = model.model_copy(update={"id": None, "meta": None, "members": None})
    return _known_schemas(stored.model_dump(scim_ctx=Context.DEFAULT), GroupModel)


def _known_schemas(doc: dict[str, Any], model: type[Resource[Any]]) -> dict[str, Any]:
    """Drop schema URNs we do not serve (Entra lists its own ADSCIM URN on groups)."""
    core = str(model.__schema__)
    known = {core.lower()} | {u.lower() for u in model.get_extension_models()}
    listed = [u for u in doc.get("schemas") or [] if isinstance(u, str) and u.lower() in known]
    doc["schemas"] = [core] + [u for u in listed if u.lower() != core.lower()]
    return doc


def _snapshot(row: StoredUser) -> dict[str, Any]:
    emails = [
        e["value"]
        for e in row.doc.get("emails") or []
        if isinstance(e, dict) and isinstance(e.get("value"), str)
    ]
    return {
        "id": row.id,
        "userName": row.user_name,
        "externalId": row.external_id,
        "emails": emails,
        "active": row.active,
    }


def _changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """Names (never values) of the top-level attributes that differ."""
    keys = (set(before) | set(after)) - {"schemas"}
    return sorted(k for k in keys if before.get(k) != after.get(k))


def _ids(ids: list[str]) -> dict[str, str | int | bool]:
    shown = ids[:MAX_IDS_IN_EVENT]
    return {"count": len(ids), "member_ids": ",".join(shown)}


def _details(**values: str | int | bool) -> dict[str, str | int | bool]:
    return values


def _opt(key: str, value: str | None) -> dict[str, str | int | bool]:
    return {key: value} if value else {}


def _duplicate(user_name: str) -> ScimError:
    return ScimError(
        409,
        f"userName {user_name!r} is already taken in this tenant (case-insensitive)",
        "uniqueness",
    )


def _check_precondition(if_match: str | None, version: int) -> None:
    """``If-Match`` (RFC 7232 §3.1, weak comparison as RFC 7644 §3.14 uses W/ tags)."""
    if if_match is None:
        return
    current = etag(version)
    tags = [t.strip() for t in if_match.split(",") if t.strip()]
    if "*" in tags:
        return
    if not any(_opaque(t) == _opaque(current) for t in tags):
        raise ScimError(
            412, f"If-Match {if_match} does not match the current version {current}; read it again"
        )


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag
