"""Time to first token of a streamed answer: direct to the upstream vs through the gateway.

Run: ``.venv/bin/python bench/ttft.py [--requests 200]``.

One run starts aimock, a bare mitmproxy (b, bench/bare_mitmproxy.py) and ``warden run``
as shipped with sign-in off (g: every streamed answer goes through the answer stream,
usage and the audit record committed before its first byte is released). A client posts
the same streamed chat request (``stream: true``) to aimock directly (d) and through each
proxy, alternating, one at a time, and measures the time from sending the request to the
first content delta, and to the end of the answer. It prints p50/p99 per path and the
p50 added over direct.
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

from bench.bare import start_bare_mitmproxy  # noqa: E402
from tests.peers import (  # noqa: E402
    UNSAFE_ENV,
    Aimock,
    Peer,
    WardenProcess,
)

BODY = json.dumps(
    {
        "model": "gpt-4o-mini",
        "stream": True,
        "messages": [{"role": "user", "content": "benchmark"}],
    }
).encode()


async def one(
    session: aiohttp.ClientSession, url: str, proxy: str | None, ctx: ssl.SSLContext | None
) -> tuple[float, float]:
    t0 = time.perf_counter()
    first = None
    async with session.post(
        url,
        data=BODY,
        headers={"Content-Type": "application/json", "Authorization": "Bearer sk-bench"},
        proxy=proxy,
        ssl=ctx if ctx is not None else False,
    ) as r:
        async for line in r.content:
            if first is None and line.startswith(b"data: {") and b'"content"' in line:
                first = time.perf_counter()
    end = time.perf_counter()
    return ((first or end) - t0) * 1000, (end - t0) * 1000


async def run(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="warden-ttft-"))
    aimock = Aimock(ROOT / "tests" / "fixtures" / "aimock", work / "aimock.log")
    aimock.start()
    (work / "g").mkdir()
    warden = WardenProcess(
        work / "g", {"unsafe_testing": {"route_catalog_hosts_to": aimock.url}}, env=UNSAFE_ENV
    )
    bare: Peer | None = None
    try:
        warden.start()
        bare, bare_port = start_bare_mitmproxy(
            aimock.port, warden.ca_cert.parent, work / "bare.log"
        )
        ctx = ssl.create_default_context(cafile=str(warden.ca_cert))
        upstream = "https://api.openai.com/v1/chat/completions"
        paths = {
            "d  direct": (f"{aimock.url}/v1/chat/completions", None, None),
            "b  bare mitmproxy": (upstream, f"http://127.0.0.1:{bare_port}", ctx),
            "g  warden": (upstream, warden.proxy_url, ctx),
        }
        results: dict[str, list[tuple[float, float]]] = {k: [] for k in paths}
        async with aiohttp.ClientSession() as session:
            for url, proxy, c in paths.values():  # warm-up: TLS, caches
                for _ in range(5):
                    await one(session, url, proxy, c)
            for _ in range(args.requests):
                for name, (url, proxy, c) in paths.items():
                    results[name].append(await one(session, url, proxy, c))
    finally:
        if bare is not None:
            bare.stop()
        warden.stop()
        aimock.stop()

    def q(values: list[float], p: float) -> float:
        s = sorted(values)
        return s[min(len(s) - 1, int(len(s) * p))]

    base = statistics.median(t for t, _ in results["d  direct"])
    print(f"{args.requests} streamed answers per path, one at a time (ms)")
    print(f"{'path':<26}{'TTFT p50':>10}{'TTFT p99':>10}{'end p50':>10}{'+TTFT p50':>11}")
    for name, rows in results.items():
        first = [t for t, _ in rows]
        end = [e for _, e in rows]
        print(
            f"{name:<26}{statistics.median(first):>10.2f}{q(first, 0.99):>10.2f}"
            f"{statistics.median(end):>10.2f}{statistics.median(first) - base:>11.2f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200)
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
