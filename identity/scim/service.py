"""The SCIM service: provisioning rules, deprovisioning and admin events, per tenant.

HTTP lives in ``routes`` and the pure payload functions (normalising, PATCH, ETags) in
``payloads``; this module takes decoded JSON, reads and writes the store, and returns
scim2-models resources, raising ``ScimError``. Everything a request reads or writes is
scoped by the tenant its token belongs to; another tenant's id is simply "not found".
Users and groups are read, filtered, replaced and patched through one table of the two
kinds (`ResourceKind`); what stays per kind is what differs in the domain (a user's
``active`` and deprovisioning, a group's members and the LLM access they grant). Over 400
lines because those provisioning rules share one transaction discipline and outbox.

Deprovisioning. A user is deprovisioned when it becomes inactive (``active: false``,
also Entra's ``"False"``, through PUT or PATCH, or created inactive), when it is
deleted, or — for a tenant that names ``llm_access_groups`` — when a Groups change
(PATCH, PUT, DELETE, rename) takes it out of the last such group it was directly in.
The decision is written to an outbox in the same transaction as the change, then the
``on_deprovision`` callback runs for it after the commit; a callback that fails leaves
the entry for ``retry_deprovisioning()`` (called after every write and meant to be
called at start-up), so a crash or a revocation error cannot lose it. The callback must
be idempotent (revoking what is already revoked). An explicit ``active: false`` on a
user that is already inactive deprovisions again, so an IdP's retry also retries the
revocation.

Reactivation (``active: true``) changes the record only: the sessions and device
credentials that were revoked stay revoked (the revocation is on the credentials, not
on the person), so the person signs in again.

Okta quirk: a PUT without ``active`` keeps the stored value (RFC 7644 would clear it;
some Okta integrations send full PUTs without it and do not mean "deactivate").
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from scim2_models import (
    Context,
    EnterpriseUser,
    GroupMember,
    GroupMembership,
    Resource,
    SCIMException,
)

from .credentials import Caller, ScimCredentials
from .discovery import GroupModel, UserModel
from .errors import ScimError, invalid_value, not_found
from .filters import ScimFilter, fold, parse_filter
from .payloads import (
    POLICY,
    _apply_patch,
    _changed,
    _check_precondition,
    _ci,
    _details,
    _duplicate,
    _group_doc,
    _ids,
    _meta,
    _meta_view,
    _normalize_patch,
    _normalize_resource,
    _now_iso,
    _object,
    _operations,
    _opt,
    _page,
    _snapshot,
    _touches_active,
    _user_doc,
    _validate,
    _where,
    etag,
)
from .store import (
    DuplicateUserName,
    Member,
    MemberType,
    ScimStore,
    StoredGroup,
    StoredUser,
    VersionConflict,
)

logger = logging.getLogger("warden.scim")

ENTERPRISE_URN = str(EnterpriseUser.__schema__)
_MANAGER_PATH = f"{ENTERPRISE_URN}:manager".lower()

EventDetails = Mapping[str, str | int | bool]
Events = Callable[[str, str, EventDetails], None]


@dataclass(frozen=True, slots=True)
class ProvisionedUser:
    """The person ``on_deprovision`` is about, as SCIM knows them."""

    id: str
    user_name: str
    external_id: str | None
    emails: tuple[str, ...]
    active: bool


Deprovision = Callable[[str, ProvisionedUser], None]


@dataclass(frozen=True, slots=True)
class RequestScope:
    """One authenticated request: the caller, and the tenant's SCIM base URL."""

    caller: Caller
    base_url: str  # e.g. https://warden.example.com/scim/v2/acme

    @property
    def tenant(self) -> str:
        return self.caller.tenant


@dataclass(frozen=True, slots=True)
class Rendered:
    resource: Resource[Any]
    version: int

    @property
    def etag(self) -> str:
        return etag(self.version)


@dataclass(frozen=True, slots=True)
class Page:
    total: int
    start_index: int
    resources: list[Rendered]


@dataclass(frozen=True, slots=True)
class ResourceKind[Row: StoredUser | StoredGroup]:
    """What differs between SCIM's two resource types where they are read alike (get,
    list, filter, search): one table of the two kinds instead of twin methods."""

    name: MemberType  # "User" or "Group"
    model: Any  # the scim2-models class (discovery.UserModel / GroupModel)
    one: Callable[[str, str], Row | None]  # the store's row by (tenant, id)
    rows: Callable[..., Iterator[Row]]  # the store's rows (tenant, where, window)
    #: The other kind it links to: a user's ``groups``, a group's ``members``; the item's
    #: scim2-models class, and the links of a row (scope, id), as SCIM JSON.
    links: str
    link_model: Any
    linked: Callable[[RequestScope, str], list[dict[str, str]]]


class ScimService:
    def __init__(
        self,
        store: ScimStore,
        credentials: ScimCredentials,
        events: Events,
        on_deprovision: Deprovision,
        llm_access_groups: Mapping[str, Collection[str] | None] | None = None,
        tenants: Collection[str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``llm_access_groups``: per tenant, the displayNames of the groups that grant
        LLM access (compared case-insensitively); a tenant absent or mapped to None does
        not gate on groups. ``tenants``: the configured tenants (None: any tenant a token
        was created for)."""
        self.store = store
        self.credentials = credentials
        self._events = events
        self._on_deprovision = on_deprovision
        self._llm_groups = {
            t: frozenset(fold(g) for g in groups)
            for t, groups in (llm_access_groups or {}).items()
            if groups is not None
        }
        self._tenants = frozenset(tenants) if tenants is not None else None
        self._clock = clock
        self._users = ResourceKind[StoredUser](
            "User", UserModel, store.user, store.users, "groups", GroupMembership, self._memberships
        )
        self._groups = ResourceKind[StoredGroup](
            "Group", GroupModel, store.group, store.groups, "members", GroupMember, self._members_of
        )

    # -- authentication ------------------------------------------------------------------

    def authenticate(self, tenant: str, authorization: str | None) -> Caller:
        """The caller for ``Authorization: Bearer …`` on ``/scim/v2/<tenant>/``.

        No or an unknown token: 401. A valid token of another tenant, or a tenant that is
        not configured: 404, the answer an unknown resource gets, so that a tenant's
        token learns nothing about other tenants.
        """
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ScimError(401, "send the tenant's SCIM token as 'Authorization: Bearer wst_…'")
        caller = self.credentials.authenticate(token.strip())
        if caller is None:
            raise ScimError(
                401,
                "the SCIM token is not valid (unknown or revoked); create one with "
                "'warden scim token create --tenant <tenant>'",
            )
        if caller.tenant != tenant or (self._tenants is not None and tenant not in self._tenants):
            logger.warning(
                "SCIM token %s of tenant %s used on another tenant's URL",
                caller.token_id,
                caller.tenant,
            )
            self._emit(
                "scim.auth.wrong_tenant",
                caller,
                {"requested_tenant": tenant[:64]},
            )
            raise ScimError(404, "not found")
        return caller

    # -- users ---------------------------------------------------------------------------

    def get_user(self, scope: RequestScope, user_id: str) -> Rendered:
        return self._get(self._users, scope, user_id)

    def list_users(
        self, scope: RequestScope, filter_text: str | None, start_index: int, count: int | None
    ) -> Page:
        return self._list(self._users, scope, filter_text, start_index, count)

    def create_user(self, scope: RequestScope, payload: Any) -> Rendered:
        payload = _normalize_resource(_object(payload), scope.base_url)
        model = _validate(UserModel, payload, Context.RESOURCE_CREATION_REQUEST)
        model.password = None  # never stored: the gateway authenticates through the IdP
        user_name = self._user_name(model)
        if self.store.user_by_key(scope.tenant, fold(user_name)) is not None:
            raise _duplicate(user_name)
        now = _now_iso(self._clock)
        user_id = str(uuid.uuid4())
        if model.active is None:  # unassigned means active here; say so in the record
            model.active = True
        active = bool(model.active)
        with self._write():
            self._external_id_free(scope.tenant, model.external_id, user_id)
            try:
                row = self.store.insert_user(
                    scope.tenant,
                    user_id,
                    user_name,
                    fold(user_name),
                    model.external_id,
                    active,
                    _user_doc(model),
                    now,
                )
            except DuplicateUserName:
                raise _duplicate(user_name) from None
            if not active:
                self._queue(scope.tenant, row, "created inactive")
        self._emit(
            "scim.user.created",
            scope.caller,
            _details(user_id=user_id, user_name=user_name, active=active)
            | _opt("external_id", model.external_id),
        )
        self.retry_deprovisioning()
        return Rendered(self._user_model(scope, row), row.version)

    def replace_user(
        self, scope: RequestScope, user_id: str, payload: Any, if_match: str | None
    ) -> Rendered:
        before, model, original, payload = self._replacement(
            self._users,
            scope,
            user_id,
            _normalize_resource(_object(payload), scope.base_url),
            if_match,
        )
        if _ci(payload, "active") is None:
            model.active = original.active  # Okta: a PUT without `active` is no deactivation
        asserted_inactive = _ci(payload, "active") is not None and model.active is False
        return self._update_user(scope, before, model, asserted_inactive)

    def patch_user(
        self, scope: RequestScope, user_id: str, payload: Any, if_match: str | None
    ) -> Rendered:
        before, model, operations = self._patched(self._users, scope, user_id, payload, if_match)
        if model is None:  # Entra sends PATCH with zero operations: nothing to do
            return Rendered(self._user_model(scope, before), before.version)
        asserted_inactive = model.active is False and any(_touches_active(op) for op in operations)
        return self._update_user(scope, before, model, asserted_inactive)

    def delete_user(self, scope: RequestScope, user_id: str, if_match: str | None) -> None:
        before = self._user_row(scope.tenant, user_id)
        _check_precondition(if_match, before.version)
        now = _now_iso(self._clock)
        with self._write():
            groups = self.store.delete_user(scope.tenant, user_id)
            self.store.touch_groups(scope.tenant, groups, now)
            self._queue(scope.tenant, before, "deleted")
        self._emit(
            "scim.user.deleted",
            scope.caller,
            _details(user_id=user_id, user_name=before.user_name, groups=len(groups))
            | _opt("external_id", before.external_id),
        )
        self.retry_deprovisioning()

    def _update_user(
        self, scope: RequestScope, before: StoredUser, model: Any, asserted_inactive: bool
    ) -> Rendered:
        model.password = None
        user_name = self._user_name(model)
        clash = self.store.user_by_key(scope.tenant, fold(user_name))
        if clash is not None and clash.id != before.id:
            raise _duplicate(user_name)
        active = model.active is not False
        doc = _user_doc(model)
        if doc == before.doc and active == before.active:  # no change, no new version
            if asserted_inactive:  # an IdP's retry: retry the revocation too
                with self._write():
                    self._queue(scope.tenant, before, "deactivated")
                self.retry_deprovisioning()
            return Rendered(self._user_model(scope, before), before.version)
        now = _now_iso(self._clock)
        with self._write():
            self._external_id_free(scope.tenant, model.external_id, before.id)
            try:
                row = self.store.update_user(
                    scope.tenant,
                    before,
                    user_name,
                    fold(user_name),
                    model.external_id,
                    active,
                    doc,
                    now,
                )
            except VersionConflict:
                raise ScimError(412, "the user changed meanwhile; read it again") from None
            except DuplicateUserName:
                raise _duplicate(user_name) from None
            if not active and (before.active or asserted_inactive):
                self._queue(scope.tenant, row, "deactivated")
        details = _details(user_id=row.id, user_name=user_name) | _opt(
            "external_id", row.external_id
        )
        changed = _changed(before.doc, doc)
        self._emit("scim.user.updated", scope.caller, details | {"changed": ",".join(changed)})
        if before.active and not active:
            self._emit("scim.user.deactivated", scope.caller, details)
        elif active and not before.active:
            self._emit("scim.user.reactivated", scope.caller, details)
        self.retry_deprovisioning()
        return Rendered(self._user_model(scope, row), row.version)

    # -- groups, read (and the search over both kinds) ----------------------------------

    def get_group(self, scope: RequestScope, group_id: str) -> Rendered:
        return self._get(self._groups, scope, group_id)

    def list_groups(
        self, scope: RequestScope, filter_text: str | None, start_index: int, count: int | None
    ) -> Page:
        return self._list(self._groups, scope, filter_text, start_index, count)

    def search_all(
        self, scope: RequestScope, filter_text: str | None, start_index: int, count: int | None
    ) -> Page:
        """``POST /.search`` at the root: users, then groups, that match ``filter_text``.

        A filter naming an attribute only one type has matches only that type; one that
        neither type knows is ``invalidFilter``.
        """
        start, size = _page(start_index, count)
        kinds: tuple[ResourceKind[Any], ...] = (self._users, self._groups)
        found: list[tuple[ResourceKind[Any], list[Any]]] = []
        problem: ScimError | None = None
        for kind in kinds:
            if filter_text is None:
                found.append((kind, list(kind.rows(scope.tenant))))
                continue
            try:
                flt = parse_filter(filter_text, kind.model)
            except ScimError as exc:
                problem = exc
                continue
            found.append((kind, self._matching(kind, scope, flt)))
        if not found and problem is not None:
            raise problem
        rendered: list[Rendered] = []
        offset, end = start - 1, start - 1 + size  # of the window over all kinds in turn
        for kind, rows in found:
            part = rows[max(0, offset) : max(0, end)]
            rendered += [Rendered(self._model(kind, scope, r), r.version) for r in part]
            offset, end = offset - len(rows), end - len(rows)
        return Page(sum(len(rows) for _, rows in found), start, rendered)

    # -- reading either kind -------------------------------------------------------------

    def _get[Row: StoredUser | StoredGroup](
        self, kind: ResourceKind[Row], scope: RequestScope, rid: str
    ) -> Rendered:
        row = self._row(kind, scope.tenant, rid)
        return Rendered(self._model(kind, scope, row), row.version)

    def _list[Row: StoredUser | StoredGroup](
        self,
        kind: ResourceKind[Row],
        scope: RequestScope,
        filter_text: str | None,
        start_index: int,
        count: int | None,
    ) -> Page:
        start, size = _page(start_index, count)
        if filter_text is None:  # the IdPs' import: paged in SQL
            total = self.store.count(scope.tenant, kind.name)
            rows = list(kind.rows(scope.tenant, window=(start - 1, size)))
        else:
            matching = self._matching(kind, scope, parse_filter(filter_text, kind.model))
            total, rows = len(matching), matching[start - 1 : start - 1 + size]
        return Page(total, start, [Rendered(self._model(kind, scope, r), r.version) for r in rows])

    def _matching[Row: StoredUser | StoredGroup](
        self, kind: ResourceKind[Row], scope: RequestScope, flt: ScimFilter
    ) -> list[Row]:
        return [
            r
            for r in kind.rows(scope.tenant, _where(flt))
            if flt.matches(self._view(kind, scope, r))
        ]

    def _replacement[Row: StoredUser | StoredGroup](
        self,
        kind: ResourceKind[Row],
        scope: RequestScope,
        rid: str,
        payload: dict[str, Any],
        if_match: str | None,
    ) -> tuple[Row, Any, Any, dict[str, Any]]:
        """PUT's common part: the row (checked against If-Match), the new model with what
        PUT may not change taken from the original, the original, and the payload."""
        before = self._row(kind, scope.tenant, rid)
        _check_precondition(if_match, before.version)
        model = _validate(kind.model, payload, Context.RESOURCE_REPLACEMENT_REQUEST)
        original = self._model(kind, scope, before)
        try:
            model.replace(original)
        except SCIMException as exc:
            raise ScimError.from_scim_exception(exc) from None
        return before, model, original, payload

    def _patched[Row: StoredUser | StoredGroup](
        self,
        kind: ResourceKind[Row],
        scope: RequestScope,
        rid: str,
        payload: Any,
        if_match: str | None,
    ) -> tuple[Row, Any, list[Any]]:
        """PATCH's common part: the row (checked against If-Match), the model with the
        operations applied (None when there are none) and the normalised operations."""
        before = self._row(kind, scope.tenant, rid)
        _check_precondition(if_match, before.version)
        body = _object(payload)
        operations = _operations(body)
        if not operations:
            return before, None, []
        body["Operations"] = _normalize_patch(operations, scope.base_url, before.id)
        model = self._model(kind, scope, before)
        _apply_patch(kind.model, body, model)
        return before, model, body["Operations"]

    @staticmethod
    def _row[Row: StoredUser | StoredGroup](kind: ResourceKind[Row], tenant: str, rid: str) -> Row:
        row = kind.one(tenant, rid)
        if row is None:
            raise not_found(kind.name, rid)
        return row

    # -- groups (written) ----------------------------------------------------------------

    def create_group(self, scope: RequestScope, payload: Any) -> Rendered:
        payload = _object(payload)
        model = _validate(GroupModel, payload, Context.RESOURCE_CREATION_REQUEST)
        group_id = str(uuid.uuid4())
        members = self._members(scope.tenant, group_id, model)
        name = self._display_name(model)
        now = _now_iso(self._clock)
        with self._write():
            row = self.store.insert_group(
                scope.tenant, group_id, name, fold(name), model.external_id, _group_doc(model), now
            )
            self.store.set_members(scope.tenant, group_id, members)
        self._emit(
            "scim.group.created",
            scope.caller,
            _details(group_id=group_id, display_name=name, members=len(members))
            | _opt("external_id", model.external_id),
        )
        return Rendered(self._group_model(scope, row), row.version)

    def replace_group(
        self, scope: RequestScope, group_id: str, payload: Any, if_match: str | None
    ) -> Rendered:
        before, model, _, _ = self._replacement(
            self._groups, scope, group_id, _object(payload), if_match
        )
        return self._update_group(scope, before, model)

    def patch_group(
        self, scope: RequestScope, group_id: str, payload: Any, if_match: str | None
    ) -> Rendered:
        before, model, _ = self._patched(self._groups, scope, group_id, payload, if_match)
        if model is None:  # Entra: PATCH with zero operations
            return Rendered(self._group_model(scope, before), before.version)
        return self._update_group(scope, before, model)

    def delete_group(self, scope: RequestScope, group_id: str, if_match: str | None) -> None:
        before = self._group_row(scope.tenant, group_id)
        _check_precondition(if_match, before.version)
        old = self.store.members(scope.tenant, group_id)
        users = [m.id for m in old if m.type == "User"]
        had = self._access(scope.tenant, users)
        now = _now_iso(self._clock)
        with self._write():
            parents = self.store.delete_group(scope.tenant, group_id)
            self.store.touch_groups(scope.tenant, parents, now)
            lost = self._lost_access(scope.tenant, had)
        self._emit(
            "scim.group.deleted",
            scope.caller,
            {"group_id": group_id, "display_name": before.display_name, "members": len(old)},
        )
        self._emit_lost(scope, lost)
        self.retry_deprovisioning()

    def _update_group(self, scope: RequestScope, before: StoredGroup, model: Any) -> Rendered:
        tenant = scope.tenant
        old = self.store.members(tenant, before.id)
        new = self._members(tenant, before.id, model)
        name = self._display_name(model)
        doc = _group_doc(model)
        if doc == before.doc and new == old:
            return Rendered(self._group_model(scope, before), before.version)  # no change
        users = {m.id for m in old if m.type == "User"} | {m.id for m in new if m.type == "User"}
        had = self._access(tenant, sorted(users))
        now = _now_iso(self._clock)
        with self._write():
            try:
                row = self.store.update_group(
                    tenant, before, name, fold(name), model.external_id, doc, now
                )
            except VersionConflict:
                raise ScimError(412, "the group changed meanwhile; read it again") from None
            self.store.set_members(tenant, before.id, new)
            lost = self._lost_access(tenant, had)
        base: dict[str, str | int | bool] = {"group_id": row.id, "display_name": name}
        changed = _changed(before.doc, doc)
        if changed:
            self._emit("scim.group.updated", scope.caller, base | {"changed": ",".join(changed)})
        old_ids, new_ids = [m.id for m in old], [m.id for m in new]
        added = [i for i in new_ids if i not in set(old_ids)]
        removed = [i for i in old_ids if i not in set(new_ids)]
        if added:
            self._emit("scim.group.members_added", scope.caller, base | _ids(added))
        if removed:
            self._emit("scim.group.members_removed", scope.caller, base | _ids(removed))
        self._emit_lost(scope, lost)
        self.retry_deprovisioning()
        return Rendered(self._group_model(scope, row), row.version)

    def _members(self, tenant: str, group_id: str, model: Any) -> list[Member]:
        """The members a group model names, checked to be this tenant's users or groups."""
        wanted: dict[str, str | None] = {}
        for member in model.members or []:
            if not member.value:
                raise invalid_value("every member needs a 'value': the id of a User or Group")
            wanted.setdefault(member.value, member.display)  # a repeated id counts once
        if group_id in wanted:
            raise invalid_value("a group cannot be a member of itself")
        types = self.store.member_types(tenant, wanted)
        unknown = [i for i in wanted if i not in types]
        if unknown:
            raise invalid_value(
                f"member(s) {', '.join(repr(i) for i in unknown[:5])} are not Users or Groups "
                "of this tenant; provision them first"
            )
        return [Member(i, types[i], display) for i, display in wanted.items()]

    # -- LLM access through groups -------------------------------------------------------

    def _access(self, tenant: str, user_ids: Collection[str]) -> dict[str, bool]:
        allowed = self._llm_groups.get(tenant)
        if allowed is None:
            return {}
        return {u: self._in_llm_group(tenant, u, allowed) for u in user_ids}

    def _in_llm_group(self, tenant: str, user_id: str, allowed: frozenset[str]) -> bool:
        return any(
            fold(name) in allowed for _, name in self.store.groups_of_member(tenant, user_id)
        )

    def _lost_access(self, tenant: str, had: Mapping[str, bool]) -> list[StoredUser]:
        """Inside the write: queue the users that had access through groups and lost it."""
        allowed = self._llm_groups.get(tenant)
        lost = []
        for user_id, before in had.items():
            if allowed is None or not before or self._in_llm_group(tenant, user_id, allowed):
                continue
            row = self.store.user(tenant, user_id)
            if row is not None:
                self._queue(tenant, row, "removed from the last group granting LLM access")
                lost.append(row)
        return lost

    def _emit_lost(self, scope: RequestScope, lost: list[StoredUser]) -> None:
        for row in lost:
            self._emit(
                "scim.user.llm_access_lost",
                scope.caller,
                _details(user_id=row.id, user_name=row.user_name)
                | _opt("external_id", row.external_id),
            )

    # -- deprovisioning ------------------------------------------------------------------

    def _queue(self, tenant: str, row: StoredUser, reason: str) -> None:
        self.store.queue_deprovision(tenant, _snapshot(row), reason, self._clock())

    def retry_deprovisioning(self) -> int:
        """Run ``on_deprovision`` for every pending entry; how many are still pending."""
        pending = self.store.pending_deprovisions()
        left = 0
        for entry in pending:
            user = ProvisionedUser(
                id=entry.user["id"],
                user_name=entry.user["userName"],
                external_id=entry.user.get("externalId"),
                emails=tuple(entry.user.get("emails", ())),
                active=bool(entry.user.get("active", False)),
            )
            try:
                self._on_deprovision(entry.tenant, user)
            except Exception:
                logger.exception(
                    "deprovisioning user %s of tenant %s failed; it stays pending and is "
                    "retried after the next SCIM change",
                    user.id,
                    entry.tenant,
                )
                left += 1
                continue
            with self.store.transaction():
                self.store.deprovision_done(entry.tenant, entry.seq)
            details = _details(
                actor="warden", user_id=user.id, user_name=user.user_name, reason=entry.reason
            ) | _opt("external_id", user.external_id)
            self._emit_raw("scim.user.deprovisioned", entry.tenant, details)
        return left

    # -- the identity layer's read side --------------------------------------------------

    def find_user(self, tenant: str, key: str) -> StoredUser | None:
        """A user by ``externalId`` (exact), else by ``userName`` (case-insensitive)."""
        by_external = self.store.users_by_external_id(tenant, key)
        if by_external:
            return by_external[0]
        return self.store.user_by_key(tenant, fold(key))

    def is_active(self, tenant: str, external_id_or_username: str) -> bool | None:
        """None: SCIM does not know this person."""
        row = self.find_user(tenant, external_id_or_username)
        return None if row is None else row.active

    def groups_of(self, tenant: str, user: str) -> list[str]:
        """displayNames of the groups the user is directly in ([] if unknown)."""
        row = self.find_user(tenant, user)
        if row is None:
            return []
        return [name for _, name in self.store.groups_of_member(tenant, row.id)]

    def department_of(self, tenant: str, user: str) -> str | None:
        row = self.find_user(tenant, user)
        if row is None:
            return None
        ext = row.doc.get(ENTERPRISE_URN)
        department = ext.get("department") if isinstance(ext, dict) else None
        return department if isinstance(department, str) else None

    def gates_by_group(self, tenant: str) -> bool:
        """True when only members of ``tenant``'s LLM access groups may use LLMs."""
        return tenant in self._llm_groups

    def has_llm_access(self, tenant: str, user: str) -> bool | None:
        """Active and (no group gating, or in an LLM access group); None if unknown."""
        row = self.find_user(tenant, user)
        if row is None:
            return None
        allowed = self._llm_groups.get(tenant)
        return row.active and (allowed is None or self._in_llm_group(tenant, row.id, allowed))

    # -- helpers -------------------------------------------------------------------------

    def _write(self) -> contextlib.AbstractContextManager[None]:
        return self.store.transaction()

    def _external_id_free(self, tenant: str, external_id: str | None, user_id: str) -> None:
        """A user's ``externalId`` is unique in its tenant: sign-in and deprovisioning find
        people by it, and two holders would make "who is this" a guess (RFC 7644 §3.3:
        409 ``uniqueness``). Checked inside the write transaction."""
        if not external_id:
            return
        holders = self.store.users_by_external_id(tenant, external_id)
        if any(h.id != user_id for h in holders):
            raise ScimError(
                409,
                f"externalId {external_id!r} already belongs to another user in this tenant",
                "uniqueness",
            )

    def _user_row(self, tenant: str, user_id: str) -> StoredUser:
        return self._row(self._users, tenant, user_id)

    def _group_row(self, tenant: str, group_id: str) -> StoredGroup:
        return self._row(self._groups, tenant, group_id)

    @staticmethod
    def _user_name(model: Any) -> str:
        name = model.user_name
        if not isinstance(name, str) or not name.strip():
            raise invalid_value("userName is required and cannot be empty")
        return name

    @staticmethod
    def _display_name(model: Any) -> str:
        name = model.display_name
        if not isinstance(name, str) or not name.strip():
            raise invalid_value("displayName is required and cannot be empty")
        return name

    def _memberships(self, scope: RequestScope, user_id: str) -> list[dict[str, str]]:
        return [
            {
                "value": gid,
                "$ref": f"{scope.base_url}/Groups/{gid}",
                "display": name,
                "type": "direct",
            }
            for gid, name in self.store.groups_of_member(scope.tenant, user_id)
        ]

    def _members_of(self, scope: RequestScope, group_id: str) -> list[dict[str, str]]:
        members = []
        for m in self.store.members(scope.tenant, group_id):
            entry = {"value": m.id, "$ref": f"{scope.base_url}/{m.type}s/{m.id}", "type": m.type}
            if m.display is not None:
                entry["display"] = m.display
            members.append(entry)
        return members

    def _model(
        self, kind: ResourceKind[Any], scope: RequestScope, row: StoredUser | StoredGroup
    ) -> Any:
        """The resource as answered: the stored JSON validated, with id, links and meta."""
        model: Any = kind.model.model_validate(row.doc, scim_policy=POLICY)
        model.id = row.id
        links = [kind.link_model.model_validate(g) for g in kind.linked(scope, row.id)]
        setattr(model, kind.links, links or None)
        model.meta = _meta(kind.name, scope, row.id, row.created, row.last_modified, row.version)
        return model

    def _view(
        self, kind: ResourceKind[Any], scope: RequestScope, row: StoredUser | StoredGroup
    ) -> dict[str, Any]:
        """What a filter sees: the stored JSON with id, meta and links, no validation."""
        meta = _meta_view(kind.name, scope, row.id, row.created, row.last_modified, row.version)
        return row.doc | {"id": row.id, kind.links: kind.linked(scope, row.id), "meta": meta}

    def _user_model(self, scope: RequestScope, row: StoredUser) -> Any:
        return self._model(self._users, scope, row)

    def _group_model(self, scope: RequestScope, row: StoredGroup) -> Any:
        return self._model(self._groups, scope, row)

    def _emit(self, name: str, caller: Caller, details: EventDetails) -> None:
        self._emit_raw(
            name, caller.tenant, {"actor": "scim-client", "token_id": caller.token_id, **details}
        )

    def _emit_raw(self, name: str, tenant: str, details: EventDetails) -> None:
        try:
            self._events(name, tenant, details)
        except Exception:
            logger.exception("could not record SCIM admin event %s for tenant %s", name, tenant)
