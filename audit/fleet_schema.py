"""The fleet's central audit copy in PostgreSQL: its tables (`fleet` ships and reads them).

Kept apart from `fleet` so that the state database's list of domains (warden/gateway/state/store.py)
does not import psycopg in an embedded gateway.
"""

from __future__ import annotations

from typing import Final

_APPEND_ONLY: Final = (
    "CREATE FUNCTION audit_fleet_append_only() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN RAISE EXCEPTION 'the central audit copy is append-only: % on % is refused',"
    " TG_OP, TG_TABLE_NAME; END $$"
)
#: Steps of the ``audit.fleet`` domain of the state database (PostgreSQL only; released
#: steps are never edited, only appended).
MIGRATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "the fleet's central audit copy: instances with their keys, records, checkpoints",
        (
            """CREATE TABLE audit_fleet_instances (
                instance TEXT PRIMARY KEY,
                key_id TEXT NOT NULL,
                public_key TEXT NOT NULL,
                registered_at TEXT NOT NULL,
                shipped_seq BIGINT NOT NULL DEFAULT 0,
                shipped_checkpoint BIGINT NOT NULL DEFAULT 0,
                shipped_at TEXT
            )""",
            """CREATE TABLE audit_fleet_records (
                instance TEXT NOT NULL REFERENCES audit_fleet_instances (instance),
                tenant TEXT NOT NULL,
                tenant_seq BIGINT NOT NULL,
                seq BIGINT NOT NULL,
                record_id TEXT NOT NULL,
                ts TEXT NOT NULL,
                kind TEXT NOT NULL,
                event TEXT,
                outcome TEXT NOT NULL,
                action TEXT,
                subject TEXT,
                department TEXT,
                provider TEXT,
                model TEXT,
                body TEXT NOT NULL,
                prev_hash BYTEA NOT NULL,
                hash BYTEA NOT NULL,
                PRIMARY KEY (instance, tenant, tenant_seq)
            )""",
            "CREATE INDEX audit_fleet_records_seq ON audit_fleet_records (instance, seq)",
            """CREATE TABLE audit_fleet_checkpoints (
                instance TEXT NOT NULL REFERENCES audit_fleet_instances (instance),
                local_id BIGINT NOT NULL,
                tenant TEXT NOT NULL,
                tenant_seq BIGINT NOT NULL,
                head_hash BYTEA NOT NULL,
                ts TEXT NOT NULL,
                signature BYTEA NOT NULL,
                key_id TEXT NOT NULL,
                PRIMARY KEY (instance, local_id)
            )""",
            _APPEND_ONLY,
            "CREATE TRIGGER audit_fleet_records_append_only BEFORE UPDATE OR DELETE"
            " ON audit_fleet_records FOR EACH ROW EXECUTE FUNCTION audit_fleet_append_only()",
            "CREATE TRIGGER audit_fleet_checkpoints_append_only BEFORE UPDATE OR DELETE"
            " ON audit_fleet_checkpoints FOR EACH ROW EXECUTE FUNCTION audit_fleet_append_only()",
            "CREATE TRIGGER audit_fleet_instances_keep_key BEFORE UPDATE"
            " ON audit_fleet_instances FOR EACH ROW WHEN (OLD.key_id IS DISTINCT FROM NEW.key_id"
            " OR OLD.public_key IS DISTINCT FROM NEW.public_key OR OLD.instance <> NEW.instance)"
            " EXECUTE FUNCTION audit_fleet_append_only()",
            "CREATE TRIGGER audit_fleet_instances_no_delete BEFORE DELETE"
            " ON audit_fleet_instances FOR EACH ROW EXECUTE FUNCTION audit_fleet_append_only()",
        ),
    ),
)
