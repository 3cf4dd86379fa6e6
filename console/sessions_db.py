"""The state database's sessions, device credentials and surrogate bindings, read-only.

Every query is limited to the reviewer's tenants: device credentials and surrogate
bindings have no tenant column of their own, so they are reached through their session.
Only public facts are read (the session id, i.e. its token's hash, is shown shortened);
refresh tokens are never selected.

The SQL is what SQLite and PostgreSQL both accept (``?`` placeholders, which the
PostgreSQL reader rewrites), so the screen reads whichever backend the state is on.
"""

from __future__ import annotations

from dataclasses import dataclass

from .context import StateReader
from .scope import ReviewerScope


def _scoped(scope: ReviewerScope, column: str) -> tuple[str, list[str]]:
    """The scope's clause in a form both backends take (PostgreSQL has no integer truth)."""
    clause, params = scope.sql(column)
    return ("1 = 1" if clause == "1" else clause), params


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: str
    tenant: str
    issuer: str
    subject: str
    email: str | None
    department: str | None
    auth_method: str
    created_at: float
    expires_at: float
    devices: int
    surrogates: int

    @property
    def user(self) -> str:
        return self.email or self.subject


@dataclass(frozen=True, slots=True)
class DeviceRow:
    id: str
    session_id: str
    tenant: str
    subject: str
    label: str
    created_at: float
    expires_at: float
    revoked_at: float | None


@dataclass(frozen=True, slots=True)
class SurrogateRow:
    client_addr: str
    session_id: str
    tenant: str
    subject: str
    expires_at: float


def active_sessions(
    conn: StateReader, scope: ReviewerScope, now: float, tenant: str | None = None
) -> list[SessionRow]:
    scope_sql, params = _scoped(scope, "s.tenant")
    extra, args = ("AND s.tenant = ?", [tenant]) if tenant else ("", [])
    rows = conn.execute(
        "SELECT s.id, s.tenant, s.issuer, s.subject, s.email, s.department, s.auth_method, "  # noqa: S608 - constant SQL
        "s.created_at, s.expires_at, "
        "(SELECT COUNT(*) FROM device_credentials d WHERE d.session_id = s.id "
        " AND d.revoked_at IS NULL AND d.expires_at > ?), "
        "(SELECT COUNT(*) FROM surrogate_bindings b WHERE b.session_id = s.id "
        " AND b.expires_at > ?) "
        f"FROM sessions s WHERE {scope_sql} {extra} AND s.revoked_at IS NULL AND s.expires_at > ? "
        "ORDER BY s.tenant, coalesce(s.email, s.subject), s.created_at",
        [now, now, *params, *args, now],
    ).fetchall()
    return [SessionRow(*row) for row in rows]


def device_credentials(conn: StateReader, scope: ReviewerScope, now: float) -> list[DeviceRow]:
    scope_sql, params = _scoped(scope, "s.tenant")
    rows = conn.execute(
        "SELECT d.id, d.session_id, s.tenant, s.subject, d.label, d.created_at, d.expires_at, "  # noqa: S608 - constant SQL
        "d.revoked_at FROM device_credentials d JOIN sessions s ON s.id = d.session_id "
        f"WHERE {scope_sql} AND d.expires_at > ? ORDER BY s.tenant, s.subject, d.created_at",
        [*params, now],
    ).fetchall()
    return [DeviceRow(*row) for row in rows]


def surrogate_bindings(conn: StateReader, scope: ReviewerScope, now: float) -> list[SurrogateRow]:
    scope_sql, params = _scoped(scope, "s.tenant")
    rows = conn.execute(
        "SELECT b.client_addr, b.session_id, s.tenant, s.subject, b.expires_at "  # noqa: S608 - constant SQL
        "FROM surrogate_bindings b JOIN sessions s ON s.id = b.session_id "
        f"WHERE {scope_sql} AND b.expires_at > ? AND s.revoked_at IS NULL "
        "ORDER BY s.tenant, b.client_addr",
        [*params, now],
    ).fetchall()
    return [SurrogateRow(*row) for row in rows]


def session_by_prefix(
    conn: StateReader, scope: ReviewerScope, tenant: str, prefix: str
) -> tuple[SessionRow | None, list[DeviceRow], float | None]:
    """The session an audit record names by its id's prefix, its devices, and its revocation."""
    if not scope.allows(tenant) or not prefix:
        return None, [], None
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    row = conn.execute(
        "SELECT id, tenant, issuer, subject, email, department, auth_method, created_at, "
        "expires_at, 0, 0, revoked_at FROM sessions WHERE tenant = ? AND id LIKE ? ESCAPE '\\' "
        "LIMIT 1",
        (tenant, escaped + "%"),
    ).fetchone()
    if row is None:
        return None, [], None
    session = SessionRow(*row[:11])
    devices = [
        DeviceRow(r[0], r[1], tenant, session.subject, r[2], r[3], r[4], r[5])
        for r in conn.execute(
            "SELECT id, session_id, label, created_at, expires_at, revoked_at "
            "FROM device_credentials WHERE session_id = ? ORDER BY created_at",
            (session.id,),
        )
    ]
    return session, devices, row[11]
