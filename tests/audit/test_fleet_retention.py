"""Retention across the fleet on a real PostgreSQL (tests/postgres.py): an instance's
anchor shipped and the central copy purged below it, verify --fleet starting at the
anchor (and catching forged ones), the narrow delete the triggers allow, the review copy
after a purge, and the central purge of an instance that no longer purges itself."""

from __future__ import annotations

import datetime
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.audit.fleet_harness import Instance, central_count, migrate_fleet, ship_all
from warden.audit import CheckpointSigner, FindingKind, purge
from warden.audit.checkpoint import Checkpoint
from warden.audit.fleet import FleetConflict, instance_keys, pull, verify_fleet
from warden.audit.fleet_retention import central_anchors, purge_central
from warden.audit.fleet_schema import MIGRATIONS
from warden.gateway.state import POSTGRESQL, Domain, migrate
from warden.gateway.state.postgres import PgConnection, open_pool

#: The records are from 2025-03-01 (tests/audit/conftest.py); the first checkpoint is
#: signed that day, the second three months later, and retention is 30 days in May.
OLD_SIGNED = "2025-03-01T13:00:00.000Z"
NEW_SIGNED = "2025-06-01T13:00:00.000Z"
MAY = datetime.datetime(2025, 5, 1, tzinfo=datetime.UTC)


def _two_months(instance: Instance, tenants: tuple[str, ...] = ("acme",)) -> None:
    """20 records per tenant signed in March (#20), then 10 more signed in June (#30)."""
    instance.write(20 * len(tenants), tenants=tenants, signed_at=OLD_SIGNED)
    instance.write(10 * len(tenants), start=100, tenants=tenants, signed_at=NEW_SIGNED)


def _numbers(pg: psycopg.Connection[Any], instance: str, tenant: str = "acme") -> list[int]:
    return [
        int(r[0])
        for r in pg.execute(
            "SELECT tenant_seq FROM audit_fleet_records WHERE instance = %s AND tenant = %s"
            " ORDER BY tenant_seq",
            (instance, tenant),
        ).fetchall()
    ]


def _tenant(report: Any, instance: str, tenant: str = "acme") -> Any:
    (item,) = [i for i in report.instances if i.instance == instance]
    (summary,) = [t for t in item.report.tenants if t.tenant == tenant]
    return summary


def _findings(report: Any) -> set[tuple[str, FindingKind, int | None]]:
    return {(i.instance, f.kind, f.tenant_seq) for i in report.instances for f in i.report.findings}


# -- an instance's own retention reaches the central copy ---------------------------------


def test_a_local_purge_is_shipped_and_the_central_copy_follows(
    a: Instance, pg: psycopg.Connection[Any], fleet_dsn: str
) -> None:
    _two_months(a, ("acme", "globex"))
    ship_all(a, pg, fleet_dsn)
    assert _numbers(pg, "gw-a") == list(range(1, 31))
    result = purge(a.log, "acme", 30, MAY)
    assert result.anchor_seq == 20
    # batches of 3 deletions: the shipper goes on until nothing is left below the anchor
    ship_all(a, pg, fleet_dsn, purge_batch=3)
    assert _numbers(pg, "gw-a") == list(range(21, 31))
    assert _numbers(pg, "gw-a", "globex") == list(range(1, 31))  # its own retention
    held = pg.execute(
        "SELECT tenant_seq FROM audit_fleet_checkpoints WHERE instance = 'gw-a'"
        " AND tenant = 'acme' ORDER BY tenant_seq"
    ).fetchall()
    assert [r[0] for r in held] == [20, 30]  # the anchor's own checkpoint stays
    (anchor,) = pg.execute(
        "SELECT tenant, tenant_seq, set_by FROM audit_fleet_anchors WHERE instance = 'gw-a'"
    ).fetchall()
    assert anchor == ("acme", 20, "instance")
    report = verify_fleet(pg)
    assert report.ok, report.describe()
    acme = _tenant(report, "gw-a")
    assert (acme.anchor_seq, acme.records, acme.tail) == (20, 10, 30)
    assert f"anchored at #20 (signed {OLD_SIGNED})" in report.describe()


def test_records_purged_before_they_were_shipped_start_at_the_anchor(
    a: Instance, pg: psycopg.Connection[Any], fleet_dsn: str
) -> None:
    """A store from before fleets, older than its retention: what it purged never
    reaches the copy, and the copy's chain starts at the shipped anchor, not a gap."""
    _two_months(a)
    purge(a.log, "acme", 30, MAY)
    ship_all(a, pg, fleet_dsn)
    assert _numbers(pg, "gw-a") == list(range(21, 31))
    report = verify_fleet(pg)
    assert report.ok, report.describe()
    assert _tenant(report, "gw-a").anchor_seq == 20
    # without the anchor the same rows are a gap: what the previous release reported
    pg.execute("ALTER TABLE audit_fleet_anchors DISABLE TRIGGER audit_fleet_anchors_no_delete")
    pg.execute("DELETE FROM audit_fleet_anchors")
    assert ("gw-a", FindingKind.DELETED, 1) in _findings(verify_fleet(pg))


def test_a_local_anchor_the_central_chain_contradicts_stops_shipping(
    a: Instance, pg: psycopg.Connection[Any], fleet_dsn: str
) -> None:
    """Its rows would be deleted on a foreign store's word: refused, nothing deleted."""
    _two_months(a)
    ship_all(a, pg, fleet_dsn)
    conn = sqlite3.connect(a.db, isolation_level=None)
    try:  # an anchor at #20 that is not this chain's #20 (through the purge's own gate)
        conn.execute("BEGIN")
        conn.execute("INSERT INTO purge_gate (tenant, upto) VALUES ('acme', 20)")
        conn.execute(
            "INSERT INTO anchors VALUES ('acme', 20, ?, ?, ?, ?, ?)",
            (b"\x01" * 32, OLD_SIGNED, b"\x02" * 64, a.signer.key_id, OLD_SIGNED),
        )
        conn.execute("DELETE FROM purge_gate")
        conn.execute("COMMIT")
    finally:
        conn.close()
    with pytest.raises(FleetConflict, match=r"retention anchor .* does not match"):
        ship_all(a, pg, fleet_dsn)
    assert _numbers(pg, "gw-a") == list(range(1, 31))
    assert central_anchors(pg, "gw-a") == {}


# -- forged anchors are findings ------------------------------------------------------------


def _forge_anchor(
    pg: psycopg.Connection[Any], instance: str, anchor: Checkpoint, *, delete: bool = True
) -> None:
    """Someone who can write the central tables moves an anchor forward (the triggers let
    a forward move through) and deletes the records below it (which they then allow)."""
    pg.execute(
        "UPDATE audit_fleet_anchors SET tenant_seq = %s, head_hash = %s, ts = %s,"
        " signature = %s, key_id = %s WHERE instance = %s AND tenant = %s",
        (
            anchor.tenant_seq,
            anchor.head_hash,
            anchor.ts,
            anchor.signature,
            anchor.key_id,
            instance,
            anchor.tenant,
        ),
    )
    if delete:
        pg.execute(
            "DELETE FROM audit_fleet_records WHERE instance = %s AND tenant = %s"
            " AND tenant_seq <= %s",
            (instance, anchor.tenant, anchor.tenant_seq),
        )


def _hash_at(pg: psycopg.Connection[Any], instance: str, number: int) -> bytes:
    row = pg.execute(
        "SELECT hash FROM audit_fleet_records WHERE instance = %s AND tenant = 'acme'"
        " AND tenant_seq = %s",
        (instance, number),
    ).fetchone()
    assert row is not None
    return bytes(row[0])


@pytest.fixture
def anchored(a: Instance, pg: psycopg.Connection[Any], fleet_dsn: str) -> Instance:
    """gw-a's acme: anchored at #20 centrally, records #21..#30."""
    _two_months(a)
    purge(a.log, "acme", 30, MAY)
    ship_all(a, pg, fleet_dsn)
    assert verify_fleet(pg).ok
    return a


def test_an_anchor_signed_by_another_key_is_a_finding(
    anchored: Instance, pg: psycopg.Connection[Any]
) -> None:
    forger = CheckpointSigner(Ed25519PrivateKey.generate())
    head = _hash_at(pg, "gw-a", 25)  # the real chain's hash: it links
    _forge_anchor(pg, "gw-a", forger.sign("acme", 25, head, NEW_SIGNED))
    report = verify_fleet(pg)
    assert not report.ok
    assert ("gw-a", FindingKind.BAD_SIGNATURE, 25) in _findings(report)
    assert "retention anchor at #25 is not signed" in report.describe()


def test_an_anchor_with_its_key_id_but_a_forged_signature_is_a_finding(
    anchored: Instance, pg: psycopg.Connection[Any]
) -> None:
    head = _hash_at(pg, "gw-a", 25)
    real = anchored.signer.sign("acme", 25, head, NEW_SIGNED)
    # the same statement with a date moved: the signature no longer covers it
    _forge_anchor(pg, "gw-a", Checkpoint("acme", 25, head, OLD_SIGNED, real.signature, real.key_id))
    assert ("gw-a", FindingKind.BAD_SIGNATURE, 25) in _findings(verify_fleet(pg))


def test_an_anchor_that_does_not_link_to_the_first_remaining_record_is_a_finding(
    anchored: Instance, pg: psycopg.Connection[Any]
) -> None:
    """Even signed by the instance's own key (a checkpoint of something else)."""
    signed = anchored.signer.sign("acme", 25, b"\x07" * 32, NEW_SIGNED)
    _forge_anchor(pg, "gw-a", signed)
    report = verify_fleet(pg)
    assert ("gw-a", FindingKind.BROKEN_LINK, 26) in _findings(report), report.describe()


def test_an_anchor_past_deleted_records_is_a_gap(
    anchored: Instance, pg: psycopg.Connection[Any]
) -> None:
    """A genuine anchor at #22, with #23..#24 deleted after it: the gap is reported."""
    head = _hash_at(pg, "gw-a", 22)
    _forge_anchor(pg, "gw-a", anchored.signer.sign("acme", 22, head, NEW_SIGNED))
    pg.execute("ALTER TABLE audit_fleet_records DISABLE TRIGGER audit_fleet_records_append_only")
    pg.execute("DELETE FROM audit_fleet_records WHERE tenant_seq IN (23, 24)")
    assert ("gw-a", FindingKind.DELETED, 23) in _findings(verify_fleet(pg))


def test_a_pinned_key_checks_the_anchor(anchored: Instance, pg: psycopg.Connection[Any]) -> None:
    """The registered key is what the anchor verifies with unless a key is pinned: a
    pinned key that did not sign the anchor makes it a finding."""
    other = Ed25519PrivateKey.generate().public_key()
    report = verify_fleet(pg, {"gw-a": other})
    kinds = {f.kind for f in report.findings} | {k for _, k, _ in _findings(report)}
    assert FindingKind.BAD_SIGNATURE in kinds
    assert any(
        "retention anchor at #20" in f.message for i in report.instances for f in i.report.findings
    )


# -- what the triggers allow ---------------------------------------------------------------


def test_only_rows_at_or_below_an_anchor_can_be_deleted(
    anchored: Instance, b: Instance, pg: psycopg.Connection[Any], fleet_dsn: str
) -> None:
    b.write(30, signed_at=OLD_SIGNED)
    ship_all(b, pg, fleet_dsn)
    refused = pytest.raises(psycopg.errors.RaiseException, match="append-only")
    with refused:  # above gw-a's anchor
        pg.execute("DELETE FROM audit_fleet_records WHERE instance = 'gw-a' AND tenant_seq = 21")
    with refused:  # another instance's rows at the same numbers: no anchor of its own
        pg.execute("DELETE FROM audit_fleet_records WHERE instance = 'gw-b' AND tenant_seq = 5")
    with refused:  # the anchor's own checkpoint
        pg.execute(
            "DELETE FROM audit_fleet_checkpoints WHERE instance = 'gw-a' AND tenant_seq = 20"
        )
    with refused:  # updates stay refused, at or below the anchor too
        pg.execute("UPDATE audit_fleet_records SET outcome = 'x' WHERE instance = 'gw-a'")
    with refused:  # an anchor never goes back ...
        pg.execute("UPDATE audit_fleet_anchors SET tenant_seq = 10 WHERE instance = 'gw-a'")
    with refused:  # ... nor away
        pg.execute("DELETE FROM audit_fleet_anchors WHERE instance = 'gw-a'")
    with refused:  # nor to another instance
        pg.execute("UPDATE audit_fleet_anchors SET instance = 'gw-b', tenant_seq = 25")
    assert central_count(pg, "gw-b") == 30
    assert _numbers(pg, "gw-a") == list(range(21, 31))


def test_the_step_upgrades_a_copy_shipped_under_the_first(
    a: Instance, postgres_dsn: str, tmp_path: Path
) -> None:
    """An existing deployment: step 1 only, records shipped, then `warden db migrate`
    adds step 2; the rows stay, the old trigger's refusals hold, retention works."""
    pool = open_pool(postgres_dsn)
    try:
        migrate(PgConnection(pool), POSTGRESQL, [Domain("audit.fleet", MIGRATIONS[:1])], "test")
    finally:
        pool.close()
    _two_months(a)
    with psycopg.connect(postgres_dsn, autocommit=True) as pg:
        _ship_as_step_one(a, pg)
        assert central_count(pg, "gw-a") == 30
    migrate_fleet(postgres_dsn)
    with psycopg.connect(postgres_dsn, autocommit=True) as pg:
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            pg.execute("DELETE FROM audit_fleet_records WHERE tenant_seq = 1")
        purge(a.log, "acme", 30, MAY)
        ship_all(a, pg, postgres_dsn)
        assert _numbers(pg, "gw-a") == list(range(21, 31))
        assert verify_fleet(pg).ok


def _ship_as_step_one(instance: Instance, pg: psycopg.Connection[Any]) -> None:
    """What the previous release's shipper left: its rows, with no anchor table around."""
    from warden.audit.checkpoint import export_public_key
    from warden.audit.fleet import _RECORD_COLUMNS

    pg.execute(
        "INSERT INTO audit_fleet_instances (instance, key_id, public_key, registered_at)"
        " VALUES (%s, %s, %s, %s)",
        (
            instance.name,
            instance.signer.key_id,
            export_public_key(instance.signer.public_key()).decode(),
            OLD_SIGNED,
        ),
    )
    columns = _RECORD_COLUMNS.removeprefix("instance, ")
    local = sqlite3.connect(instance.db)
    try:
        records = local.execute(f"SELECT {columns} FROM records ORDER BY seq").fetchall()
        checkpoints = local.execute(
            "SELECT id, tenant, tenant_seq, head_hash, ts, signature, key_id FROM checkpoints"
        ).fetchall()
    finally:
        local.close()
    with pg.cursor() as cur:
        marks = ", ".join(["%s"] * (len(records[0]) + 1))
        cur.executemany(
            f"INSERT INTO audit_fleet_records ({_RECORD_COLUMNS}) VALUES ({marks})",
            [(instance.name, *r) for r in records],
        )
        cur.executemany(
            "INSERT INTO audit_fleet_checkpoints VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [(instance.name, *c) for c in checkpoints],
        )
    pg.execute(
        "UPDATE audit_fleet_instances SET shipped_seq = %s, shipped_checkpoint = %s",
        (records[-1][0], checkpoints[-1][0]),
    )


# -- the review copy -----------------------------------------------------------------------


def _copy_rows(copy: Path) -> dict[str, Any]:
    conn = sqlite3.connect(copy)
    try:
        rows = conn.execute(
            "SELECT o.instance, r.tenant_seq FROM records r JOIN fleet_origin o USING (seq)"
            " ORDER BY o.instance, r.tenant_seq"
        ).fetchall()
        orphans = sum(
            conn.execute(
                f"SELECT count(*) FROM {table} WHERE seq NOT IN (SELECT seq FROM records)"
            ).fetchone()[0]
            for table in ("record_terms", "record_sort", "record_entities", "fleet_origin")
        )
        (texts,) = conn.execute(
            "SELECT count(*) FROM records_text WHERE rowid NOT IN (SELECT seq FROM records)"
        ).fetchone()
    finally:
        conn.close()
    return {"rows": rows, "orphans": orphans + texts}


def test_a_pull_after_a_central_purge_drops_the_purged_records_of_that_instance_only(
    a: Instance, b: Instance, pg: psycopg.Connection[Any], fleet_dsn: str, tmp_path: Path
) -> None:
    _two_months(a)
    b.write(30, start=500, signed_at=OLD_SIGNED)  # the same tenant and numbers
    ship_all(a, pg, fleet_dsn)
    ship_all(b, pg, fleet_dsn)
    copy = tmp_path / "review.db"
    assert pull(pg, copy) == {"gw-a": 30, "gw-b": 30}
    purge(a.log, "acme", 30, MAY)
    a.write(2, start=200, signed_at=NEW_SIGNED)
    ship_all(a, pg, fleet_dsn)
    assert pull(pg, copy) == {"gw-a": 2, "gw-b": 0}  # the cursor goes on past the gap
    held = _copy_rows(copy)
    assert [n for i, n in held["rows"] if i == "gw-a"] == list(range(21, 33))
    assert [n for i, n in held["rows"] if i == "gw-b"] == list(range(1, 31))
    # the console's indexes and search hold nothing of the records that went
    assert held["orphans"] == 0
    assert pull(pg, copy) == {"gw-a": 0, "gw-b": 0}
    assert _copy_rows(copy)["rows"] == held["rows"]


def test_a_pull_skips_rows_below_an_anchor_still_being_deleted(
    a: Instance, pg: psycopg.Connection[Any], fleet_dsn: str, tmp_path: Path
) -> None:
    """The anchor is shipped before the rows below it go (in batches): a first pull in
    between never brings them into a new copy."""
    _two_months(a)
    ship_all(a, pg, fleet_dsn)
    purge(a.log, "acme", 30, MAY)
    shipper = a.shipper(fleet_dsn)
    shipper.register(pg)
    shipper._purge_pending = False  # the anchor's transaction only, as if stopped there
    from warden.audit.schema import open_audit_db_readonly

    local = open_audit_db_readonly(a.db)
    try:
        shipper._ship_batch(pg, local)
    finally:
        local.close()
    assert central_anchors(pg, "gw-a")["acme"].tenant_seq == 20
    assert central_count(pg, "gw-a") == 30  # not deleted yet
    assert verify_fleet(pg).ok  # the chain starts at the anchor; the rest is not in it
    copy = tmp_path / "review.db"
    assert pull(pg, copy) == {"gw-a": 10}
    assert [n for _, n in _copy_rows(copy)["rows"]] == list(range(21, 31))


def test_a_copy_pulled_by_the_previous_release_learns_its_records_instances(
    a: Instance, pg: psycopg.Connection[Any], fleet_dsn: str, tmp_path: Path
) -> None:
    _two_months(a)
    ship_all(a, pg, fleet_dsn)
    copy = tmp_path / "review.db"
    pull(pg, copy)
    conn = sqlite3.connect(copy, isolation_level=None)
    try:  # as the previous release left it: no origins, version 1
        conn.execute("DROP TABLE fleet_origin")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'fleet_copy'")
    finally:
        conn.close()
    purge(a.log, "acme", 30, MAY)
    ship_all(a, pg, fleet_dsn)
    pull(pg, copy)
    assert [n for _, n in _copy_rows(copy)["rows"]] == list(range(21, 31))


# -- re-sent rows and the central purge of an instance that no longer purges ----------------


def test_the_central_purge_anchors_a_dead_instance(
    a: Instance, b: Instance, pg: psycopg.Connection[Any], fleet_dsn: str
) -> None:
    _two_months(a)
    _two_months(b)
    ship_all(a, pg, fleet_dsn)
    ship_all(b, pg, fleet_dsn)
    keys = instance_keys(pg, instance="gw-b")
    assert set(keys) == {"gw-b"}
    (result,) = purge_central(pg, keys, 30, MAY, limit=4)
    assert (result.instance, result.tenant, result.anchor_seq, result.moved) == (
        "gw-b",
        "acme",
        20,
        True,
    )
    assert (result.records_deleted, result.checkpoints_deleted) == (20, 0)
    assert "now anchored at #20" in result.describe()
    assert _numbers(pg, "gw-b") == list(range(21, 31))
    assert _numbers(pg, "gw-a") == list(range(1, 31))  # another instance: untouched
    (set_by,) = pg.execute(
        "SELECT set_by FROM audit_fleet_anchors WHERE instance = 'gw-b'"
    ).fetchone() or ("",)
    assert set_by == "central"
    assert verify_fleet(pg).ok
    # again: nothing newer is old enough
    (again,) = purge_central(pg, keys, 30, MAY)
    assert (again.moved, again.records_deleted, again.anchor_seq) == (False, 0, 20)
    # a tenant with no checkpoint before the cut-off
    (early,) = purge_central(pg, keys, 30, datetime.datetime(2025, 3, 2, tzinfo=datetime.UTC))
    assert early.anchor_seq == 20 and not early.moved


def test_an_instance_that_comes_back_never_re_inserts_what_the_copy_purged(
    a: Instance, pg: psycopg.Connection[Any], fleet_dsn: str
) -> None:
    """Purged centrally while it was down, then its position lost (everything re-sent):
    the rows at or below the central anchor are not inserted again, and nothing conflicts."""
    _two_months(a)
    ship_all(a, pg, fleet_dsn)
    purge_central(pg, instance_keys(pg), 30, MAY)
    pg.execute("UPDATE audit_fleet_instances SET shipped_seq = 0, shipped_checkpoint = 0")
    a.write(3, start=300, signed_at=NEW_SIGNED)
    ship_all(a, pg, fleet_dsn)
    assert _numbers(pg, "gw-a") == list(range(21, 34))
    # its local anchor (older than the central one) changes nothing
    purge(a.log, "acme", 60, MAY + datetime.timedelta(days=30))
    ship_all(a, pg, fleet_dsn)
    assert central_anchors(pg, "gw-a")["acme"].tenant_seq == 20
    assert verify_fleet(pg).ok


def test_the_central_purge_refuses_a_checkpoint_that_does_not_verify(
    a: Instance, pg: psycopg.Connection[Any], fleet_dsn: str
) -> None:
    _two_months(a)
    ship_all(a, pg, fleet_dsn)
    forger = CheckpointSigner(Ed25519PrivateKey.generate())
    forged = forger.sign("acme", 25, _hash_at(pg, "gw-a", 25), OLD_SIGNED)
    pg.execute(
        "INSERT INTO audit_fleet_checkpoints VALUES ('gw-a', 99, 'acme', 25, %s, %s, %s, %s)",
        (forged.head_hash, forged.ts, forged.signature, forged.key_id),
    )
    (result,) = purge_central(pg, instance_keys(pg), 30, MAY)
    assert result.refused is not None and "does not verify" in result.refused
    assert "warden audit verify --fleet --instance gw-a" in result.describe()
    assert central_count(pg, "gw-a") == 30
    assert central_anchors(pg, "gw-a") == {}


def test_the_central_purge_refuses_a_checkpoint_the_chain_does_not_have(
    a: Instance, pg: psycopg.Connection[Any], fleet_dsn: str
) -> None:
    """Signed by the instance, but the central record at its number has another hash."""
    _two_months(a)
    ship_all(a, pg, fleet_dsn)
    other = a.signer.sign("acme", 25, b"\x05" * 32, OLD_SIGNED)
    pg.execute(
        "INSERT INTO audit_fleet_checkpoints VALUES ('gw-a', 99, 'acme', 25, %s, %s, %s, %s)",
        (other.head_hash, other.ts, other.signature, other.key_id),
    )
    (result,) = purge_central(pg, instance_keys(pg), 30, MAY)
    assert result.refused is not None and "has another hash" in result.refused
    assert central_count(pg, "gw-a") == 30


def test_a_purge_that_empties_the_local_store_is_not_a_replaced_store(
    a: Instance, pg: psycopg.Connection[Any], fleet_dsn: str
) -> None:
    """Every record purged (an idle instance, retention reached its last checkpoint): the
    store's numbering still goes on (SQLite's sequence), so shipping the anchor is not
    mistaken for a store replaced by an older one."""
    a.write(12, signed_at=OLD_SIGNED)
    ship_all(a, pg, fleet_dsn)
    assert purge(a.log, "acme", 30, MAY).records_deleted == 12
    ship_all(a, pg, fleet_dsn)
    assert central_count(pg, "gw-a") == 0
    report = verify_fleet(pg)
    assert report.ok, report.describe()
    assert _tenant(report, "gw-a").anchor_seq == 12
    a.write(3, start=50, signed_at=NEW_SIGNED)  # and it goes on from there
    ship_all(a, pg, fleet_dsn)
    assert _numbers(pg, "gw-a") == [13, 14, 15]
    assert verify_fleet(pg).ok
