"""DLP benchmark: stock Presidio against warden's pipeline on one seeded synthetic corpus.

    .venv/bin/python bench/dlp/run.py            # ~1 KB and ~10 KB prompts, full run
    .venv/bin/python bench/dlp/run.py --quick    # CI smoke: a tenth of the prompts

(a) stock: Presidio's ``AnalyzerEngine`` with its default recognizers on the no-op NLP
engine, default threshold (every result). (b) warden: ``Scanner`` for a profile that scans
for every pattern entity type (detection with the pre-scan, then the redaction plan), in
this process. Also: the same recognizers run by Presidio over the whole text (the
pre-scan's reference: findings must be identical), and the pool's overhead
(``DlpRunner``, two spawn workers, one request at a time).

Scoring, per entity type inserted into the corpus: a prediction of that type is correct
if it overlaps an inserted value of that type; an inserted value is found if a prediction
of its type overlaps it. Predictions of types never inserted (stock's URL, DATE_TIME,
US_DRIVER_LICENSE …) are counted apart, not scored.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import NoOpNlpEngine

from bench.dlp.corpus import Prompt, Span, corpus
from warden.dlp import DlpProfile, DlpRunner, Scanner
from warden.dlp.profiles import PII_TYPES, SECRET_TYPES
from warden.providers import TextSegment

Pred = tuple[str, int, int]


def bench_profile() -> DlpProfile:
    return DlpProfile.model_validate(
        {
            "entities": dict.fromkeys((*SECRET_TYPES, *PII_TYPES), "redact"),
            "phone_regions": ["US", "GB", "DE", "FR"],
            "allow_list": ["S3", "EKS", "C4"],
        }
    )


def timed(
    fn: Callable[[str], list[Pred]], prompts: list[Prompt]
) -> tuple[list[list[Pred]], list[float]]:
    preds, ms = [], []
    for p in prompts:
        t = time.perf_counter()
        preds.append(fn(p.text))
        ms.append((time.perf_counter() - t) * 1000)
    return preds, ms


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


Counts = defaultdict[str, int]


def score(
    prompts: list[Prompt], preds: list[list[Pred]], types: set[str]
) -> tuple[Counts, Counts, Counts, Counts, int]:
    tp_pred: Counts = defaultdict(int)
    n_pred: Counts = defaultdict(int)
    found: Counts = defaultdict(int)
    n_gold: Counts = defaultdict(int)
    unscored = 0
    for prompt, ps in zip(prompts, preds, strict=True):
        gold: dict[str, list[Span]] = defaultdict(list)
        for s in prompt.spans:
            gold[s.entity_type].append(s)
            n_gold[s.entity_type] += 1
        for t, start, end in ps:
            if t not in types:
                unscored += 1
                continue
            n_pred[t] += 1
            if any(g.start < end and start < g.end for g in gold[t]):
                tp_pred[t] += 1
        for t, spans in gold.items():
            for g in spans:
                if any(pt == t and ps_ < g.end and g.start < pe for pt, ps_, pe in ps):
                    found[t] += 1
    return tp_pred, n_pred, found, n_gold, unscored


def fmt(x: float | None) -> str:
    return "   -  " if x is None else f"{x:6.3f}"


Results = dict[str, dict[int, tuple[list[list[Pred]], list[float]]]]


def report(prompts_by_size: dict[int, list[Prompt]], results: Results, types: list[str]) -> bool:
    ok = True
    print("\n## Precision / recall per entity type (all sizes together)\n")
    print(
        f"{'entity type':26s} {'gold':>5s} | {'stock P':>7s} {'stock R':>7s} | {'warden P':>8s} {'warden R':>8s}"
    )
    print("-" * 76)
    all_prompts = [p for ps in prompts_by_size.values() for p in ps]
    scored = {}
    for name in ("stock", "warden"):
        preds = [x for size in prompts_by_size for x in results[name][size][0]]
        scored[name] = score(all_prompts, preds, set(types))
    totals = {name: [0, 0] for name in scored}
    for t in types:
        row = []
        for name in ("stock", "warden"):
            tp_pred, n_pred, found, n_gold, _ = scored[name]
            p = tp_pred[t] / n_pred[t] if n_pred[t] else None
            r = found[t] / n_gold[t] if n_gold[t] else None
            totals[name][0] += tp_pred[t]
            totals[name][1] += n_pred[t]
            row += [p, r]
        n_gold_t = scored["warden"][3][t]
        flag = ""
        if (row[3] or 0) < (row[1] or 0):
            flag = "  <-- recall below stock"
            ok = False
        print(
            f"{t:26s} {n_gold_t:5d} | {fmt(row[0])}  {fmt(row[1])} | {fmt(row[2])}   {fmt(row[3])}{flag}"
        )
    print("-" * 76)
    for name in ("stock", "warden"):
        tp, n = totals[name]
        n_found = sum(scored[name][2].values())
        gold = sum(scored[name][3].values())
        print(
            f"{name:7s} overall: precision {tp / n if n else 0:.3f} ({tp}/{n}), "
            f"recall {n_found / gold:.3f} ({n_found}/{gold}); predictions of types not in the "
            f"corpus (not scored): {scored[name][4]}"
        )
    warden_precision = totals["warden"][0] / max(1, totals["warden"][1])
    if warden_precision < 0.95:
        ok = False
    print("\n## Time per prompt (ms)\n")
    print(
        f"{'size':>8s} {'n':>5s} | {'stock p50':>9s} {'p99':>7s} | {'warden p50':>10s} {'p99':>7s} | {'speed-up p50':>12s} {'mean':>6s}"
    )
    for size, ps in prompts_by_size.items():
        s_ms = results["stock"][size][1]
        w_ms = results["warden"][size][1]
        ratio_p50 = pct(s_ms, 0.5) / pct(w_ms, 0.5)
        ratio_mean = statistics.mean(s_ms) / statistics.mean(w_ms)
        if ratio_p50 < 10:
            ok = False
        avg = statistics.mean(len(p.text) for p in ps)
        print(
            f"{avg:7.0f}c {len(ps):5d} | {pct(s_ms, 0.5):9.2f} {pct(s_ms, 0.99):7.2f} | "
            f"{pct(w_ms, 0.5):10.3f} {pct(w_ms, 0.99):7.3f} | {ratio_p50:11.1f}x {ratio_mean:5.1f}x"
        )
    return ok


async def pool_overhead(
    profile: DlpProfile,
    prompts_by_size: dict[int, list[Prompt]],
    inproc: dict[int, tuple[list[list[Pred]], list[float]]],
) -> None:
    runner = DlpRunner({"bench": profile}, workers=2, timeout=30)
    t = time.perf_counter()
    await runner.start()
    print(f"\n## Pool (2 spawn workers): start {time.perf_counter() - t:.2f} s")
    for size, ps in prompts_by_size.items():
        sample = ps[: min(len(ps), 60)]
        ms = []
        for p in sample:
            seg = (TextSegment(("messages", 0, "content"), "user", p.text),)
            t = time.perf_counter()
            await runner.scan(seg, "bench")
            ms.append((time.perf_counter() - t) * 1000)
        base = inproc[size][1][: len(sample)]
        print(
            f"  ~{size} chars: through the pool p50 {pct(ms, 0.5):.3f} ms p99 {pct(ms, 0.99):.3f} ms; "
            f"overhead over in-process p50 {pct(ms, 0.5) - pct(base, 0.5):+.3f} ms"
        )
    await runner.close()


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a tenth of the prompts (CI smoke)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--small", type=int, default=600, help="number of ~1 KB prompts")
    ap.add_argument("--large", type=int, default=120, help="number of ~10 KB prompts")
    ap.add_argument("--no-pool", action="store_true", help="skip the pool measurement")
    args = ap.parse_args(list(argv) if argv is not None else None)
    n_small, n_large = (args.small, args.large) if not args.quick else (60, 12)
    started = time.perf_counter()

    prompts_by_size = {
        1000: corpus(n_small, 1000, args.seed),
        10000: corpus(n_large, 10000, args.seed),
    }
    types = sorted({s.entity_type for ps in prompts_by_size.values() for p in ps for s in p.spans})
    print(
        f"corpus: {n_small} x ~1 KB + {n_large} x ~10 KB prompts, seed {args.seed}, "
        f"{sum(len(p.spans) for ps in prompts_by_size.values() for p in ps)} inserted values "
        f"of {len(types)} types (built in {time.perf_counter() - started:.1f} s)"
    )

    stock = AnalyzerEngine(
        nlp_engine=NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "no_op"}])
    )
    profile = bench_profile()
    scanner = Scanner(profile)
    detector = scanner.detector

    def run_stock(text: str) -> list[Pred]:
        return [(r.entity_type, r.start, r.end) for r in stock.analyze(text, language="en")]

    def run_warden(text: str) -> list[Pred]:
        seg = TextSegment(("messages", 0, "content"), "user", text)
        scanner.scan([seg])  # detection + plan: what the proxy runs
        return [(f.entity_type, f.start, f.end) for f in detector.detect(text)]

    def run_warden_timed_only(text: str) -> list[Pred]:
        seg = TextSegment(("messages", 0, "content"), "user", text)
        scanner.scan([seg])
        return []

    # warm up both (lazy compiles, tldextract's suffix list)
    for p in prompts_by_size[1000][:5]:
        run_stock(p.text)
        run_warden(p.text)

    results: Results = {"stock": {}, "warden": {}}
    mismatches = 0
    for size, ps in prompts_by_size.items():
        results["stock"][size] = timed(run_stock, ps)
        _, ms = timed(run_warden_timed_only, ps)
        preds = [[(f.entity_type, f.start, f.end) for f in detector.detect(p.text)] for p in ps]
        results["warden"][size] = (preds, ms)
        for p in ps:
            if detector.detect(p.text) != detector.detect_full(p.text):
                mismatches += 1
    ok = report(prompts_by_size, results, types)
    print(
        f"\npre-scan vs. the same recognizers over the whole text (Presidio AnalyzerEngine): "
        f"{mismatches} of {sum(map(len, prompts_by_size.values()))} prompts differ"
    )
    if mismatches:
        ok = False
    if not args.no_pool:
        asyncio.run(pool_overhead(profile, prompts_by_size, results["warden"]))
    print(f"\nruntime {time.perf_counter() - started:.1f} s; targets {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
