"""Sessions, device credentials, surrogate-IP bindings: SQLite to keep, memory to resolve.

Every credential a client presents (portal cookie, device credential) is a random opaque
token; only its SHA-256 is stored (the tokens carry 256 bits of entropy, so a fast hash
is enough: there is nothing to brute-force). The proxy resolves identities from the
in-memory index only, never from disk and never from the IdP; every write goes to SQLite
first and then to memory, and every revocation removes from memory at once, so
deprovisioning takes effect on the very next request.

``revocations`` counts every revocation (of a session, a person, a device credential),
including one that found nothing to end here: a service JWT has no session, yet a
connection that authenticated with one re-checks its person when the count changes.

Over 400 lines: sessions, device credentials and IP bindings share one index and its locking.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace

SESSION_TOKEN_BYTES = 32  # 256-bit opaque tokens: unguessable, so hashing needs no salt or cost
DEVICE_TOKEN_PREFIX = "wdc_"  # noqa: S105 - a prefix, not a secret; lets secret scanners and our own DLP recognise a leaked credential

# Step 1 of MIGRATIONS (released: never edit it, append a step); ``{tokens}`` are the
# backend's type names (warden/gateway/state/dialect.py).
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS sessions (
        id TEXT PRIMARY KEY,              -- sha256 of the session token, hex
        tenant TEXT NOT NULL,
        issuer TEXT NOT NULL,
        subject TEXT NOT NULL,
        email TEXT,
        department TEXT,
        groups TEXT NOT NULL DEFAULT '',  -- newline-separated
        auth_method TEXT NOT NULL,
        idp_session TEXT,                 -- the IdP's sid, for back-channel logout
        created_at {float} NOT NULL,
        expires_at {float} NOT NULL,
        revoked_at {float},
        revoked_reason TEXT,
        refresh_token {blob},               -- encrypted at rest by the caller, or NULL
        checked_at {float}                   -- when the IdP last vouched for the user
    )""",
    "CREATE INDEX IF NOT EXISTS sessions_user ON sessions (tenant, issuer, subject)",
    """CREATE TABLE IF NOT EXISTS device_credentials (
        id TEXT PRIMARY KEY,              -- sha256 of the credential, hex
        session_id TEXT NOT NULL REFERENCES sessions(id),
        label TEXT NOT NULL DEFAULT '',
        created_at {float} NOT NULL,
        expires_at {float} NOT NULL,
        revoked_at {float}
    )""",
    """CREATE TABLE IF NOT EXISTS surrogate_bindings (
        client_addr TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions(id),
        expires_at {float} NOT NULL
    )""",
    # A reviewer's revocation of a person: credentials the gateway does not keep (service
    # JWTs from the IdP) issued before this moment are refused.
    """CREATE TABLE IF NOT EXISTS person_revocations (
        tenant TEXT NOT NULL,
        subject TEXT NOT NULL,
        revoked_at {float} NOT NULL,
        PRIMARY KEY (tenant, subject)
    )""",
)
# Step 2: bumped by every write here, in the same transaction: the processes that share
# this database (proxy.workers) poll one row to know their in-memory index is stale.
GENERATION = (
    """CREATE TABLE IF NOT EXISTS session_generation (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        generation INTEGER NOT NULL
    )""",
    "INSERT INTO session_generation VALUES (1, 0) ON CONFLICT (id) DO NOTHING",
)
# This store's schema, step by step (see warden/gateway/state/migrate.py); released steps are
# never edited, only appended.
MIGRATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("sessions, device credentials, surrogate bindings, person revocations", SCHEMA),
    ("the generation row the workers of one host poll (proxy.workers)", GENERATION),
)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class UserIdentity:
    """Who signed in: ``issuer`` + ``subject`` is the identity of record, never the e-mail."""

    tenant: str
    issuer: str
    subject: str
    email: str | None = None
    department: str | None = None
    groups: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.tenant, self.issuer, self.subject)


@dataclass(frozen=True, slots=True)
class Session:
    id: str  # the token's hash; the token itself is never kept
    user: UserIdentity
    auth_method: str
    created_at: float
    expires_at: float
    idp_session: str | None = None
    revoked_at: float | None = None

    def live(self, now: float) -> bool:
        return self.revoked_at is None and now < self.expires_at


@dataclass(frozen=True, slots=True)
class EndedCredential:
    """Whose a refused device credential was, and why it no longer works.

    ``reason`` is a stable code: ``deprovisioned`` (the directory took access away),
    ``session_revoked`` (sign-out, a reviewer's or administrator's revocation),
    ``device_credential_revoked`` (that credential alone), ``session_expired``.
    ``detail`` is the revocation's own text (``revoked by a reviewer`` …), if any.
    """

    user: UserIdentity
    reason: str
    detail: str | None = None


#: The revocation texts that mean the directory (SCIM, an IdP re-check) ended access.
_DEPROVISIONED_MARKS = ("deprovisioned", "idp re-check")


@dataclass(frozen=True, slots=True)
class IssuedSession:
    token: str  # hand to the client once; only its hash is stored
    session: Session


@dataclass
class _Index:
    sessions: dict[str, Session] = field(default_factory=dict)
    devices: dict[str, tuple[str, float]] = field(default_factory=dict)  # hash -> (session, exp)
    surrogates: dict[str, tuple[str, float]] = field(default_factory=dict)  # addr -> (session, exp)
    not_before: dict[tuple[str, str], float] = field(default_factory=dict)  # (tenant, sub) -> t


class SessionStore:
    """Create, resolve and revoke sessions and the credentials bound to them."""

    def __init__(self, conn: sqlite3.Connection, clock: Callable[[], float] = time.time) -> None:
        self._conn = conn
        self._clock = clock
        self._lock = threading.Lock()  # writes come from the portal's threads and the loop
        #: Bumped by every revocation; identities cached per connection (service JWTs)
        #: are re-checked when it moves. An int compare per request, nothing more.
        self.revocations = 0
        #: Called (from the revoking thread) after this process revoked something itself,
        #: whatever asked for it: a request, an IdP re-check, SCIM's retried
        #: deprovisioning. The control plane pushes it to every proxy worker from there
        #: (warden/gateway/push.py). Not called for changes read from the database.
        self.on_revoked: Callable[[], None] | None = None
        #: True where other processes write to the same SQLite file (proxy.workers > 1):
        #: a miss then looks at one local row. Never on a server database (PostgreSQL):
        #: there a look is a network round trip a stalled or stopped server would hold or
        #: fail on the request path; its commits reach memory by notification instead.
        self._shared = False
        self._local_file = isinstance(conn, sqlite3.Connection)
        self._seen = self._generation()
        #: Commits of this process (under ``_lock``): a reload that overlapped one reads again.
        self._writes = 0
        self._index = self._load()

    @property
    def shared(self) -> bool:
        return self._shared

    @shared.setter
    def shared(self, value: bool) -> None:
        self._shared = value and self._local_file

    @contextlib.contextmanager
    def _tx(self) -> Iterator[None]:
        """One transaction, whatever the connection's isolation level."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            before = self._generation()
            yield
            self._conn.execute(
                "UPDATE session_generation SET generation = generation + 1 WHERE id = 1"
            )
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
        self._writes += 1  # under self._lock, as every caller holds it
        if before == self._seen:  # memory was current, and this write is in it too
            self._seen = before + 1

    def _generation(self) -> int:
        row = self._conn.execute("SELECT generation FROM session_generation").fetchone()
        return int(row[0]) if row else 0

    def catch_up(self) -> bool:
        """Reload memory if another process (a worker, the control plane) wrote since we
        last looked: one single-row read, so it can run every 200 ms. Connections that
        cached an identity re-check it (``revocations`` moves). True when reloaded."""
        generation = self._generation()
        if generation == self._seen:
            return False
        self._take_fresh_index(generation)
        return True

    def _take_fresh_index(self, generation: int | None) -> None:
        """Swap in an index read afresh from the database, without losing what this
        process wrote while it was read: the read runs outside the lock (writes from the
        portal's threads go on meanwhile) and is repeated when one of them committed, the
        last time under the lock. (Swapping in a read that began before a sign-in's
        commit dropped that session from memory: its device credential was refused.)"""
        for _attempt in range(3):
            writes = self._writes
            index = self._load()
            with self._lock:
                if self._writes == writes:
                    self._installed(index, generation)
                    return
        with self._lock:
            self._installed(self._load(), generation)

    def _installed(self, index: _Index, generation: int | None) -> None:
        self._index = index
        if generation is not None:
            self._seen = generation
        self.revocations += 1

    # -- loading -----------------------------------------------------------------------

    def _load(self) -> _Index:
        now = self._clock()
        index = _Index()
        rows = self._conn.execute(
            "SELECT id, tenant, issuer, subject, email, department, groups, auth_method,"
            " idp_session, created_at, expires_at FROM sessions"
            " WHERE revoked_at IS NULL AND expires_at > ?",
            (now,),
        )
        for sid, tenant, iss, sub, email, dept, groups, method, idp_sid, created, exp in rows:
            user = UserIdentity(tenant, iss, sub, email, dept, _split(groups))
            index.sessions[sid] = Session(sid, user, method, created, exp, idp_sid)
        for cid, sid, exp in self._conn.execute(
            "SELECT id, session_id, expires_at FROM device_credentials"
            " WHERE revoked_at IS NULL AND expires_at > ?",
            (now,),
        ):
            if sid in index.sessions:
                index.devices[cid] = (sid, exp)
        for addr, sid, exp in self._conn.execute(
            "SELECT client_addr, session_id, expires_at FROM surrogate_bindings"
            " WHERE expires_at > ?",
            (now,),
        ):
            if sid in index.sessions:
                index.surrogates[addr] = (sid, exp)
        for tenant, sub, at in self._conn.execute(
            "SELECT tenant, subject, revoked_at FROM person_revocations"
        ):
            index.not_before[(tenant, sub)] = at
        return index

    def reload(self) -> None:
        """Re-read every live row: another process committed a change (a fleet's other
        instance). Counts as a revocation, so cached identities are re-checked."""
        self._take_fresh_index(None)

    # -- creating ----------------------------------------------------------------------

    def create_session(
        self,
        user: UserIdentity,
        auth_method: str,
        lifetime_s: float,
        *,
        idp_session: str | None = None,
        refresh_token: bytes | None = None,
    ) -> IssuedSession:
        token = secrets.token_urlsafe(SESSION_TOKEN_BYTES)
        now = self._clock()
        session = Session(token_hash(token), user, auth_method, now, now + lifetime_s, idp_session)
        with self._lock, self._tx():
            self._conn.execute(
                "INSERT INTO sessions (id, tenant, issuer, subject, email, department, groups,"
                " auth_method, idp_session, created_at, expires_at, refresh_token)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    session.id,
                    user.tenant,
                    user.issuer,
                    user.subject,
                    user.email,
                    user.department,
                    "\n".join(user.groups),
                    auth_method,
                    idp_session,
                    now,
                    session.expires_at,
                    refresh_token,
                ),
            )
            self._index.sessions[session.id] = session
        return IssuedSession(token, session)

    def issue_device_credential(self, session: Session, label: str = "") -> str:
        """A proxy credential bound to the session: it expires and is revoked with it."""
        token = DEVICE_TOKEN_PREFIX + secrets.token_urlsafe(SESSION_TOKEN_BYTES)
        cid = token_hash(token)
        with self._lock, self._tx():
            if not self._live(session.id):
                raise SessionEnded("the session ended; sign in again")
            self._conn.execute(
                "INSERT INTO device_credentials (id, session_id, label, created_at, expires_at)"
                " VALUES (?,?,?,?,?)",
                (cid, session.id, label[:100], self._clock(), session.expires_at),
            )
            self._index.devices[cid] = (session.id, session.expires_at)
        return token

    def bind_surrogate(self, client_addr: str, session: Session, ttl_s: float) -> None:
        addr = str(ipaddress.ip_address(client_addr))
        expires = min(self._clock() + ttl_s, session.expires_at)
        with self._lock, self._tx():
            if not self._live(session.id):
                raise SessionEnded("the session ended; sign in again")
            self._conn.execute(
                "INSERT INTO surrogate_bindings VALUES (?,?,?) ON CONFLICT (client_addr) DO UPDATE"
                " SET session_id = excluded.session_id, expires_at = excluded.expires_at",
                (addr, session.id, expires),
            )
            self._index.surrogates[addr] = (session.id, expires)

    # -- resolving (hot path: memory only) -------------------------------------------

    def _live(self, sid: str) -> Session | None:
        session = self._index.sessions.get(sid)
        return session if session is not None and session.live(self._clock()) else None

    def _missed(self) -> bool:
        """A credential not in memory may have been issued by another process of the host
        a moment ago (a sign-in on the control plane): look once, then answer. One
        single-row read per unknown credential; the index reloads only if it is stale.
        Only on a local SQLite file (``shared``): on PostgreSQL an unknown credential or
        address is answered from memory, never by the database."""
        return self._shared and self.catch_up()

    def session_by_token(self, token: str) -> Session | None:
        sid = token_hash(token)
        if sid not in self._index.sessions:
            self._missed()
        return self._live(sid)

    def session_by_device_credential(self, token: str) -> Session | None:
        cid = token_hash(token)
        entry = self._index.devices.get(cid)
        if entry is None and self._missed():
            entry = self._index.devices.get(cid)
        if entry is None or entry[1] <= self._clock():
            return None
        return self._live(entry[0])

    def ended_device_credential(self, token: str) -> EndedCredential | None:
        """The owner of a device credential that no longer works, and why; ``None`` when
        the gateway never issued it (a forged or mistyped credential stays anonymous) or
        when it still works. One primary-key read of the database: only refused
        credentials come here, and an unknown one costs the same single lookup."""
        with self._lock:
            row = self._conn.execute(
                "SELECT s.tenant, s.issuer, s.subject, s.email, s.department, s.groups,"
                " s.expires_at, s.revoked_at, s.revoked_reason, d.expires_at, d.revoked_at"
                " FROM device_credentials d JOIN sessions s ON s.id = d.session_id"
                " WHERE d.id = ?",
                (token_hash(token),),
            ).fetchone()
        if row is None:
            return None
        tenant, iss, sub, email, dept, groups, s_exp, s_revoked, why, d_exp, d_revoked = row
        user = UserIdentity(tenant, iss, sub, email, dept, _split(groups))
        detail = why[:200] if isinstance(why, str) and why else None
        now = self._clock()
        if s_revoked is not None:
            lowered = (detail or "").lower()
            deprovisioned = any(mark in lowered for mark in _DEPROVISIONED_MARKS)
            return EndedCredential(
                user, "deprovisioned" if deprovisioned else "session_revoked", detail
            )
        if d_revoked is not None:
            return EndedCredential(user, "device_credential_revoked")
        if min(s_exp, d_exp) <= now:
            return EndedCredential(user, "session_expired")
        return None

    def session_by_surrogate(self, client_addr: str) -> Session | None:
        entry = self._index.surrogates.get(client_addr)
        if entry is None and self._missed():
            entry = self._index.surrogates.get(client_addr)
        if entry is None or entry[1] <= self._clock():
            return None
        return self._live(entry[0])

    # -- revoking --------------------------------------------------------------------

    def revoke_sessions(self, session_ids: Iterable[str], reason: str) -> int:
        """End sessions and everything bound to them. Memory is updated under the same
        lock as the database, so no request resolves a revoked session afterwards."""
        ids = [sid for sid in session_ids if sid in self._index.sessions]
        if not ids:
            # The person may still hold a credential we keep no session for (a service
            # JWT): connections that cached one must look again.
            self._bump()
            self._revoked()
            return 0
        now = self._clock()
        marks = ",".join("?" * len(ids))
        with self._lock, self._tx():
            self._conn.execute(
                f"UPDATE sessions SET revoked_at = ?, revoked_reason = ?, refresh_token = NULL"  # noqa: S608
                f" WHERE id IN ({marks}) AND revoked_at IS NULL",
                (now, reason[:200], *ids),
            )
            self._conn.execute(
                f"UPDATE device_credentials SET revoked_at = ? WHERE session_id IN ({marks})"  # noqa: S608
                " AND revoked_at IS NULL",
                (now, *ids),
            )
            self._conn.execute(
                f"DELETE FROM surrogate_bindings WHERE session_id IN ({marks})",  # noqa: S608
                ids,
            )
            gone = set(ids)
            for sid in ids:
                self._index.sessions.pop(sid, None)
            self._index.devices = {k: v for k, v in self._index.devices.items() if v[0] not in gone}
            self._index.surrogates = {
                k: v for k, v in self._index.surrogates.items() if v[0] not in gone
            }
            self.revocations += 1
        self._revoked()
        return len(ids)

    def _bump(self) -> None:
        with self._lock:
            self.revocations += 1

    def _revoked(self) -> None:
        hook = self.on_revoked
        if hook is not None:
            hook()

    def access_changed(self) -> None:
        """Who may use LLMs changed here without a revocation (SCIM: a person or group
        written): identities and answers cached on connections look again, here and, by
        the control plane's push, in every worker."""
        self._bump()
        self._revoked()

    def recheck(self) -> None:
        """Make every connection that cached an identity (service JWTs) look again: another
        process revoked something this one keeps no row of (warden/gateway/push.py)."""
        self._bump()

    def revoke_user(self, tenant: str, issuer: str | None, subject: str, reason: str) -> int:
        """Every session of a person (``issuer`` None: of any issuer in that tenant), and
        every credential of theirs the gateway does not keep (a service JWT) issued
        before now: ``not_before`` refuses those, on open connections too."""
        now = self._clock()
        with self._lock, self._tx():
            self._conn.execute(
                "INSERT INTO person_revocations (tenant, subject, revoked_at) VALUES (?, ?, ?)"
                " ON CONFLICT (tenant, subject) DO UPDATE SET revoked_at = excluded.revoked_at",
                (tenant, subject, now),
            )
            self._index.not_before[(tenant, subject)] = now
        return self.revoke_sessions(
            [
                s.id
                for s in self._index.sessions.values()
                if s.user.tenant == tenant
                and s.user.subject == subject
                and (issuer is None or s.user.issuer == issuer)
            ],
            reason,
        )

    def not_before(self, tenant: str, subject: str) -> float | None:
        """When a reviewer last revoked this person: a credential issued earlier is void."""
        return self._index.not_before.get((tenant, subject))

    def revoke_person(self, tenant: str, identifiers: Iterable[str], reason: str) -> int:
        """Every session in ``tenant`` whose subject or e-mail is one of ``identifiers``
        (SCIM names a person by externalId and userName/e-mail; OIDC by sub)."""
        wanted = {i.lower() for i in identifiers if i}
        return self.revoke_sessions(
            [
                s.id
                for s in self._index.sessions.values()
                if s.user.tenant == tenant
                and (s.user.subject.lower() in wanted or (s.user.email or "").lower() in wanted)
            ],
            reason,
        )

    def revoke_idp_session(self, issuer: str, subject: str | None, idp_session: str | None) -> int:
        """OIDC back-channel logout: by the IdP's ``sid``, else every session of ``sub``."""
        return self.revoke_sessions(
            [
                s.id
                for s in self._index.sessions.values()
                if s.user.issuer == issuer
                and (idp_session is None or s.idp_session == idp_session)
                and (subject is None or s.user.subject == subject)
            ],
            "back-channel logout",
        )

    def revoke_device_credential(self, token: str) -> bool:
        cid = token_hash(token)
        with self._lock, self._tx():
            if self._index.devices.pop(cid, None) is None:
                return False
            self._conn.execute(
                "UPDATE device_credentials SET revoked_at = ? WHERE id = ?", (self._clock(), cid)
            )
            self.revocations += 1
        self._revoked()
        return True

    def refresh_due(self, now: float, every_s: float) -> list[tuple[Session, bytes]]:
        """Live sessions with a refresh token whose user was last checked ``every_s`` ago."""
        rows = self._conn.execute(
            "SELECT id, refresh_token FROM sessions WHERE revoked_at IS NULL AND expires_at > ?"
            " AND refresh_token IS NOT NULL AND COALESCE(checked_at, created_at) <= ?",
            (now, now - every_s),
        ).fetchall()
        return [
            (self._index.sessions[sid], tok) for sid, tok in rows if sid in self._index.sessions
        ]

    def store_refresh(
        self, session_id: str, refresh_token: bytes | None, checked_at: float
    ) -> None:
        with self._lock, self._tx():
            self._conn.execute(
                "UPDATE sessions SET refresh_token = COALESCE(?, refresh_token), checked_at = ?"
                " WHERE id = ?",
                (refresh_token, checked_at, session_id),
            )

    def active_sessions(self, tenant: str | None = None) -> list[Session]:
        now = self._clock()
        return sorted(
            (
                s
                for s in self._index.sessions.values()
                if s.live(now) and (tenant is None or s.user.tenant == tenant)
            ),
            key=lambda s: s.created_at,
        )

    def update_user(self, session: Session, user: UserIdentity) -> Session:
        """After a refresh re-checked the user at the IdP: new department, groups ..."""
        if user.key != session.user.key:
            raise ValueError("a refresh may not change who the session belongs to")
        updated = replace(session, user=user)
        with self._lock, self._tx():
            self._conn.execute(
                "UPDATE sessions SET email = ?, department = ?, groups = ? WHERE id = ?",
                (user.email, user.department, "\n".join(user.groups), session.id),
            )
            if session.id in self._index.sessions:
                self._index.sessions[session.id] = updated
        return updated


class SessionEnded(Exception):
    pass


def _split(groups: str | None) -> tuple[str, ...]:
    return tuple(g for g in (groups or "").split("\n") if g)
