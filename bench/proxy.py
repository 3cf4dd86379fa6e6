"""Proxy overhead benchmark: the same small HTTPS POSTs direct, via bare mitmproxy, via warden.

Run: ``make bench`` (or ``.venv/bin/python bench/proxy.py [--seconds 3] [--rounds 5]``).
One run starts aimock as the upstream, a bare mitmproxy (bench/bare_mitmproxy.py),
``warden run`` as shipped (c) and ``warden run`` with only the stages issue 2 built (c2,
via bench/warden_stages.py), all with test-bed routing to aimock; then drives ~1 KB JSON
chat requests with keep-alive from 1 and 32 concurrent clients, the proxies alternately
for ``--rounds`` rounds, and prints the medians of requests/s, p50, p99 and the proxy
process's CPU per request (for warden including its audit writer process), how much of
one core the proxy's own process used ("loop %": near 100 means its single event loop is
the bottleneck), how busy the whole machine was ("busy %", of all cores), and the
throughput ratios c/b and c2/b. The upstream is plain HTTP on loopback (aimock speaks no
TLS); the client-side leg is HTTPS through the proxy, as in production.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bare import start_test_bed  # noqa: E402
from tests.peers import UNSAFE_ENV, Peer, WardenProcess  # noqa: E402

#: The stages of the chain that issue 2 built (see bench/warden_stages.py).
ISSUE_2_STAGES = ("DestinationGuard", "Scope", "UnsafeTestRouting", "ResponseReader", "Telemetry")

PROMPT = "benchmark " + "lorem ipsum dolor sit amet " * 34  # ~1 KB body in all
BODY = json.dumps(
    {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "benchmark"}, {"role": "user", "content": PROMPT}],
    }
).encode()


async def _client(
    session: aiohttp.ClientSession,
    url: str,
    proxy: str | None,
    ssl_ctx: ssl.SSLContext | bool,
    deadline: float,
    latencies: list[float],
    max_requests: int,
) -> None:
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
    while time.perf_counter() < deadline and len(latencies) < max_requests:
        t0 = time.perf_counter()
        async with session.post(url, data=BODY, headers=headers, proxy=proxy, ssl=ssl_ctx) as r:
            await r.read()
            if r.status != 200:
                raise RuntimeError(f"{url} via {proxy}: HTTP {r.status}")
        latencies.append(time.perf_counter() - t0)


async def drive(
    url: str,
    proxy: str | None,
    ca: Path | None,
    clients: int,
    seconds: float,
    pid: int | None = None,
    also: tuple[int, ...] = (),
) -> dict[str, float]:
    """Requests/s and latency over ``seconds`` after a short warm-up; with ``pid``, also the
    proxy's CPU and the machine's load over exactly that measured window. ``also``: more
    process trees whose CPU counts too (a PostgreSQL server), also given as ``also_us``."""
    ssl_ctx: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca)) if ca else False
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        warm: list[float] = []
        await asyncio.gather(
            *(
                _client(session, url, proxy, ssl_ctx, time.perf_counter() + 1, warm, 200)
                for _ in range(clients)
            )
        )
        latencies: list[float] = []
        before = _load(pid)
        also_before = sum(cpu_seconds(p) for p in also)
        start = time.perf_counter()
        await asyncio.gather(
            *(
                _client(session, url, proxy, ssl_ctx, start + seconds, latencies, 1_000_000)
                for _ in range(clients)
            )
        )
        elapsed = time.perf_counter() - start
        after = _load(pid)
        also_cpu = sum(cpu_seconds(p) for p in also) - also_before
    q = statistics.quantiles(latencies, n=100)
    n = len(latencies)
    cpu, main_cpu, ticks, idle = (a - b for a, b in zip(after, before, strict=True))
    return {
        "rps": n / elapsed,
        "p50": q[49] * 1000,
        "p99": q[98] * 1000,
        "n": n,
        "cpu_us": 1e6 * (cpu + also_cpu) / n,
        "also_us": 1e6 * also_cpu / n,
        # share of one core the proxy's own process used (its event loop)
        "loop": 100 * main_cpu / elapsed,
        "busy": 100 * (1 - idle / ticks) if ticks else 0.0,
    }


def _load(pid: int | None) -> tuple[float, float, int, int]:
    """(proxy CPU with children, without, machine ticks, idle ticks) at this moment."""
    ticks, idle = machine_ticks()
    if pid is None:
        return 0.0, 0.0, ticks, idle
    return cpu_seconds(pid), cpu_seconds(pid, children=False), ticks, idle


def cpu_seconds(pid: int, children: bool = True) -> float:
    """User + system CPU of ``pid`` and (by default) every process below it: the audit
    writer, DLP workers, and with ``proxy.workers`` the proxy workers and theirs."""
    total = 0.0
    pids = [pid]
    if children:
        frontier = [pid]
        while frontier:
            p = frontier.pop()
            try:
                found = [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
            except OSError:
                continue
            pids += found
            frontier += found
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def machine_ticks() -> tuple[int, int]:
    """(all, idle) CPU ticks of the machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values), values[3] + values[4]  # idle + iowait


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=3.0, help="measured seconds per cell")
    ap.add_argument(
        "--rounds", type=int, default=5, help="b, c and c2 are measured alternately this often"
    )
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="warden-bench-"))
    peers: list[Peer] = []
    try:
        aimock, warden, bare, bare_port = start_test_bed(work, peers)
        # The same gateway with only the stages issue 2 asked for: scope (and the
        # destination guard), test routing, the response reader and telemetry.
        (work / "w2").mkdir()
        core = WardenProcess(
            work / "w2", {"unsafe_testing": {"route_catalog_hosts_to": aimock.url}}, UNSAFE_ENV
        )
        core.argv = [
            sys.executable,
            str(ROOT / "bench" / "warden_stages.py"),
            ",".join(ISSUE_2_STAGES),
            "--",
            *list(core.argv)[1:],
        ]
        core.start()
        peers.append(core)
        assert warden.proc is not None and bare.proc is not None and core.proc is not None

        api = "https://api.openai.com/v1/chat/completions"
        targets = {
            "a direct (HTTP upstream)": (f"{aimock.url}/v1/chat/completions", None, None, None),
            "b bare mitmproxy": (
                api,
                f"http://127.0.0.1:{bare_port}",
                warden.ca_cert,
                bare.proc.pid,
            ),
            "c warden run": (api, warden.proxy_url, warden.ca_cert, warden.proxy_pids[0]),
            "c2 warden, issue-2 stages": (api, core.proxy_url, core.ca_cert, core.proxy_pids[0]),
        }
        print(
            f"{'target':26} {'clients':>7} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'CPU us/req':>10} {'loop %':>6} {'busy %':>6} {'n':>7}   "
            f"(median of {args.rounds} rounds)"
        )
        medians: dict[tuple[str, int], dict[str, float]] = {}
        rounds: dict[tuple[str, int], list[dict[str, float]]] = {}
        for clients in (1, 32):
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
            for _ in range(args.rounds):
                # alternate the targets so a slow moment of the machine hits all of them
                for name, (url, proxy, ca, pid) in targets.items():
                    runs[name].append(
                        asyncio.run(drive(url, proxy, ca, clients, args.seconds, pid))
                    )
            for name, results in runs.items():
                rounds[(name, clients)] = results
                m = {k: statistics.median(r[k] for r in results) for k in results[0]}
                medians[(name, clients)] = m
                has_pid = targets[name][3] is not None
                cpu = f"{m['cpu_us']:>10.0f}" if has_pid else f"{'-':>10}"
                loop = f"{m['loop']:>6.0f}" if has_pid else f"{'-':>6}"
                print(
                    f"{name:26} {clients:>7} {m['rps']:>7.0f} {m['p50']:>7.2f} {m['p99']:>7.2f} "
                    f"{cpu} {loop} {m['busy']:>6.0f} {m['n']:>7.0f}"
                )
        for row, label in (("c warden run", "c/b "), ("c2 warden, issue-2 stages", "c2/b")):
            for clients in (1, 32):
                c, b = medians[(row, clients)], medians[("b bare mitmproxy", clients)]
                # b and c of one round ran back to back: their ratio shows the run's spread
                per_round = [
                    rc["rps"] / rb["rps"]
                    for rc, rb in zip(
                        rounds[(row, clients)], rounds[("b bare mitmproxy", clients)], strict=True
                    )
                ]
                print(
                    f"throughput {label} at {clients:>2} clients: {c['rps'] / b['rps']:.2f}  "
                    f"(target >= 0.90; rounds {min(per_round):.2f}-{max(per_round):.2f}); "
                    f"CPU per request: {c['cpu_us'] / b['cpu_us']:.2f}"
                )
    finally:
        for p in reversed(peers):
            p.stop()


if __name__ == "__main__":
    main()
