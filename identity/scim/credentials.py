"""SCIM bearer tokens: one per tenant's provisioning client, two during a rotation.

A token is ``wst_`` + 256 random bits (url-safe base64), shown once; only its SHA-256
is stored (256 bits of entropy leave nothing to brute-force, so a fast hash needs no
salt or cost, as for sessions). A presented token is hashed and compared with every
live hash using ``hmac.compare_digest``, never by an indexed lookup on the secret.
At most ``MAX_LIVE_TOKENS`` are live per tenant: rotate by adding the new one, switching
the IdP over, then revoking the old one.

The table is read on every request (no cache), so a token created or revoked by the CLI
in another process takes effect on the gateway's next SCIM request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

TOKEN_PREFIX = "wst_"  # noqa: S105 - a prefix, not a secret; lets secret scanners spot a leak
TOKEN_BYTES = 32
MAX_LIVE_TOKENS = 2  # the old and the new one while an IdP is switched over

# Step 1 of MIGRATIONS (released: never edit it, append a step); ``{tokens}`` are the
# backend's type names (warden/gateway/state/dialect.py).
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS scim_tokens (
        id TEXT PRIMARY KEY,              -- public handle: names the token in events and the CLI
        tenant TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,  -- sha256 of the token, hex
        created_at {float} NOT NULL,
        revoked_at {float}
    )""",
    "CREATE INDEX IF NOT EXISTS scim_tokens_tenant ON scim_tokens (tenant)",
)
# This store's schema, step by step (see warden/gateway/state/migrate.py); released steps are
# never edited, only appended.
MIGRATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (("SCIM bearer tokens", SCHEMA),)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class TooManyTokens(Exception):
    def __init__(self, tenant: str, live: list[str]) -> None:
        super().__init__(
            f"tenant {tenant!r} already has {len(live)} valid SCIM tokens ({', '.join(live)}); "
            f"revoke the older one first: warden scim token revoke --tenant {tenant} --id "
            f"{live[0]}"
        )


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: str
    tenant: str
    created_at: float
    revoked_at: float | None


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a valid token speaks for: the tenant's provisioning client, by token id."""

    tenant: str
    token_id: str


class ScimCredentials:
    def __init__(self, conn: sqlite3.Connection, clock: Callable[[], float] = time.time) -> None:
        self._conn = conn
        self._clock = clock

    def add_token(self, tenant: str) -> str:
        """A new token for ``tenant`` (returned once, never stored); see ``MAX_LIVE_TOKENS``."""
        live = [t.id for t in self.tokens(tenant) if t.revoked_at is None]
        if len(live) >= MAX_LIVE_TOKENS:
            raise TooManyTokens(tenant, live)
        token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        token_id = secrets.token_hex(4)
        self._conn.execute(
            "INSERT INTO scim_tokens (id, tenant, token_hash, created_at) VALUES (?,?,?,?)",
            (token_id, tenant, _hash(token), self._clock()),
        )
        if self._conn.in_transaction:
            self._conn.commit()
        return token

    def revoke(self, tenant: str, token_id: str) -> bool:
        cursor = self._conn.execute(
            "UPDATE scim_tokens SET revoked_at = ? WHERE tenant = ? AND id = ?"
            " AND revoked_at IS NULL",
            (self._clock(), tenant, token_id),
        )
        if self._conn.in_transaction:
            self._conn.commit()
        return cursor.rowcount == 1

    def revoke_all(self, tenant: str) -> int:
        cursor = self._conn.execute(
            "UPDATE scim_tokens SET revoked_at = ? WHERE tenant = ? AND revoked_at IS NULL",
            (self._clock(), tenant),
        )
        if self._conn.in_transaction:
            self._conn.commit()
        return cursor.rowcount

    def tokens(self, tenant: str) -> list[TokenInfo]:
        rows = self._conn.execute(
            "SELECT id, tenant, created_at, revoked_at FROM scim_tokens WHERE tenant = ?"
            " ORDER BY created_at",
            (tenant,),
        )
        return [TokenInfo(*row) for row in rows]

    def authenticate(self, token: str) -> Caller | None:
        """The tenant and token id a presented token belongs to, or None."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 256:
            return None
        presented = _hash(token)
        found: Caller | None = None
        # Compare with every live hash (a handful: at most two per tenant) so the time
        # taken does not depend on which one matched.
        for token_id, tenant, stored in self._conn.execute(
            "SELECT id, tenant, token_hash FROM scim_tokens WHERE revoked_at IS NULL"
        ):
            if hmac.compare_digest(presented, stored):
                found = Caller(tenant, token_id)
        return found


def create_token(conn: sqlite3.Connection, tenant: str) -> str:
    """``warden scim token create --tenant T``: a new token, to be printed once."""
    return ScimCredentials(conn).add_token(tenant)
