"""SCIM state in SQLite: users, groups, memberships, the deprovisioning outbox.

Every table has ``tenant`` in its key and every statement binds it: there is no query
here that could return or change another tenant's row. Tables are created idempotently
on the caller's connection (the state database, 0600, WAL, autocommit; see
``warden.gateway.state.store``); each write runs in one ``BEGIN IMMEDIATE`` transaction.

A resource is kept as its SCIM JSON (``doc``, without ``id``, ``meta``, ``password``
and, for users, the read-only ``groups``) beside the columns its lookups need.
Group membership lives in ``scim_members`` only (a group's ``doc`` has no ``members``),
so "which groups is this user in" is one indexed query and deleting a user drops it
from every group at once.

Over 400 lines: users and groups are read through one table of the two kinds (`_Table`);
their writes differ in columns and uniqueness, and the memberships and the outbox are here.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

# Step 1 of MIGRATIONS (released: never edit it, append a step); ``{tokens}`` are the
# backend's type names (warden/gateway/state/dialect.py).
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS scim_users (
        seq {rowid},          -- creation order: stable pagination
        tenant TEXT NOT NULL,
        id TEXT NOT NULL,
        user_name TEXT NOT NULL,
        user_name_key TEXT NOT NULL,      -- NFC + casefold: userName is case-insensitive
        external_id TEXT,
        active INTEGER NOT NULL,
        version INTEGER NOT NULL,         -- meta.version is W/"<version>"
        created TEXT NOT NULL,
        last_modified TEXT NOT NULL,
        doc TEXT NOT NULL,                -- SCIM JSON without id, meta, password, groups
        UNIQUE (tenant, id),
        UNIQUE (tenant, user_name_key)
    )""",
    "CREATE INDEX IF NOT EXISTS scim_users_external ON scim_users (tenant, external_id)",
    """CREATE TABLE IF NOT EXISTS scim_groups (
        seq {rowid},
        tenant TEXT NOT NULL,
        id TEXT NOT NULL,
        display_name TEXT NOT NULL,
        display_key TEXT NOT NULL,        -- NFC + casefold
        external_id TEXT,
        version INTEGER NOT NULL,
        created TEXT NOT NULL,
        last_modified TEXT NOT NULL,
        doc TEXT NOT NULL,                -- SCIM JSON without id, meta, members
        UNIQUE (tenant, id)
    )""",
    "CREATE INDEX IF NOT EXISTS scim_groups_display ON scim_groups (tenant, display_key)",
    "CREATE INDEX IF NOT EXISTS scim_groups_external ON scim_groups (tenant, external_id)",
    """CREATE TABLE IF NOT EXISTS scim_members (
        tenant TEXT NOT NULL,
        group_id TEXT NOT NULL,
        member_id TEXT NOT NULL,
        member_type TEXT NOT NULL CHECK (member_type IN ('User', 'Group')),
        display TEXT,
        position INTEGER NOT NULL,        -- the order the client gave
        PRIMARY KEY (tenant, group_id, member_id)
    )""",
    "CREATE INDEX IF NOT EXISTS scim_members_member ON scim_members (tenant, member_id)",
    """CREATE TABLE IF NOT EXISTS scim_deprovision_outbox (
        seq {rowid},
        tenant TEXT NOT NULL,
        user_id TEXT NOT NULL,
        reason TEXT NOT NULL,
        "user" TEXT NOT NULL,             -- JSON: id, userName, externalId, emails;
                                          -- quoted: USER is reserved in PostgreSQL
        created_at {float} NOT NULL
    )""",
)
# This store's schema, step by step (see warden/gateway/state/migrate.py); released steps are
# never edited, only appended.
MIGRATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("SCIM users, groups, members, deprovisioning outbox", SCHEMA),
)

MemberType = Literal["User", "Group"]


@dataclass(frozen=True, slots=True)
class StoredUser:
    id: str
    user_name: str
    external_id: str | None
    active: bool
    version: int
    created: str
    last_modified: str
    doc: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredGroup:
    id: str
    display_name: str
    external_id: str | None
    version: int
    created: str
    last_modified: str
    doc: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    type: MemberType
    display: str | None = None


@dataclass(frozen=True, slots=True)
class PendingDeprovision:
    seq: int
    tenant: str
    reason: str
    user: dict[str, Any]


class VersionConflict(Exception):
    """The row changed between read and write (another writer won)."""


class DuplicateUserName(Exception):
    pass


def _user(row: Sequence[Any]) -> StoredUser:
    uid, name, ext, active, version, created, modified, doc = row
    return StoredUser(uid, name, ext, bool(active), version, created, modified, json.loads(doc))


def _group(row: Sequence[Any]) -> StoredGroup:
    gid, name, ext, version, created, modified, doc = row
    return StoredGroup(gid, name, ext, version, created, modified, json.loads(doc))


@dataclass(frozen=True, slots=True)
class _Table[Row]:
    """Where one kind of resource is stored: its table, columns, filter indexes, row type."""

    name: str
    columns: str
    #: A filter's attribute (folded) -> the indexed column that answers it in SQL.
    index: dict[str, str]
    row: Callable[[Sequence[Any]], Row]


_USERS: Final = _Table(
    "scim_users",
    "id, user_name, external_id, active, version, created, last_modified, doc",
    {"username": "user_name_key", "externalid": "external_id", "id": "id"},
    _user,
)
_GROUPS: Final = _Table(
    "scim_groups",
    "id, display_name, external_id, version, created, last_modified, doc",
    {"displayname": "display_key", "externalid": "external_id", "id": "id"},
    _group,
)


def _dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


class ScimStore:
    """Rows of one connection; the caller owns the file and its permissions."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._lock = threading.RLock()
        self._depth = 0

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction, whatever the connection's isolation level; re-entrant."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            if self._conn.in_transaction:  # a Python-managed implicit transaction
                self._conn.commit()
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._depth = 0
                self._conn.execute("ROLLBACK")
                raise
            self._depth = 0
            self._conn.execute("COMMIT")

    # -- users ---------------------------------------------------------------------------

    def _one[Row](self, table: _Table[Row], tenant: str, rid: str) -> Row | None:
        row = self._conn.execute(
            f"SELECT {table.columns} FROM {table.name} WHERE tenant = ? AND id = ?",  # noqa: S608 - constant names
            (tenant, rid),
        ).fetchone()
        return table.row(row) if row else None

    def _rows[Row](
        self,
        table: _Table[Row],
        tenant: str,
        where: tuple[str, str] | None,
        window: tuple[int, int] | None,
    ) -> Iterator[Row]:
        sql = f"SELECT {table.columns} FROM {table.name} WHERE tenant = ?"  # noqa: S608
        params: tuple[str | int, ...] = (tenant,)
        if where is not None and where[0] in table.index:  # others: filtered by the caller
            column = table.index[where[0]]  # a fixed column name, never client text
            sql += f" AND {column} = ?"
            params = (tenant, where[1])
        sql += " ORDER BY seq"
        if window is not None:
            sql += " LIMIT ? OFFSET ?"
            params = (*params, window[1], window[0])
        for row in self._conn.execute(sql, params):
            yield table.row(row)

    def _update(
        self,
        table: _Table[Any],
        tenant: str,
        rid: str,
        version: int,
        columns: Mapping[str, str | int | None],
        doc: dict[str, Any],
        now: str,
    ) -> None:
        """Write a row's ``columns`` and document if it is still at ``version``; the next
        version. ``columns`` names come from this module, never from a client."""
        sets = "".join(f"{name} = ?, " for name in columns)
        cursor = self._conn.execute(
            f"UPDATE {table.name} SET {sets}version = version + 1, last_modified = ?, doc = ?"  # noqa: S608
            " WHERE tenant = ? AND id = ? AND version = ?",
            (*columns.values(), now, _dump(doc), tenant, rid, version),
        )
        if cursor.rowcount != 1:
            raise VersionConflict(rid)

    def user(self, tenant: str, user_id: str) -> StoredUser | None:
        return self._one(_USERS, tenant, user_id)

    def user_by_key(self, tenant: str, user_name_key: str) -> StoredUser | None:
        return next(self._rows(_USERS, tenant, ("username", user_name_key), None), None)

    def users_by_external_id(self, tenant: str, external_id: str) -> list[StoredUser]:
        return list(self._rows(_USERS, tenant, ("externalid", external_id), None))

    def users(
        self,
        tenant: str,
        where: tuple[str, str] | None = None,
        window: tuple[int, int] | None = None,
    ) -> Iterator[StoredUser]:
        """A tenant's users in creation order; ``where``: (indexed attribute, value);
        ``window``: (offset, limit)."""
        return self._rows(_USERS, tenant, where, window)

    def count(self, tenant: str, kind: MemberType) -> int:
        table = (_USERS if kind == "User" else _GROUPS).name
        (n,) = self._conn.execute(
            f"SELECT COUNT(*) FROM {table} WHERE tenant = ?",  # noqa: S608 - fixed table name
            (tenant,),
        ).fetchone()
        return int(n)

    def insert_user(
        self,
        tenant: str,
        user_id: str,
        user_name: str,
        user_name_key: str,
        external_id: str | None,
        active: bool,
        doc: dict[str, Any],
        now: str,
    ) -> StoredUser:
        try:
            self._conn.execute(
                "INSERT INTO scim_users (tenant, id, user_name, user_name_key, external_id,"
                " active, version, created, last_modified, doc) VALUES (?,?,?,?,?,?,1,?,?,?)",
                (tenant, user_id, user_name, user_name_key, external_id, int(active), now, now,
                 _dump(doc)),
            )  # fmt: skip
        except sqlite3.IntegrityError:
            raise DuplicateUserName(user_name) from None
        return StoredUser(user_id, user_name, external_id, active, 1, now, now, doc)

    def update_user(
        self,
        tenant: str,
        before: StoredUser,
        user_name: str,
        user_name_key: str,
        external_id: str | None,
        active: bool,
        doc: dict[str, Any],
        now: str,
    ) -> StoredUser:
        columns = {
            "user_name": user_name,
            "user_name_key": user_name_key,
            "external_id": external_id,
            "active": int(active),
        }
        try:
            self._update(_USERS, tenant, before.id, before.version, columns, doc, now)
        except sqlite3.IntegrityError:
            raise DuplicateUserName(user_name) from None
        return StoredUser(
            before.id, user_name, external_id, active, before.version + 1, before.created, now, doc
        )

    def delete_user(self, tenant: str, user_id: str) -> list[str]:
        """Delete a user and its memberships; the ids of the groups it was in."""
        groups = [g for g, _ in self.groups_of_member(tenant, user_id)]
        self._conn.execute(
            "DELETE FROM scim_members WHERE tenant = ? AND member_id = ?", (tenant, user_id)
        )
        self._conn.execute("DELETE FROM scim_users WHERE tenant = ? AND id = ?", (tenant, user_id))
        return groups

    # -- groups --------------------------------------------------------------------------

    def group(self, tenant: str, group_id: str) -> StoredGroup | None:
        return self._one(_GROUPS, tenant, group_id)

    def groups(
        self,
        tenant: str,
        where: tuple[str, str] | None = None,
        window: tuple[int, int] | None = None,
    ) -> Iterator[StoredGroup]:
        """A tenant's groups in creation order (``where`` and ``window`` as for users)."""
        return self._rows(_GROUPS, tenant, where, window)

    def insert_group(
        self,
        tenant: str,
        group_id: str,
        display_name: str,
        display_key: str,
        external_id: str | None,
        doc: dict[str, Any],
        now: str,
    ) -> StoredGroup:
        self._conn.execute(
            "INSERT INTO scim_groups (tenant, id, display_name, display_key, external_id,"
            " version, created, last_modified, doc) VALUES (?,?,?,?,?,1,?,?,?)",
            (tenant, group_id, display_name, display_key, external_id, now, now, _dump(doc)),
        )
        return StoredGroup(group_id, display_name, external_id, 1, now, now, doc)

    def update_group(
        self,
        tenant: str,
        before: StoredGroup,
        display_name: str,
        display_key: str,
        external_id: str | None,
        doc: dict[str, Any],
        now: str,
    ) -> StoredGroup:
        columns = {
            "display_name": display_name,
            "display_key": display_key,
            "external_id": external_id,
        }
        self._update(_GROUPS, tenant, before.id, before.version, columns, doc, now)
        return StoredGroup(
            before.id, display_name, external_id, before.version + 1, before.created, now, doc
        )

    def touch_groups(self, tenant: str, group_ids: Iterable[str], now: str) -> None:
        """A new meta.version for groups whose members changed from elsewhere."""
        self._conn.executemany(
            "UPDATE scim_groups SET version = version + 1, last_modified = ?"
            " WHERE tenant = ? AND id = ?",
            [(now, tenant, g) for g in group_ids],
        )

    def delete_group(self, tenant: str, group_id: str) -> list[str]:
        """Delete a group, its memberships and its own membership in other groups."""
        parents = [g for g, _ in self.groups_of_member(tenant, group_id)]
        self._conn.execute(
            "DELETE FROM scim_members WHERE tenant = ? AND (group_id = ? OR member_id = ?)",
            (tenant, group_id, group_id),
        )
        self._conn.execute(
            "DELETE FROM scim_groups WHERE tenant = ? AND id = ?", (tenant, group_id)
        )
        return parents

    # -- membership ----------------------------------------------------------------------

    def members(self, tenant: str, group_id: str) -> list[Member]:
        rows = self._conn.execute(
            "SELECT member_id, member_type, display FROM scim_members"
            " WHERE tenant = ? AND group_id = ? ORDER BY position",
            (tenant, group_id),
        )
        return [Member(mid, mtype, display) for mid, mtype, display in rows]

    def set_members(self, tenant: str, group_id: str, members: Sequence[Member]) -> None:
        self._conn.execute(
            "DELETE FROM scim_members WHERE tenant = ? AND group_id = ?", (tenant, group_id)
        )
        self._conn.executemany(
            "INSERT INTO scim_members (tenant, group_id, member_id, member_type, display,"
            " position) VALUES (?,?,?,?,?,?)",
            [(tenant, group_id, m.id, m.type, m.display, i) for i, m in enumerate(members)],
        )

    def groups_of_member(self, tenant: str, member_id: str) -> list[tuple[str, str]]:
        """(group id, displayName) of the groups ``member_id`` is directly in."""
        rows = self._conn.execute(
            "SELECT g.id, g.display_name FROM scim_members m"
            " JOIN scim_groups g ON g.tenant = m.tenant AND g.id = m.group_id"
            " WHERE m.tenant = ? AND m.member_id = ? ORDER BY g.seq",
            (tenant, member_id),
        )
        return [(gid, name) for gid, name in rows]

    def member_types(self, tenant: str, ids: Iterable[str]) -> dict[str, MemberType]:
        """Which of ``ids`` are users or groups of this tenant (absent: neither)."""
        found: dict[str, MemberType] = {}
        for mid in set(ids):
            if self._conn.execute(
                "SELECT 1 FROM scim_users WHERE tenant = ? AND id = ?", (tenant, mid)
            ).fetchone():
                found[mid] = "User"
            elif self._conn.execute(
                "SELECT 1 FROM scim_groups WHERE tenant = ? AND id = ?", (tenant, mid)
            ).fetchone():
                found[mid] = "Group"
        return found

    # -- deprovisioning outbox -----------------------------------------------------------

    def queue_deprovision(self, tenant: str, user: dict[str, Any], reason: str, now: float) -> None:
        self._conn.execute(
            'INSERT INTO scim_deprovision_outbox (tenant, user_id, reason, "user", created_at)'
            " VALUES (?,?,?,?,?)",
            (tenant, user["id"], reason, _dump(user), now),
        )

    def pending_deprovisions(self) -> list[PendingDeprovision]:
        rows = self._conn.execute(
            'SELECT seq, tenant, reason, "user" FROM scim_deprovision_outbox ORDER BY seq'
        )
        return [PendingDeprovision(seq, t, reason, json.loads(u)) for seq, t, reason, u in rows]

    def deprovision_done(self, tenant: str, seq: int) -> None:
        self._conn.execute(
            "DELETE FROM scim_deprovision_outbox WHERE tenant = ? AND seq = ?", (tenant, seq)
        )
