"""The DLP pool's own cost: a scan of two characters through ``DlpRunner`` (2 workers, one
request at a time), against the same scan in-process. Only public API, so the same file
measures an older checkout too (run it with that checkout's interpreter).

    .venv/bin/python bench/dlp/roundtrip.py [--runs 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from warden.dlp import DlpProfile, DlpRunner, Scanner
from warden.providers import TextSegment

PROFILE = DlpProfile.model_validate({"entities": {"EMAIL_ADDRESS": "redact"}})
TINY = [TextSegment(("messages", "0"), "user", "hi")]


def p50_p99(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


async def through_pool(runs: int) -> list[float]:
    runner = DlpRunner({"p": PROFILE}, workers=2, timeout=30)
    await runner.start()
    try:
        for _ in range(100):
            await runner.scan(TINY, "p")
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            await runner.scan(TINY, "p")
            times.append((time.perf_counter() - start) * 1000)
        return times
    finally:
        await runner.close()


def in_process(runs: int) -> list[float]:
    scanner = Scanner(PROFILE, None)
    for _ in range(100):
        scanner.scan(tuple(TINY))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        scanner.scan(tuple(TINY))
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2000)
    args = ap.parse_args()
    local = p50_p99(in_process(args.runs))
    pooled = p50_p99(asyncio.run(through_pool(args.runs)))
    print(f"in-process p50 / p99 {local[0]:.3f} / {local[1]:.3f} ms")
    print(f"through the pool p50 / p99 {pooled[0]:.3f} / {pooled[1]:.3f} ms")


if __name__ == "__main__":
    main()
