"""The DLP pool's own cost: a scan of two characters through ``DlpRunner`` (2 workers, one
request at a time), against the same scan in-process; with ``--ner``, the ~1 KB prompts of
``names.py`` (seed 42) with NER on, each scanned in-process and through the pool in turn
(a new principal each: no cached answer), so the difference is paired prompt by prompt.
Only public API, so the same file measures an older checkout too (run it with that
checkout's interpreter).

    .venv/bin/python bench/dlp/roundtrip.py [--runs 2000] [--ner]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import warden.dlp
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


async def paired(texts: list[str], rounds: int) -> tuple[list[float], list[float]]:
    """In-process and through the pool, in turn on each prompt (ms)."""
    profile = DlpProfile.model_validate({"ner": {}, "entities": {"PERSON": "redact"}})
    scanner = Scanner(profile, None)
    runner = DlpRunner({"names": profile}, workers=2, timeout=30)
    await runner.start()
    local, pooled = [], []
    try:
        for t in texts[:5]:
            segment = (TextSegment(("warm",), "user", t),)
            scanner.scan(segment)
            await runner.scan(segment, "names", "warm")
        for r in range(rounds):
            for i, t in enumerate(texts):
                segment = (TextSegment(("messages", "0"), "user", t),)
                start = time.perf_counter()
                scanner.scan(segment)
                local.append((time.perf_counter() - start) * 1000)
                start = time.perf_counter()
                await runner.scan(segment, "names", f"p{r}-{i}")
                pooled.append((time.perf_counter() - start) * 1000)
        return local, pooled
    finally:
        await runner.close()


def ner(rounds: int) -> None:
    # names.py of the checkout whose warden this interpreter imports
    sys.path.insert(0, str(Path(warden.dlp.__file__).resolve().parents[1]))
    from bench.dlp.names import prompts, prose

    texts = prompts(prose(1000, 42))
    local, pooled = asyncio.run(paired(texts, rounds))
    gaps = [p - q for p, q in zip(pooled, local, strict=True)]
    for name, times in (("in-process", local), ("through the pool", pooled)):
        q50, q99 = p50_p99(times)
        print(f"~1 KB with NER, {name}: p50 / p99 {q50:.2f} / {q99:.2f} ms")
    print(f"pool minus in-process, same prompt: p50 {statistics.median(gaps):.3f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--ner", action="store_true", help="~1 KB prompts with NER, paired")
    ap.add_argument("--rounds", type=int, default=3, help="passes over the prompts (--ner)")
    args = ap.parse_args()
    if args.ner:
        ner(args.rounds)
        return
    local = p50_p99(in_process(args.runs))
    pooled = p50_p99(asyncio.run(through_pool(args.runs)))
    print(f"in-process p50 / p99 {local[0]:.3f} / {local[1]:.3f} ms")
    print(f"through the pool p50 / p99 {pooled[0]:.3f} / {pooled[1]:.3f} ms")


if __name__ == "__main__":
    main()
