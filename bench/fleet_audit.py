"""The fleet's audit copy: what shipping to PostgreSQL costs the host's audit writer.

Run: ``.venv/bin/python bench/fleet_audit.py [--seconds 4] [--rounds 3] [--rate 500]``.
Starts a real PostgreSQL (tests/postgres.py) with the ``audit.fleet`` domain migrated and,
alternately in each round, the audit writer child `warden run` uses (a fresh database
each time) with shipping off and on (``ship_dsn_env``, the `FleetShipper` thread):

1. Throughput: 256 tasks ``await writer.write(record)`` for ``--seconds`` (bench/audit.py's
   ~1 KB flow records, four tenants).
2. Added latency at a steady ``--rate`` records/s: the time ``await writer.write`` takes,
   i.e. what commit-before-release adds to a flow, p50 and p99.
3. CPU per record: the writer child's user+system time (its shipper thread included) and,
   with shipping, every PostgreSQL process's (postmaster and backends, from /proc), over
   the throughput phase.
4. Lag: after the last write of phase 1, how long until the central copy holds every
   record (ship mode).

Figures are ratios of ship to off within the same round; the machine is shared, so read
the ratios (the script prints every round).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.audit import drive, percentile, steady
from tests.postgres import PostgresServer
from warden.audit.fleet_schema import MIGRATIONS
from warden.audit.writer_process import AuditWriterProcess, WriterSettings
from warden.gateway.state import POSTGRESQL, Domain, migrate
from warden.gateway.state.postgres import DSN_ENV, PgConnection, open_pool

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system seconds of process ``pid`` (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def cluster_cpu_s(postmaster: int) -> float:
    """The postmaster's and its children's CPU seconds (exited backends are counted in
    the postmaster's cutime/cstime)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if pid == postmaster or ppid == postmaster:
            total += (int(fields[11]) + int(fields[12])) / TICK
            if pid == postmaster:
                total += (int(fields[13]) + int(fields[14])) / TICK
    return total


def central_count(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as pg:
        row = pg.execute("SELECT count(*) FROM audit_fleet_records").fetchone()
    return int(row[0]) if row else 0


def wait_for_copy(dsn: str, total: int) -> None:
    """Until the central copy holds ``total`` records (what the lag figure measures)."""
    while central_count(dsn) < total:
        time.sleep(0.01)


async def one_round(
    ship: bool, seconds: float, rate: int, dsn: str, postmaster: int
) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    writer = AuditWriterProcess(
        WriterSettings(
            folder / "audit.db",
            folder,
            instance=f"bench-{os.getpid()}-{time.monotonic_ns() % 10**6}",
            ship_dsn_env=DSN_ENV if ship else None,
        )
    )
    await writer.start()
    assert writer.pid is not None
    base = central_count(dsn)
    w0, p0, t0 = cpu_s(writer.pid), cluster_cpu_s(postmaster), time.perf_counter()
    count, elapsed = await drive(writer, seconds)
    lag = 0.0
    if ship:
        await asyncio.to_thread(wait_for_copy, dsn, base + count)
        lag = time.perf_counter() - t0 - elapsed
    w1, p1 = cpu_s(writer.pid), cluster_cpu_s(postmaster)
    latencies = await steady(writer, rate, min(seconds, 3.0))
    await writer.close()
    return {
        "rps": count / elapsed,
        "writer_us": (w1 - w0) / count * 1e6,
        "pg_us": (p1 - p0) / count * 1e6 if ship else 0.0,
        "lag_s": lag,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=int, default=500)
    args = parser.parse_args()
    server = PostgresServer()
    server.start()
    try:
        dsn = server.create_database()
        pool = open_pool(dsn)
        migrate(PgConnection(pool), POSTGRESQL, [Domain("audit.fleet", MIGRATIONS)], "bench")
        pool.close()
        os.environ[DSN_ENV] = dsn
        assert server.proc is not None
        postmaster = server.proc.pid
        if os.geteuid() == 0:  # setpriv runs postgres as a child of its own
            postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
        results: dict[bool, list[dict[str, float]]] = {False: [], True: []}
        for n in range(args.rounds):
            for ship in (False, True):
                r = await one_round(ship, args.seconds, args.rate, dsn, postmaster)
                results[ship].append(r)
                print(
                    f"round {n + 1} ship={'on ' if ship else 'off'}: {r['rps']:7.0f} rec/s, "
                    f"writer {r['writer_us']:6.1f} µs/rec, postgres {r['pg_us']:6.1f} µs/rec, "
                    f"lag {r['lag_s'] * 1000:6.0f} ms, at {args.rate}/s p50 {r['p50_ms']:.2f} "
                    f"p99 {r['p99_ms']:.2f} ms",
                    flush=True,
                )

        def med(ship: bool, key: str) -> float:
            return statistics.median(r[key] for r in results[ship])

        print("\nmedians (ship on / off):")
        print(f"  throughput        {med(True, 'rps'):.0f} / {med(False, 'rps'):.0f} rec/s"
              f" = {med(True, 'rps') / med(False, 'rps'):.2f}x")  # fmt: skip
        print(f"  writer CPU/record {med(True, 'writer_us'):.1f} / {med(False, 'writer_us'):.1f} µs"
              f" = {med(True, 'writer_us') / med(False, 'writer_us'):.2f}x")  # fmt: skip
        total_on = med(True, "writer_us") + med(True, "pg_us")
        print(f"  + PostgreSQL      {med(True, 'pg_us'):.1f} µs/record; writer + PostgreSQL"
              f" {total_on:.1f} µs = {total_on / med(False, 'writer_us'):.2f}x")  # fmt: skip
        print(
            f"  p50 at {args.rate}/s     {med(True, 'p50_ms'):.2f} / {med(False, 'p50_ms'):.2f} ms"
        )
        print(
            f"  p99 at {args.rate}/s     {med(True, 'p99_ms'):.2f} / {med(False, 'p99_ms'):.2f} ms"
        )
        print(
            f"  catch-up lag after a {args.seconds:.0f} s burst: {med(True, 'lag_s') * 1000:.0f} ms"
        )
    finally:
        server.remove()


if __name__ == "__main__":
    asyncio.run(main())
