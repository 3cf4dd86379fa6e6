"""Proxy overhead benchmark: the same small HTTPS POSTs direct, via bare mitmproxy, via warden.

Run: ``make bench`` (or ``.venv/bin/python bench/proxy.py [--seconds 5]``). One run
starts aimock as the upstream, a bare mitmproxy (bench/bare_mitmproxy.py) and
``warden run`` (test-bed routing to aimock), then drives ~1 KB JSON chat requests with
keep-alive from 1 and 32 concurrent clients at each and prints requests/s, p50 and p99,
and the throughput ratio warden / bare mitmproxy. The upstream is plain HTTP on loopback
(aimock speaks no TLS); the client-side leg is HTTPS through the proxy, as in production.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.peers import UNSAFE_ENV, Aimock, Peer, WardenProcess, free_port, port_open, wait_until  # noqa: E402

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
    url: str, proxy: str | None, ca: Path | None, clients: int, seconds: float
) -> dict[str, float]:
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
        start = time.perf_counter()
        await asyncio.gather(
            *(
                _client(session, url, proxy, ssl_ctx, start + seconds, latencies, 1_000_000)
                for _ in range(clients)
            )
        )
        elapsed = time.perf_counter() - start
    q = statistics.quantiles(latencies, n=100)
    return {
        "rps": len(latencies) / elapsed,
        "p50": q[49] * 1000,
        "p99": q[98] * 1000,
        "n": len(latencies),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=5.0, help="measured seconds per cell")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="warden-bench-"))
    aimock = Aimock(ROOT / "tests" / "fixtures" / "aimock", work / "aimock.log")
    (work / "w").mkdir()
    peers: list[Peer] = []
    try:
        aimock.start()
        peers.append(aimock)
        warden = WardenProcess(
            work / "w", {"unsafe_testing": {"route_catalog_hosts_to": aimock.url}}, UNSAFE_ENV
        )
        warden.start()
        peers.append(warden)
        bare_port = free_port()
        bare = Peer(
            "bare",
            [
                sys.executable,
                str(ROOT / "bench" / "bare_mitmproxy.py"),
                str(bare_port),
                str(aimock.port),
                str(warden.ca_cert.parent),
            ],
            log_path=work / "bare.log",
        )
        bare.start()
        peers.append(bare)
        wait_until(lambda: port_open(bare_port), 30, "bare mitmproxy", bare.proc)

        api = "https://api.openai.com/v1/chat/completions"
        targets = {
            "a direct (HTTP upstream)": (f"{aimock.url}/v1/chat/completions", None, None),
            "b bare mitmproxy": (api, f"http://127.0.0.1:{bare_port}", warden.ca_cert),
            "c warden run": (api, warden.proxy_url, warden.ca_cert),
        }
        results: dict[tuple[str, int], dict[str, float]] = {}
        print(f"{'target':28} {'clients':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'n':>7}")
        for clients in (1, 32):
            for name, (url, proxy, ca) in targets.items():
                r = asyncio.run(drive(url, proxy, ca, clients, args.seconds))
                results[(name, clients)] = r
                print(
                    f"{name:28} {clients:>7} {r['rps']:>9.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['n']:>7}"
                )
        for clients in (1, 32):
            ratio = (
                results[("c warden run", clients)]["rps"]
                / results[("b bare mitmproxy", clients)]["rps"]
            )
            print(f"throughput c/b at {clients:>2} clients: {ratio:.2f}  (target >= 0.90)")
    finally:
        for p in reversed(peers):
            p.stop()


if __name__ == "__main__":
    main()
