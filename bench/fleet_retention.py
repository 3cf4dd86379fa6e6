"""Central retention of the fleet's audit copy: what deleting below an anchor costs.

Run: ``.venv/bin/python bench/fleet_retention.py [--records 50000] [--rounds 3]``.
Starts a real PostgreSQL (tests/postgres.py) with the ``audit.fleet`` domain migrated; per
round, one instance's store gets ``--records`` records signed in March and ten signed in
June, ships them, purges locally with a cut-off between the two, ships the anchor alone
(`FleetShipper`), then times `purge_below_anchors` batch by batch (5,000 rows, each
passing the trigger that checks the anchor) until nothing is left. Prints the time per
row and the slowest batch's transaction (what a shipper's purge step holds).
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.audit.fleet_harness import migrate_fleet, open_instance, ship_all
from tests.postgres import PostgresServer
from warden.audit import purge
from warden.audit.fleet_retention import PURGE_BATCH, purge_below_anchors
from warden.audit.schema import open_audit_db_readonly

MAY = datetime.datetime(2025, 5, 1, tzinfo=datetime.UTC)


def one_round(server: PostgresServer, records: int) -> tuple[float, float]:
    """(µs per deleted row, slowest batch in s)."""
    dsn = server.create_database()
    migrate_fleet(dsn)
    tmp = Path(tempfile.mkdtemp(prefix="bench-fleet-retention-"))
    for instance in open_instance(tmp, "gw-a"):
        for start in range(0, records, 1000):
            instance.write(
                min(1000, records - start), start=start, signed_at="2025-03-01T13:00:00.000Z"
            )
        instance.write(10, start=records, signed_at="2025-06-01T13:00:00.000Z")
        with psycopg.connect(dsn, autocommit=True) as pg:
            ship_all(instance, pg, dsn, batch=500)
            purge(instance.log, "acme", 30, MAY)
            shipper = instance.shipper(dsn, 500)
            shipper.register(pg)
            shipper._purge_pending = False  # the anchor's transaction alone
            local = open_audit_db_readonly(instance.db)
            try:
                shipper._ship_batch(pg, local)
            finally:
                local.close()
            deleted, slowest, started = 0, 0.0, time.perf_counter()
            while True:
                begun = time.perf_counter()
                rows, checkpoints = purge_below_anchors(pg, "gw-a", PURGE_BATCH)
                slowest = max(slowest, time.perf_counter() - begun)
                deleted += rows
                if rows < PURGE_BATCH and checkpoints < PURGE_BATCH:
                    break
            elapsed = time.perf_counter() - started
    assert deleted == records, deleted
    return elapsed / deleted * 1e6, slowest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    server = PostgresServer()
    server.start()
    try:
        results = []
        for n in range(args.rounds):
            per_row, slowest = one_round(server, args.records)
            results.append((per_row, slowest))
            print(f"round {n + 1}: {per_row:.1f} µs per row, slowest batch {slowest * 1000:.0f} ms")
        print(
            f"median: {statistics.median(r[0] for r in results):.1f} µs per row, slowest "
            f"batch {max(r[1] for r in results) * 1000:.0f} ms ({PURGE_BATCH} rows per batch)"
        )
    finally:
        server.remove()


if __name__ == "__main__":
    main()
