"""WebSocket benchmark: Responses WebSocket turns through bare mitmproxy and ``warden run``.

Run: ``.venv/bin/python bench/websocket.py [--seconds 3] [--rounds 5] [--sockets 8]``.
One run starts aimock (its Responses WebSocket mode is the upstream), a bare mitmproxy
(bench/bare_mitmproxy.py) and ``warden run`` as shipped (identity off, no policy or DLP
file: the socket stage reads every message and writes two audit records per turn), both
with test-bed routing to aimock. ``--sockets`` clients each keep one socket open and send
``response.create`` turns back to back, reading the answer's events up to
``response.completed``; the proxies alternate for ``--rounds`` rounds. It prints the
medians of turns/s, messages/s (client and server messages both), turn p50/p99 and the
proxy process's CPU per message (for warden including its audit writer), and the ratio
warden/bare. The client leg is TLS through the proxy (CONNECT, then the upgrade), as
Codex CLI connects.
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

from bench.bare import start_test_bed  # noqa: E402
from bench.proxy import cpu_seconds  # noqa: E402
from tests.peers import Peer  # noqa: E402

TURN = json.dumps(
    {
        "type": "response.create",
        "model": "gpt-4o-mini",
        "instructions": "You are a helpful assistant.",
        "input": [
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "benchmark " + "lorem ipsum dolor " * 50}
                ],
            }
        ],
    }
)
URL = "wss://api.openai.com/v1/responses"


async def _socket(
    proxy: str, tls: ssl.SSLContext, deadline: float, turns: list[float], messages: list[int]
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(URL, proxy=proxy, ssl=tls) as ws,
    ):
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            await ws.send_str(TURN)
            count = 1
            while True:
                msg = await ws.receive(timeout=30)
                if msg.type != aiohttp.WSMsgType.TEXT:
                    raise RuntimeError(f"socket via {proxy} ended: {msg.type.name}")
                count += 1
                kind = json.loads(msg.data).get("type")
                if kind == "error":
                    raise RuntimeError(f"error event via {proxy}: {msg.data[:300]}")
                if kind == "response.completed":
                    break
            turns.append(time.perf_counter() - t0)
            messages.append(count)


async def drive(proxy: str, ca: Path, sockets: int, seconds: float, pid: int) -> dict[str, float]:
    tls = ssl.create_default_context(cafile=str(ca))
    warm: list[float] = []
    await _socket(proxy, tls, time.perf_counter() + 0.3, warm, [])
    turns: list[float] = []
    messages: list[int] = []
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    deadline = t0 + seconds
    await asyncio.gather(*(_socket(proxy, tls, deadline, turns, messages) for _ in range(sockets)))
    elapsed, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
    lat = sorted(turns)
    total = sum(messages)
    return {
        "turns": len(turns) / elapsed,
        "msgs": total / elapsed,
        "p50": lat[len(lat) // 2] * 1000,
        "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
        "cpu_us": cpu / max(1, total) * 1e6,
        "n": total,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=3.0, help="measured seconds per cell")
    ap.add_argument("--rounds", type=int, default=5, help="bare and warden alternate this often")
    ap.add_argument("--sockets", type=int, default=8, help="sockets open at once")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="warden-bench-ws-"))
    peers: list[Peer] = []
    try:
        _, warden, bare, bare_port = start_test_bed(work, peers)
        assert warden.proc is not None and bare.proc is not None
        targets = {
            "b bare mitmproxy": (f"http://127.0.0.1:{bare_port}", bare.proc.pid),
            "c warden run": (warden.proxy_url, warden.proc.pid),
        }
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
        for _ in range(args.rounds):
            for name, (proxy, pid) in targets.items():
                runs[name].append(
                    asyncio.run(drive(proxy, warden.ca_cert, args.sockets, args.seconds, pid))
                )
        print(
            f"{'target':18} {'sockets':>7} {'turns/s':>8} {'msgs/s':>8} {'p50 ms':>7} "
            f"{'p99 ms':>7} {'CPU us/msg':>10} {'n':>7}   (median of {args.rounds} rounds)"
        )
        medians = {}
        for name, results in runs.items():
            m = {k: statistics.median(r[k] for r in results) for k in results[0]}
            medians[name] = m
            print(
                f"{name:18} {args.sockets:>7} {m['turns']:>8.0f} {m['msgs']:>8.0f} "
                f"{m['p50']:>7.2f} {m['p99']:>7.2f} {m['cpu_us']:>10.0f} {m['n']:>7.0f}"
            )
        c, b = medians["c warden run"], medians["b bare mitmproxy"]
        per_round = [
            rc["msgs"] / rb["msgs"]
            for rc, rb in zip(runs["c warden run"], runs["b bare mitmproxy"], strict=True)
        ]
        print(
            f"messages/s warden/bare: {c['msgs'] / b['msgs']:.2f} (rounds "
            f"{min(per_round):.2f}-{max(per_round):.2f}); CPU per message: "
            f"{c['cpu_us'] / b['cpu_us']:.2f}"
        )
    finally:
        for p in reversed(peers):
            p.stop()


if __name__ == "__main__":
    main()
