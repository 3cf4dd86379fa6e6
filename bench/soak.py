"""Hostile soak: signed-in traffic's latency and the gateway's memory while anonymous
clients and a hostile upstream do their worst (issue 19). Loopback only, bounded in time.

Run: ``.venv/bin/python bench/soak.py [--seconds 20] [--clients 4]``.

One run starts aimock (the well-behaved upstream of ``api.openai.com``), a hostile upstream
of our own (``api.anthropic.com`` is routed to it with the test-bed routing) and
``warden run``. Good clients post ~1 KB chat requests to ``api.openai.com`` through the
proxy, first alone (baseline), then while the attack runs:

- hostile upstream, per request in turn: one 16 MB SSE line trickled in 64 KB chunks, a
  1 MB gzip answer that inflates to 1 GiB, a stream that drips one byte every 50 ms;
- hostile clients: request heads that never end (a header line growing 64 KB at a
  time), 500 half-sent CONNECTs held open, gzip bodies that inflate to 1 GiB.

It prints p50/p99 of the good clients in both phases and their ratio, the peak RSS of the
gateway's processes (the proxy and its children) in both phases, and whether the targets
hold: attack p99 <= 2x baseline p99 (``--p99-ratio``) and peak RSS <= ``--rss-mb``, with no
good request failed. Exit status 1 if not. ``tests/e2e/test_soak.py`` runs it briefly.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import ssl
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.peers import UNSAFE_ENV, Aimock, WardenProcess, free_port  # noqa: E402

#: The benchmark's ~1 KB chat request (aimock's fixture answers the user message "benchmark").
BODY = json.dumps(
    {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "user", "content": "soak " + "lorem ipsum dolor " * 50},
            {"role": "user", "content": "benchmark"},
        ],
    }
).encode()
BOMB = gzip.compress(b"\0" * (1 << 30), compresslevel=9)  # ~1 MB on the wire, 1 GiB inflated


# --------------------------------------------------------------------------- upstream


class HostileUpstream:
    """Answers every request with the next attack in turn."""

    def __init__(self) -> None:
        self.turn = 0
        self.port = free_port()
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=64 << 20)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self.turn += 1
        kind = self.turn % 3
        if kind == 1:  # gzip bomb answer
            return web.Response(
                body=BOMB,
                headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
            )
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        try:
            if kind == 2:  # one endless SSE line
                await resp.write(b'event: content_block_delta\ndata: {"x": "')
                for _ in range(256):
                    await resp.write(b"a" * 65536)
                    await asyncio.sleep(0.005)
            else:  # drip
                for _ in range(200):
                    await resp.write(b":")
                    await asyncio.sleep(0.05)
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            pass
        return resp


# --------------------------------------------------------------------------- clients


async def good_client(
    proxy: str, ctx: ssl.SSLContext, stop: asyncio.Event, out: list[tuple[float, float]]
) -> None:
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-soak"}
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            t0 = time.perf_counter()
            try:
                async with session.post(
                    "https://api.openai.com/v1/chat/completions",
                    data=BODY,
                    headers=headers,
                    proxy=proxy,
                    ssl=ctx,
                    timeout=aiohttp.ClientTimeout(total=30),
                ) as r:
                    await r.read()
                    ok = r.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            out.append((t0, (time.perf_counter() - t0) * 1000 if ok else float("inf")))


async def hostile_upstream_calls(proxy: str, ctx: ssl.SSLContext, stop: asyncio.Event) -> None:
    body = json.dumps(
        {
            "model": "claude-3-5-haiku-latest",
            "max_tokens": 64,
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        }
    ).encode()
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            try:
                async with session.post(
                    "https://api.anthropic.com/v1/messages",
                    data=body,
                    headers={"Content-Type": "application/json", "x-api-key": "sk-ant-soak"},
                    proxy=proxy,
                    ssl=ctx,
                    timeout=aiohttp.ClientTimeout(total=20),
                ) as r:
                    async for _ in r.content.iter_chunked(65536):
                        pass
            except (aiohttp.ClientError, TimeoutError, ValueError):
                pass


async def endless_header(port: int, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\nX-Pad: ")
            for _ in range(1024):  # up to 64 MB, until the gateway hangs up
                if stop.is_set() or reader.at_eof():
                    break
                writer.write(b"a" * 65536)
                await writer.drain()
                await asyncio.sleep(0.01)
            writer.close()
        except OSError:
            await asyncio.sleep(0.1)


async def half_open_connects(port: int, stop: asyncio.Event, count: int = 500) -> None:
    writers = []
    for _ in range(count):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"CONNECT api.openai.com:443 HTTP/1.1\r\n")  # and never the rest
            writers.append(writer)
        except OSError:
            break
    await stop.wait()
    for w in writers:
        w.close()


async def bomb_bodies(proxy: str, ctx: ssl.SSLContext, stop: asyncio.Event) -> None:
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            try:
                async with session.post(
                    "https://api.openai.com/v1/chat/completions",
                    data=BOMB,
                    headers=headers,
                    proxy=proxy,
                    ssl=ctx,
                    timeout=aiohttp.ClientTimeout(total=20),
                ) as r:
                    await r.read()
            except (aiohttp.ClientError, TimeoutError):
                await asyncio.sleep(0.1)


# --------------------------------------------------------------------------- measuring


def tree_rss_mb(pid: int) -> float:
    """RSS of ``pid`` and all its descendants, in MB."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return total / 1024


async def sample_rss(pid: int, stop: asyncio.Event, peaks: list[float]) -> None:
    while not stop.is_set():
        peaks.append(tree_rss_mb(pid))
        await asyncio.sleep(0.25)


def p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))] if values else float("nan")


async def phase(
    warden: WardenProcess, ctx: ssl.SSLContext, seconds: float, clients: int, attack: bool
) -> tuple[list[float], float]:
    assert warden.proc is not None
    stop = asyncio.Event()
    samples: list[tuple[float, float]] = []
    peaks: list[float] = []
    tasks = [
        asyncio.create_task(good_client(warden.proxy_url, ctx, stop, samples))
        for _ in range(clients)
    ]
    tasks.append(asyncio.create_task(sample_rss(warden.proc.pid, stop, peaks)))
    if attack:
        tasks += [
            asyncio.create_task(hostile_upstream_calls(warden.proxy_url, ctx, stop)),
            asyncio.create_task(hostile_upstream_calls(warden.proxy_url, ctx, stop)),
            asyncio.create_task(endless_header(warden.proxy_port, stop)),
            asyncio.create_task(endless_header(warden.proxy_port, stop)),
            asyncio.create_task(half_open_connects(warden.proxy_port, stop)),
            asyncio.create_task(bomb_bodies(warden.proxy_url, ctx, stop)),
        ]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.wait(tasks, timeout=40)
    for t in tasks:
        t.cancel()
    return [ms for _, ms in samples], max(peaks, default=0.0)


async def run(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="warden-soak-"))
    aimock = Aimock(ROOT / "tests" / "fixtures" / "aimock", work / "aimock.log")
    hostile = HostileUpstream()
    await hostile.start()
    aimock.start()
    (work / "warden").mkdir()
    warden = WardenProcess(
        work / "warden",
        {
            "unsafe_testing": {
                "route_catalog_hosts_to": aimock.url,
                "routes": {"api.anthropic.com": f"http://127.0.0.1:{hostile.port}"},
            }
        },
        env=UNSAFE_ENV,
    )
    try:
        warden.start()
        ctx = ssl.create_default_context(cafile=str(warden.ca_cert))
        base, base_rss = await phase(warden, ctx, args.seconds, args.clients, attack=False)
        hit, hit_rss = await phase(warden, ctx, args.seconds, args.clients, attack=True)
        settled = tree_rss_mb(warden.proc.pid) if warden.proc else 0.0
    finally:
        warden.stop()
        aimock.stop()
        await hostile.stop()
    failed = sum(1 for ms in hit if ms == float("inf"))
    ok_base = [ms for ms in base if ms != float("inf")]
    ok_hit = [ms for ms in hit if ms != float("inf")]
    ratio = p(ok_hit, 0.99) / p(ok_base, 0.99)
    print(
        f"{'phase':<10}{'requests':>10}{'failed':>8}{'p50 ms':>9}{'p99 ms':>9}{'peak RSS MB':>13}"
    )
    print(
        f"{'baseline':<10}{len(base):>10}{len(base) - len(ok_base):>8}"
        f"{p(ok_base, 0.5):>9.1f}{p(ok_base, 0.99):>9.1f}{base_rss:>13.0f}"
    )
    print(
        f"{'attack':<10}{len(hit):>10}{failed:>8}"
        f"{p(ok_hit, 0.5):>9.1f}{p(ok_hit, 0.99):>9.1f}{hit_rss:>13.0f}"
    )
    print(
        f"p99 attack/baseline {ratio:.2f} (target <= {args.p99_ratio:g}"
        f"{', not checked' if args.p99_ratio <= 0 else ''}); peak RSS {hit_rss:.0f} MB "
        f"(bound {args.rss_mb} MB); RSS after the attack {settled:.0f} MB; "
        f"good requests failed under attack: {failed}"
    )
    timely = ratio <= args.p99_ratio if args.p99_ratio > 0 else True
    good = timely and hit_rss <= args.rss_mb and failed == 0
    print("targets met" if good else "TARGETS MISSED")
    return 0 if good else 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--rss-mb", type=int, default=1024, help="bound on the peak RSS, MB")
    ap.add_argument(
        "--p99-ratio",
        type=float,
        default=2.0,
        help="bound on the good clients' p99 under attack / alone (0: not checked, as in "
        "the test suite: a loaded CI machine's timing says nothing about the gateway)",
    )
    args = ap.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
