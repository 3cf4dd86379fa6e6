"""Portal load against signed-in users: proxy latency with and without a login flood.

Run: ``.venv/bin/python bench/portal.py [--seconds 5] [--rounds 3] [--clients 4] [--workers 2]
[--own-process]``.
One run starts aimock as the upstream, the dev IdP and ``warden run`` with identity
enforced (test-bed routing to aimock). Signed-in users are service clients with a JWT from
the IdP as ``Proxy-Authorization: Bearer``, sending ~1 KB chat requests over keep-alive
HTTPS through the proxy. Each round measures them twice, alternately: quiet, and while a
separate process floods the portal with anonymous ``GET /portal/login`` from 16 loopback
addresses as fast as it can, and (control) while the same flood hits a separate server
process instead, which shows what the flood costs the shared machine rather than the
gateway (issue 19, finding 7: 24 logins/s had raised every signed-in
user's p50 from 11 ms to 1.2 s). It prints, per phase, the medians over the rounds of the
users' requests/s, p50 and p99, the logins/s the flood sent and the portal started
(the rest are rationed, 429), and the flood/quiet ratios. The flood runs in its own process so that its work does not slow the measuring
clients' event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.identity.devidp import DevIdp, portal_client, service_client  # noqa: E402
from tests.peers import (  # noqa: E402
    UNSAFE_ENV,
    Aimock,
    WardenProcess,
    free_port,
    port_open,
    wait_until,
)

URL = "https://api.openai.com/v1/chat/completions"
RESOURCE = "urn:egress-warden:proxy"
SECRET = "bench-secret"
PROMPT = "benchmark " + "lorem ipsum dolor sit amet " * 34
BODY = json.dumps(
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}]}
).encode()


# -- the flood (its own process) ------------------------------------------------------------


async def flood(portal: str, seconds: float, connections: int, rate: float = 0.0) -> None:
    """Anonymous logins as fast as the portal answers; prints how many it sent and how
    many the portal started (302; the rest were rationed: 429)."""
    sent = started = 0
    begin = time.perf_counter()
    deadline = begin + seconds
    gap = connections / rate if rate > 0 else 0.0  # per connection, for ``rate`` in all

    async def one(n: int) -> None:
        nonlocal sent, started
        connector = aiohttp.TCPConnector(local_addr=(f"127.0.1.{n + 1}", 0))
        async with aiohttp.ClientSession(connector=connector) as session:
            due = begin + gap * n / connections
            while time.perf_counter() < deadline:
                if gap:
                    due += gap
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                async with session.get(
                    f"{portal}/portal/login", params={"next": "/portal/"}, allow_redirects=False
                ) as r:
                    await r.read()
                    if r.status not in (302, 429):
                        raise RuntimeError(f"portal login: HTTP {r.status}")
                sent += 1
                started += r.status == 302

    start = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(connections)))
    elapsed = time.perf_counter() - start
    print(json.dumps({"sent": sent, "started": started, "seconds": elapsed}), flush=True)


async def bystander(port: int) -> None:
    """A separate server that answers the flood as the portal answers a rationed login
    (429): flooding it shows what the flood costs the machine (two shared cores), apart
    from what it costs the gateway's event loop."""
    from aiohttp import web

    async def login(_request: web.Request) -> web.Response:
        return web.Response(status=429, text="too many sign-in attempts from this address")

    app = web.Application()
    app.router.add_get("/portal/login", login)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


# -- the signed-in users --------------------------------------------------------------------


async def _user(
    session: aiohttp.ClientSession,
    proxy: str,
    token: str,
    ctx: ssl.SSLContext,
    deadline: float,
    latencies: list[float],
) -> None:
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
    proxy_headers = {"Proxy-Authorization": f"Bearer {token}"}
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        async with session.post(
            URL, data=BODY, headers=headers, proxy=proxy, proxy_headers=proxy_headers, ssl=ctx
        ) as r:
            await r.read()
            if r.status != 200:
                raise RuntimeError(f"signed-in request: HTTP {r.status} {await r.text()}")
        latencies.append(time.perf_counter() - t0)


async def users(proxy: str, ca: Path, token: str, clients: int, seconds: float) -> list[float]:
    ctx = ssl.create_default_context(cafile=str(ca))
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        warm: list[float] = []
        await asyncio.gather(
            *(
                _user(session, proxy, token, ctx, time.perf_counter() + 0.5, warm)
                for _ in range(clients)
            )
        )
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds
        await asyncio.gather(
            *(_user(session, proxy, token, ctx, deadline, latencies) for _ in range(clients))
        )
    return latencies


def _stats(latencies: list[float], seconds: float) -> dict[str, float]:
    q = statistics.quantiles(latencies, n=100)
    return {"rps": len(latencies) / seconds, "p50": q[49] * 1000, "p99": q[98] * 1000}


# -- the run ----------------------------------------------------------------------------------


def _bed(work: Path, workers: int) -> tuple[Aimock, DevIdp, WardenProcess]:
    aimock = Aimock(ROOT / "tests" / "fixtures" / "aimock", work / "aimock.log")
    (work / "w").mkdir()
    warden = WardenProcess(
        work / "w",
        {"unsafe_testing": {"route_catalog_hosts_to": "http://127.0.0.1:1"}},
        {**UNSAFE_ENV, "WARDEN_BENCH_PORTAL_SECRET": SECRET},
        workers=workers,
    )
    idp = DevIdp(
        work / "idp",
        clients=[
            portal_client("warden-portal", SECRET, [f"{warden.control_url}/portal/callback"]),
            service_client("bench-svc", SECRET, {"tenant": "acme", "department": "eng"}),
        ],
    )
    return aimock, idp, warden


def _configure(
    warden: WardenProcess, idp: DevIdp, aimock: Aimock, own_process: bool = False
) -> None:
    cfg: dict[str, Any] = yaml.safe_load(warden.config_path.read_text())
    cfg["unsafe_testing"]["route_catalog_hosts_to"] = aimock.url
    cfg["control"]["own_process"] = own_process
    cfg["identity"] = {
        "mode": "enforce",
        "portal": {"public_url": warden.control_url, "company": "Bench"},
        "identity_providers": [
            {
                "id": "dev",
                "issuer": idp.issuer,
                "client_id": "warden-portal",
                "client_secret_env": "WARDEN_BENCH_PORTAL_SECRET",
                "scopes": ["openid", "email", "profile", "warden"],
                "tenant_claim": "tenant",
                "service_tokens": {"audience": RESOURCE, "algorithms": ["RS256"]},
            }
        ],
        "tenants": [{"id": "acme", "display_name": "Acme", "identity_providers": ["dev"]}],
    }
    warden.config_path.write_text(yaml.safe_dump(cfg))


def _flooded(
    args: argparse.Namespace, warden: WardenProcess, token: str, target: str
) -> dict[str, float]:
    """The signed-in users measured while a separate process floods ``target``."""
    # The flood starts first and outlasts the measured window.
    flooder = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--flood",
            target,
            "--seconds",
            str(args.seconds + 1.5),
            "--flood-connections",
            str(args.flood_connections),
            "--flood-rate",
            str(args.flood_rate),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if "proxy" not in k.lower()},
    )
    time.sleep(0.5)
    latencies = asyncio.run(
        users(warden.proxy_url, warden.ca_cert, token, args.clients, args.seconds)
    )
    out, _ = flooder.communicate(timeout=120)
    achieved = json.loads(out.strip().splitlines()[-1])
    row = _stats(latencies, args.seconds)
    row["sent"] = achieved["sent"] / achieved["seconds"]
    row["started"] = achieved["started"] / achieved["seconds"]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", type=int, default=4, help="concurrent signed-in users")
    ap.add_argument("--flood-connections", type=int, default=16)
    ap.add_argument(
        "--workers",
        type=int,
        default=1,
        help="proxy.workers: 2 and more run the portal in the supervisor's process, "
        "off the proxy workers' event loops",
    )
    ap.add_argument(
        "--own-process",
        action="store_true",
        help="control.own_process: true (with --workers 1: the portal in the supervisor's "
        "process, off the proxy's event loop; the default shares it)",
    )
    ap.add_argument(
        "--flood-rate", type=float, default=0.0, help="logins/s in all (0: as fast as it can)"
    )
    ap.add_argument("--flood", metavar="PORTAL_URL", help=argparse.SUPPRESS)
    ap.add_argument("--bystander", metavar="PORT", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.flood:
        asyncio.run(flood(args.flood, args.seconds, args.flood_connections, args.flood_rate))
        return
    if args.bystander:
        asyncio.run(bystander(args.bystander))
        return
    with tempfile.TemporaryDirectory(prefix="warden-bench-portal-") as tmp:
        work = Path(tmp)
        aimock, idp, warden = _bed(work, args.workers)
        peers = [aimock, idp, warden]
        peers_procs: list[subprocess.Popen[bytes]] = []
        try:
            aimock.start()
            idp.start()
            _configure(warden, idp, aimock, own_process=args.own_process)
            warden.start()
            token = idp.client_credentials_token("bench-svc", SECRET, RESOURCE)
            side_port = free_port()
            side = subprocess.Popen([sys.executable, __file__, "--bystander", str(side_port)])
            peers_procs.append(side)
            wait_until(lambda: port_open(side_port), 30, "the bystander server", side)
            targets = {"flood": warden.control_url, "control": f"http://127.0.0.1:{side_port}"}
            rows: dict[str, list[dict[str, float]]] = {"quiet": [], "flood": [], "control": []}
            for _ in range(args.rounds):
                latencies = asyncio.run(
                    users(warden.proxy_url, warden.ca_cert, token, args.clients, args.seconds)
                )
                rows["quiet"].append(_stats(latencies, args.seconds))
                for phase, target in targets.items():
                    rows[phase].append(_flooded(args, warden, token, target))
        finally:
            for proc in peers_procs:
                proc.terminate()
                proc.wait(10)
            for peer in reversed(peers):
                peer.stop()
    med = {
        phase: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for phase, rs in rows.items()
    }
    print(
        f"\n## Signed-in users ({args.clients} concurrent, keep-alive HTTPS, JWT) with and "
        f"without an anonymous portal login flood "
        f"({f'{args.flood_rate:g}/s' if args.flood_rate else 'unpaced'}); medians of "
        f"{args.rounds} rounds of {args.seconds:g} s; proxy.workers: {args.workers}, "
        f"control.own_process: {str(args.own_process).lower()}\n"
    )
    print(
        f"{'phase':8s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} "
        f"{'logins sent/s':>14s} {'started/s':>10s}"
    )
    for phase, m in med.items():
        sent = f"{m['sent']:14.0f}" if "sent" in m else f"{'-':>14s}"
        started = f"{m['started']:10.0f}" if "started" in m else f"{'-':>10s}"
        print(f"{phase:8s} {m['rps']:8.0f} {m['p50']:8.2f} {m['p99']:8.2f} {sent} {started}")
    q = med["quiet"]
    for phase in ("flood", "control"):
        f = med[phase]
        print(
            f"{phase}/quiet: p50 x{f['p50'] / q['p50']:.2f} ({f['p50'] - q['p50']:+.2f} ms), "
            f"p99 x{f['p99'] / q['p99']:.2f} ({f['p99'] - q['p99']:+.2f} ms), "
            f"req/s x{f['rps'] / q['rps']:.2f}"
        )
    print(
        "(control: the same flood against a separate server answering 429, i.e. what the "
        "flood costs the shared machine, not the gateway)"
    )


if __name__ == "__main__":
    main()
