"""Per-stage cost: each addon hook of the issue-2 chain, and the audit record, timed alone.

Run: ``.venv/bin/python bench/stages.py [--flows 5000] [--rounds 7]``.

bench/proxy.py measures the whole gateway; this prices its parts, to see where a change
helps. Each round builds ``--flows`` fresh mitmproxy flows carrying the same ~1 KB chat
request bench/proxy.py sends (and a small JSON answer with usage), then runs each hook
over all of them in the order of the way of one request, the garbage collector paused
while timing. Prints the best round's microseconds per flow per hook, and the sum of the
issue-2 stages without the test routing (which bare mitmproxy does too in bench/proxy.py).
The figures are for warm caches on an idle loop: inside the running proxy the same code
costs about twice as much (other flows' work evicts it between hooks).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mitmproxy import http
from mitmproxy.test import tflow

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.proxy import BODY  # noqa: E402
from warden.addons.audit import REQUEST_PHASE, flow_record  # noqa: E402
from warden.addons.response import ResponseReader  # noqa: E402
from warden.addons.scope import Scope  # noqa: E402
from warden.addons.telemetry import Telemetry  # noqa: E402
from warden.addons.unsafe_routing import UnsafeTestRouting  # noqa: E402
from warden.gateway.metrics import GatewayMetrics  # noqa: E402
from warden.providers.catalog import Catalog  # noqa: E402

ANSWER = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1763900000,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "ok"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
    }
).encode()


def new_flow() -> http.HTTPFlow:
    flow = tflow.tflow()
    flow.client_conn.sni = "api.openai.com"  # as a real client's TLS names it
    flow.request = http.Request.make(
        "POST",
        "https://api.openai.com/v1/chat/completions",
        BODY,
        http.Headers(
            host="api.openai.com", content_type="application/json", authorization="Bearer sk-bench"
        ),
    )
    flow.request.timestamp_end = flow.request.timestamp_start + 0.001
    return flow


def answer(flow: http.HTTPFlow) -> None:
    flow.response = http.Response.make(200, ANSWER, http.Headers(content_type="application/json"))
    flow.response.timestamp_start = flow.request.timestamp_start + 0.002
    flow.response.timestamp_end = flow.response.timestamp_start + 0.001


def request_record(flow: http.HTTPFlow) -> dict[str, object]:
    """The record the audit stage commits before the request leaves (fail_closed)."""
    return flow_record(flow, None, dict(REQUEST_PHASE), with_prompt=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--flows", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    metrics = GatewayMetrics()
    scope = Scope(Catalog.default(), [], metrics)
    reader = ResponseReader()
    telemetry = Telemetry(metrics)
    routing = UnsafeTestRouting("http://127.0.0.1:9")
    # (label, hook, counted in the issue-2 sum); None labels set the flow up untimed
    steps: list[tuple[str | None, Callable[[http.HTTPFlow], object], bool]] = [
        ("Scope.requestheaders", scope.requestheaders, True),
        ("Scope.request (parses the body)", scope.request, True),
        ("UnsafeTestRouting.request", routing.request, False),
        ("request_record (audit, before it leaves)", request_record, False),
        (None, answer, False),
        ("UnsafeTestRouting.responseheaders", routing.responseheaders, False),
        ("ResponseReader.responseheaders", reader.responseheaders, True),
        ("ResponseReader.response (usage)", reader.response, True),
        ("Telemetry.response", telemetry.response, True),
        ("flow_record (audit record, full gateway)", flow_record, False),
    ]
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        flows = [new_flow() for _ in range(args.flows)]
        gc.collect()
        gc.disable()
        try:
            for label, hook, _ in steps:
                start = time.perf_counter()
                for flow in flows:
                    hook(flow)
                per_flow = (time.perf_counter() - start) / args.flows * 1e6
                if label is not None:
                    best[label] = min(best.get(label, float("inf")), per_flow)
        finally:
            gc.enable()
    print(f"{'hook':44} {'us/flow':>8}   (best of {args.rounds} rounds x {args.flows} flows)")
    for label, _, _ in steps:
        if label is not None:
            print(f"{label:44} {best[label]:>8.2f}")
    issue2 = sum(best[label] for label, _, counted in steps if label is not None and counted)
    print(f"{'issue-2 stages without test routing':44} {issue2:>8.2f}")


if __name__ == "__main__":
    main()
