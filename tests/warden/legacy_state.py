"""The state database as the gateway before versioned migrations left it (test data).

The DDL below is copied verbatim from the code of that time (``warden/gateway/state/store.py``,
``identity/sessions.py``, ``identity/scim/store.py``, ``identity/scim/credentials.py``,
``policy/quotastore.py``): each store created its tables itself and ``store.py``'s one
migration created an unused ``meta`` table. ``build_legacy_store`` writes such a file with
one row in every table, so the owner of the state database can be shown to adopt it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

SESSIONS = (
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
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        revoked_at REAL,
        revoked_reason TEXT,
        refresh_token BLOB,               -- encrypted at rest by the caller, or NULL
        checked_at REAL                   -- when the IdP last vouched for the user
    )""",
    "CREATE INDEX IF NOT EXISTS sessions_user ON sessions (tenant, issuer, subject)",
    """CREATE TABLE IF NOT EXISTS device_credentials (
        id TEXT PRIMARY KEY,              -- sha256 of the credential, hex
        session_id TEXT NOT NULL REFERENCES sessions(id),
        label TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        revoked_at REAL
    )""",
    """CREATE TABLE IF NOT EXISTS surrogate_bindings (
        client_addr TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions(id),
        expires_at REAL NOT NULL
    )""",
    # A reviewer's revocation of a person: credentials the gateway does not keep (service
    # JWTs from the IdP) issued before this moment are refused.
    """CREATE TABLE IF NOT EXISTS person_revocations (
        tenant TEXT NOT NULL,
        subject TEXT NOT NULL,
        revoked_at REAL NOT NULL,
        PRIMARY KEY (tenant, subject)
    )""",
)


SCIM = (
    """CREATE TABLE IF NOT EXISTS scim_users (
        seq INTEGER PRIMARY KEY,          -- creation order: stable pagination
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
        seq INTEGER PRIMARY KEY,
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
        seq INTEGER PRIMARY KEY,
        tenant TEXT NOT NULL,
        user_id TEXT NOT NULL,
        reason TEXT NOT NULL,
        user TEXT NOT NULL,               -- JSON: id, userName, externalId, emails
        created_at REAL NOT NULL
    )""",
)


SCIM_TOKENS = (
    """CREATE TABLE IF NOT EXISTS scim_tokens (
        id TEXT PRIMARY KEY,              -- public handle: names the token in events and the CLI
        tenant TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,  -- sha256 of the token, hex
        created_at REAL NOT NULL,
        revoked_at REAL
    )""",
    "CREATE INDEX IF NOT EXISTS scim_tokens_tenant ON scim_tokens (tenant)",
)


QUOTAS = """
CREATE TABLE IF NOT EXISTS policy_quota_counters (
    tenant       TEXT    NOT NULL,
    scope        TEXT    NOT NULL CHECK (scope IN ('user', 'department', 'tenant')),
    key          TEXT    NOT NULL,  -- subject, department name, or '' for the tenant
    metric       TEXT    NOT NULL,  -- requests_per_minute | tokens_per_day | tokens_per_month
    window_start INTEGER NOT NULL,  -- epoch seconds, UTC, start of the fixed window
    value        INTEGER NOT NULL,
    estimated    INTEGER NOT NULL DEFAULT 0,  -- part of value estimated from text length
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant, scope, key, metric)
) WITHOUT ROWID
"""

# warden/gateway/state/store.py's MIGRATIONS of that time, applied by its _migrate.
LEDGER = (
    "CREATE TABLE IF NOT EXISTS schema_migrations"
    " (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "INSERT INTO schema_migrations VALUES (1, strftime('%Y-%m-%dT%H:%M:%fZ','now'))",
)

SESSION_TOKEN = "legacy-session-token"
DEVICE_TOKEN = "wdc_legacy-device-credential"
SCIM_TOKEN = "wst_legacy-provisioning-token"
NOW = 1_800_000_000.0  # 2027-01-15: every row below is live then


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def build_legacy_store(path: Path) -> None:
    """A state database with the old layout and one row in every table."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    for statement in (*LEDGER, *SESSIONS, *SCIM, *SCIM_TOKENS, QUOTAS):
        conn.execute(statement)
    sid = _sha(SESSION_TOKEN)
    conn.execute(
        "INSERT INTO sessions (id, tenant, issuer, subject, email, department, groups,"
        " auth_method, created_at, expires_at, refresh_token)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (sid, "acme", "https://idp.acme", "u-alice", "alice@acme.example", "eng",
         "staff\nml", "oidc", NOW - 60, NOW + 3600, b"\x00sealed"),
    )  # fmt: skip
    conn.execute(
        "INSERT INTO device_credentials VALUES (?,?,?,?,?,NULL)",
        (_sha(DEVICE_TOKEN), sid, "laptop", NOW - 30, NOW + 86400),
    )
    conn.execute("INSERT INTO surrogate_bindings VALUES ('10.0.0.5', ?, ?)", (sid, NOW + 600))
    conn.execute("INSERT INTO person_revocations VALUES ('acme', 'u-mallory', ?)", (NOW - 5,))
    doc = json.dumps({"userName": "alice@acme.example", "name": {"givenName": "Alice"}})
    conn.execute(
        "INSERT INTO scim_users (tenant, id, user_name, user_name_key, external_id, active,"
        " version, created, last_modified, doc) VALUES (?,?,?,?,?,?,?,?,?,?)",
        ("acme", "user-1", "alice@acme.example", "alice@acme.example", "ext-1", 1, 3,
         "2027-01-01T00:00:00Z", "2027-01-02T00:00:00Z", doc),
    )  # fmt: skip
    conn.execute(
        "INSERT INTO scim_groups (tenant, id, display_name, display_key, external_id, version,"
        " created, last_modified, doc) VALUES (?,?,?,?,?,?,?,?,?)",
        ("acme", "group-1", "ML", "ml", None, 1, "2027-01-01T00:00:00Z",
         "2027-01-01T00:00:00Z", json.dumps({"displayName": "ML"})),
    )  # fmt: skip
    conn.execute(
        "INSERT INTO scim_members VALUES ('acme', 'group-1', 'user-1', 'User', 'alice', 0)"
    )
    conn.execute(
        "INSERT INTO scim_deprovision_outbox (tenant, user_id, reason, user, created_at)"
        " VALUES ('acme', 'user-9', 'deleted', '{\"id\": \"user-9\"}', ?)",
        (NOW - 10,),
    )
    conn.execute(
        "INSERT INTO scim_tokens VALUES ('tok-1', 'acme', ?, ?, NULL)", (_sha(SCIM_TOKEN), NOW)
    )
    conn.execute(
        "INSERT INTO policy_quota_counters VALUES"
        " ('acme', 'user', 'u-alice', 'tokens_per_day', ?, 4242, 42, ?)",
        (int(NOW) - int(NOW) % 86400, int(NOW)),
    )
    conn.close()
