"""Requests that pass after a revocation was answered, with ``proxy.workers: 2``.

Run: ``.venv/bin/python bench/revocation_push.py [--rounds 5] [--connections 8]``.

One run starts aimock, the dev IdP and ``warden run`` with two proxy workers (test-bed
routing to aimock). Each round signs bob in with a device login, opens ``--connections``
keep-alive connections (the kernel spreads them over both workers; the flow records
check both serve some), and keeps every one of them busy with back-to-back chat
requests from its own thread. Then a reviewer revokes bob through the admin API, which
the control plane (another process) serves. Printed per round and in total:

- ``passed``: requests *sent after the API's answer arrived* that were still answered
  200 (the promise: 0);
- ``to refusal``: per connection, the time from the API's answer to the first refused
  request (bounded below by one request's round trip on a loaded machine);
- ``api``: how long the revocation call took (it now waits for the workers' acks).

Before warden/gateway/push.py the workers learnt of it from their generation check every
0.2 s; run this on the commit before it (or with the middleware removed) for that figure.
Figures are taken on a shared, loaded 2-core machine: compare runs made together.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.test_deprovision import reviewer_revoke  # noqa: E402
from tests.e2e.test_identity import Bed, device_login, start_bed  # noqa: E402
from tests.e2e.test_push import _open_on_both_workers  # noqa: E402
from tests.peers import Aimock  # noqa: E402

CHAT = "https://api.openai.com/v1/chat/completions"
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello warden"}]}


def one_round(bed: Bed, connections: int) -> tuple[int, list[float], float]:
    import tests.e2e.test_push as tp

    tp.CONNECTIONS = connections
    login = device_login(bed, "bob", "dev-bob-password")
    opened = _open_on_both_workers(bed, login["credential"])
    answered_at: list[float] = []
    go = threading.Event()
    results: list[list[tuple[float, int]]] = [[] for _ in opened]

    def hammer(i: int, client: httpx.Client) -> None:
        go.wait()
        while True:
            sent = time.monotonic()
            status = client.post(CHAT, json=BODY).status_code
            results[i].append((sent, status))
            if status != 200:
                return

    threads = [
        threading.Thread(target=hammer, args=(i, c), daemon=True) for i, (c, _) in enumerate(opened)
    ]
    for t in threads:
        t.start()
    go.set()
    time.sleep(0.5)  # every connection busy
    started = time.monotonic()
    reviewer_revoke(bed, "bob")
    answered_at.append(time.monotonic())
    for t in threads:
        t.join(30)
    for c, _ in opened:
        c.close()
    at = answered_at[0]
    passed = sum(1 for r in results for sent, status in r if sent >= at and status == 200)
    to_refusal = [
        next(sent for sent, status in r if status != 200) - at
        for r in results
        if any(status != 200 for _, status in r)
    ]
    return passed, to_refusal, at - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=8)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-push-") as tmp:
        base = Path(tmp)
        aimock = Aimock(ROOT / "tests" / "fixtures" / "aimock", base / "aimock.log")
        aimock.start()
        (base / "bed").mkdir()
        bed = start_bed(base / "bed", aimock, surrogate=False, workers=2)
        try:
            total_passed = 0
            refusals: list[float] = []
            apis: list[float] = []
            for n in range(args.rounds):
                passed, to_refusal, api = one_round(bed, args.connections)
                total_passed += passed
                refusals += to_refusal
                apis.append(api)
                print(
                    f"round {n + 1}: passed after the answer {passed}, to refusal "
                    f"(send time of the first refused request) max "
                    f"{max(to_refusal) * 1000:.0f} ms, api {api * 1000:.0f} ms",
                    flush=True,
                )
            print(
                f"total: {total_passed} request(s) passed after the answer over "
                f"{args.rounds} rounds x {args.connections} connections; to refusal p50 "
                f"{statistics.median(refusals) * 1000:.0f} ms max {max(refusals) * 1000:.0f} ms; "
                f"api p50 {statistics.median(apis) * 1000:.0f} ms"
            )
        finally:
            bed.warden.stop()
            bed.idp.stop()
            aimock.stop()


if __name__ == "__main__":
    main()
