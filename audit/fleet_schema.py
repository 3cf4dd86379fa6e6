"""The fleet's central audit copy in PostgreSQL: its tables (`fleet` ships and reads them).

Step 2 adds retention (`fleet_retention`): ``audit_fleet_anchors`` holds, per instance and
tenant, the signed checkpoint its chain starts from (an instance's local retention anchor,
shipped, or one set centrally by ``warden audit purge --fleet``). An anchor only moves
forward and is never deleted; the records and checkpoints triggers then allow one DELETE
only: of a row at or below its instance/tenant's anchor (a checkpoint: below it). Every
other UPDATE and DELETE stays refused. Like the rest, a guard against mistakes: someone
who owns the database can write a forged anchor, and `verify_fleet` checks its signature
and that the remaining chain links to it.

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
#: Records and checkpoints: UPDATE refused; DELETE only of a row at or below (a
#: checkpoint: below, the anchor's own stays) its instance/tenant's anchor.
_PURGE_ONLY: Final = (
    "CREATE FUNCTION audit_fleet_purge_only() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    " IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM audit_fleet_anchors a"
    "  WHERE a.instance = OLD.instance AND a.tenant = OLD.tenant"
    "  AND (OLD.tenant_seq < a.tenant_seq OR (OLD.tenant_seq = a.tenant_seq"
    "  AND TG_TABLE_NAME = 'audit_fleet_records'))) THEN RETURN OLD; END IF;"
    " RAISE EXCEPTION 'the central audit copy is append-only: % on % is refused (only rows"
    " at or below a shipped retention anchor are deleted, by the retention purge)',"
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
    (
        "central retention: each instance/tenant's anchor; rows at or below it may be deleted",
        (
            """CREATE TABLE audit_fleet_anchors (
                instance TEXT NOT NULL REFERENCES audit_fleet_instances (instance),
                tenant TEXT NOT NULL,
                tenant_seq BIGINT NOT NULL,
                head_hash BYTEA NOT NULL,
                ts TEXT NOT NULL,
                signature BYTEA NOT NULL,
                key_id TEXT NOT NULL,
                purged_at TEXT NOT NULL,
                set_by TEXT NOT NULL CHECK (set_by IN ('instance', 'central')),
                PRIMARY KEY (instance, tenant)
            )""",
            "CREATE INDEX audit_fleet_checkpoints_tenant"
            " ON audit_fleet_checkpoints (instance, tenant, tenant_seq)",
            _PURGE_ONLY,
            "DROP TRIGGER audit_fleet_records_append_only ON audit_fleet_records",
            "CREATE TRIGGER audit_fleet_records_append_only BEFORE UPDATE OR DELETE"
            " ON audit_fleet_records FOR EACH ROW EXECUTE FUNCTION audit_fleet_purge_only()",
            "DROP TRIGGER audit_fleet_checkpoints_append_only ON audit_fleet_checkpoints",
            "CREATE TRIGGER audit_fleet_checkpoints_append_only BEFORE UPDATE OR DELETE"
            " ON audit_fleet_checkpoints FOR EACH ROW EXECUTE FUNCTION audit_fleet_purge_only()",
            "CREATE TRIGGER audit_fleet_anchors_forward_only BEFORE UPDATE ON audit_fleet_anchors"
            " FOR EACH ROW WHEN (NEW.tenant_seq <= OLD.tenant_seq OR NEW.instance <> OLD.instance"
            " OR NEW.tenant <> OLD.tenant) EXECUTE FUNCTION audit_fleet_append_only()",
            "CREATE TRIGGER audit_fleet_anchors_no_delete BEFORE DELETE ON audit_fleet_anchors"
            " FOR EACH ROW EXECUTE FUNCTION audit_fleet_append_only()",
        ),
    ),
)
