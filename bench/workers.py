"""Workers benchmark: bare mitmproxy, ``warden run`` with 1 worker and with 2 (SQLite), and
with 2 workers on PostgreSQL (``state.backend: postgresql``).

Run: ``.venv/bin/python bench/workers.py [--seconds 5] [--rounds 3] [--clients 32]``.
One run starts aimock as the upstream, a bare mitmproxy (one process), ``warden run``
as shipped (``proxy.workers: 1``: one process and its audit writer) and ``warden run``
with ``proxy.workers: 2`` (a supervisor serving the control plane, two proxy workers,
one audit writer), all routed to aimock with the test-bed setting and identity off; then
drives ~1 KB JSON chat requests with keep-alive from ``--clients`` concurrent clients,
the three alternately for ``--rounds`` rounds, and prints the medians of requests/s,
p50, p99 and the CPU per request summed over EVERY process of each (the whole tree
under the PID we started), with the ratios 2 workers / 1 worker. Two cores cannot show
scaling by throughput alone when the client itself needs one: CPU per request is what
says whether N workers scale on N cores (the target is <= 1.1x the single process's).

The PostgreSQL row runs its own server (tests/postgres.py: Debian's ``postgresql``,
``fsync=off``) and counts its CPU too (the postmaster and every backend: the pool's,
the change listener's), printed apart as "db us/req"; the ratios PostgreSQL / SQLite
say what the backend costs per request (target <= 1.1x) and the p99 it adds (target
<= 1 ms). Identity is off in every row, so no request reads or writes the database:
what the row measures is that the hot path stays off it, and what the fleet's
machinery (pool, LISTEN, notifications) costs meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bare import start_bare_mitmproxy  # noqa: E402
from bench.proxy import drive  # noqa: E402
from tests.peers import UNSAFE_ENV, Aimock, Peer, WardenProcess  # noqa: E402
from tests.postgres import PostgresServer  # noqa: E402
from warden.gateway.state.postgres import DSN_ENV  # noqa: E402

API = "https://api.openai.com/v1/chat/completions"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=5.0, help="measured seconds per cell")
    ap.add_argument("--rounds", type=int, default=3, help="targets measured alternately")
    ap.add_argument("--clients", type=int, default=32, help="concurrent keep-alive clients")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="warden-bench-workers-"))
    aimock = Aimock(ROOT / "tests" / "fixtures" / "aimock", work / "aimock.log")
    peers: list[Peer] = []
    database = PostgresServer()
    try:
        aimock.start()
        peers.append(aimock)
        database.start()
        assert database.proc is not None
        (work / "pg").mkdir()
        on_pg = WardenProcess(
            work / "pg",
            {
                "unsafe_testing": {"route_catalog_hosts_to": aimock.url},
                "state": {"backend": "postgresql"},
            },
            {**UNSAFE_ENV, DSN_ENV: database.create_database()},
            workers=2,
        )
        migrated = on_pg.cli("db", "migrate")
        if migrated.returncode != 0:
            raise SystemExit(f"warden db migrate failed: {migrated.stderr}")
        on_pg.start()
        peers.append(on_pg)
        gateways: dict[int, WardenProcess] = {}
        for n in (1, 2):
            (work / f"w{n}").mkdir()
            gateways[n] = WardenProcess(
                work / f"w{n}",
                {"unsafe_testing": {"route_catalog_hosts_to": aimock.url}},
                UNSAFE_ENV,
                workers=n,
            )
            gateways[n].start()
            peers.append(gateways[n])
        one, two = gateways[1], gateways[2]
        bare, bare_port = start_bare_mitmproxy(aimock.port, one.ca_cert.parent, work / "bare.log")
        peers.append(bare)
        assert one.proc is not None and two.proc is not None and bare.proc is not None
        assert on_pg.proc is not None
        pg_pid = database.proc.pid
        targets: dict[str, tuple[str, Path, int, tuple[int, ...]]] = {
            "bare mitmproxy (1 process)": (
                f"http://127.0.0.1:{bare_port}",
                one.ca_cert,
                bare.proc.pid,
                (),
            ),
            "warden, workers: 1": (one.proxy_url, one.ca_cert, one.proc.pid, ()),
            "warden, workers: 2": (two.proxy_url, two.ca_cert, two.proc.pid, ()),
            "workers: 2, PostgreSQL": (on_pg.proxy_url, on_pg.ca_cert, on_pg.proc.pid, (pg_pid,)),
        }
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
        for _ in range(args.rounds):
            for name, (proxy, ca, pid, also) in targets.items():  # alternate: noise hits all
                runs[name].append(
                    asyncio.run(drive(API, proxy, ca, args.clients, args.seconds, pid, also))
                )
        print(
            f"{'target':28} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'CPU us/req':>10} "
            f"{'db us/req':>9} {'busy %':>6} {'n':>7}   ({args.clients} clients, median of "
            f"{args.rounds} "
            f"rounds of {args.seconds:.0f} s, {os.cpu_count()} cores)"
        )
        med: dict[str, dict[str, float]] = {}
        for name, results in runs.items():
            m = {k: statistics.median(r[k] for r in results) for k in results[0]}
            med[name] = m
            print(
                f"{name:28} {m['rps']:>7.0f} {m['p50']:>7.2f} {m['p99']:>7.2f} "
                f"{m['cpu_us']:>10.0f} {m['also_us']:>9.0f} {m['busy']:>6.0f} {m['n']:>7.0f}"
            )
        w1, w2, b = (
            med["warden, workers: 1"],
            med["warden, workers: 2"],
            med["bare mitmproxy (1 process)"],
        )
        print(
            f"2 workers / 1 worker: throughput {w2['rps'] / w1['rps']:.2f}x (target >= 1.6 "
            f"where cores allow), CPU per request {w2['cpu_us'] / w1['cpu_us']:.2f}x "
            "(target <= 1.1)"
        )
        print(
            f"1 worker / bare: throughput {w1['rps'] / b['rps']:.2f}x, CPU per request "
            f"{w1['cpu_us'] / b['cpu_us']:.2f}x"
        )
        pg = med["workers: 2, PostgreSQL"]
        print(
            f"2 workers PostgreSQL / SQLite: CPU per request {pg['cpu_us'] / w2['cpu_us']:.2f}x "
            f"(target <= 1.1), p99 added {pg['p99'] - w2['p99']:+.2f} ms (target <= 1), "
            f"throughput {pg['rps'] / w2['rps']:.2f}x"
        )
    finally:
        for p in reversed(peers):
            p.stop()
        database.stop()


if __name__ == "__main__":
    main()
