"""Credential detection quality on a corpus built from the public rule sets' own test cases
(``data/credentials.jsonl``, made by ``credential_corpus.py``; see its docstring for the
sources), and the time per ~1 KB and ~10 KB prompt.

    .venv/bin/python bench/dlp/credentials.py            # figures and the targets
    .venv/bin/python bench/dlp/credentials.py --misses   # also every missed value

Scoring: a credential in the corpus is found when a finding of any secret type overlaps
it (the entity type names differ between rule sets; what matters is that the value does
not leave). Precision counts the findings in documents with known spans: one overlapping
a credential is right, any other is wrong, and every finding in a negative document is
wrong. detect-secrets' positives have no span and count for recall per document.
Targets: recall >= 0.90 over all kinds and contexts, <= 1% of negative documents flagged.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import cast

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from warden.dlp import DlpProfile
from warden.dlp.engine import Detector, Finding
from warden.dlp.profiles import SECRET_TYPES

CORPUS = Path(__file__).resolve().parent / "data" / "credentials.jsonl"


def load(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


class Tally:
    def __init__(self) -> None:
        self.gold = 0
        self.found = 0
        self.pred = 0
        self.right = 0

    def row(self) -> tuple[float | None, float | None, float | None]:
        r = self.found / self.gold if self.gold else None
        p = self.right / self.pred if self.pred else None
        f = 2 * p * r / (p + r) if p and r else None
        return p, r, f


def fmt(x: float | None) -> str:
    return "    - " if x is None else f"{x:6.3f}"


def table(title: str, tallies: dict[str, Tally]) -> None:
    print(f"\n## {title}\n")
    print(f"{'':44s} {'gold':>5s} {'found':>5s} | {'P':>6s} {'R':>6s} {'F1':>6s}")
    for name in sorted(tallies):
        t = tallies[name]
        p, r, f = t.row()
        flag = "  <--" if r is not None and r < 0.9 else ""
        print(f"{name[:44]:44s} {t.gold:5d} {t.found:5d} | {fmt(p)} {fmt(r)} {fmt(f)}{flag}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--misses", action="store_true", help="print every missed credential")
    ap.add_argument("--flagged", action="store_true", help="print every flagged negative")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    docs = load(args.corpus)
    detector = Detector(
        DlpProfile.model_validate({"entities": dict.fromkeys(SECRET_TYPES, "redact")})
    )
    secret_types = set(SECRET_TYPES)
    by_kind: dict[str, Tally] = defaultdict(Tally)
    by_context: dict[str, Tally] = defaultdict(Tally)
    overall = Tally()
    negatives = flagged = 0
    flagged_by_context: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    misses: list[str] = []
    for doc in docs:
        text = str(doc["text"])
        findings: list[Finding] = [
            f for f in detector.detect(text) if f.entity_type in secret_types
        ]
        context = str(doc["context"])
        if not doc["positive"]:
            negatives += 1
            key = context.split(" (")[0]
            flagged_by_context[key][1] += 1
            if findings:
                flagged += 1
                flagged_by_context[key][0] += 1
                if args.flagged:
                    shown = [(f.entity_type, text[f.start : f.end][:60]) for f in findings]
                    print(f"FLAGGED [{context}] {text[:160]!r} -> {shown}")
            overall.pred += len(findings)
            continue
        kind = str(doc["kind"])
        tallies = (by_kind[kind], by_context[context], overall)
        if doc["whole"]:
            for t in tallies:
                t.gold += 1
                t.found += bool(findings)
            if not findings:
                misses.append(f"[{kind} | {context}] {text[:200]!r}")
            continue
        spans = [(int(s[0]), int(s[1])) for s in cast(list[list[int]], doc["spans"])]
        for start, end in spans:
            hit = any(f.start < end and start < f.end for f in findings)
            for t in tallies:
                t.gold += 1
                t.found += hit
            if not hit:
                misses.append(f"[{kind} | {context}] {text[max(0, start - 60) : end + 20]!r}")
        right = sum(any(f.start < e and s < f.end for s, e in spans) for f in findings)
        for t in tallies:
            t.pred += len(findings)
            t.right += right

    table("Per kind (gitleaks rule id / detect-secrets plugin)", by_kind)
    table("Per context", by_context)
    print("\n## Negative documents flagged\n")
    for name in sorted(flagged_by_context):
        n_flagged, n = flagged_by_context[name]
        print(f"{name[:50]:50s} {n_flagged:4d} / {n:4d}")
    p, r, f = overall.row()
    share = flagged / negatives if negatives else 0.0
    print(
        f"\noverall: {overall.gold} credentials in {len(docs) - negatives} documents, "
        f"{negatives} negative documents; recall {r:.3f}, precision {p:.3f}, F1 {f:.3f}; "
        f"negative documents flagged {flagged}/{negatives} = {share:.1%}"
    )

    # time per prompt: corpus documents joined to ~1 KB and ~10 KB
    rng = random.Random(args.seed)
    texts = [str(d["text"]) for d in docs]
    for size, n in ((1000, 300), (10000, 60)):
        prompts = []
        for _ in range(n):
            parts: list[str] = []
            while sum(map(len, parts)) < size:
                parts.append(rng.choice(texts))
            prompts.append("\n\n".join(parts))
        for p_ in prompts[:5]:
            detector.detect(p_)
        ms = []
        for p_ in prompts:
            # CPU time of this process: on a shared machine wall time measures the others
            t0 = time.process_time()
            detector.detect(p_)
            ms.append((time.process_time() - t0) * 1000)
        avg = sum(map(len, prompts)) / len(prompts)
        print(
            f"~{avg:6.0f} chars x {n}: p50 {pct(ms, 0.5):.3f} ms, p99 {pct(ms, 0.99):.3f} ms (CPU)"
        )

    if args.misses:
        print("\n## Missed\n")
        print("\n".join(misses))
    ok = (r or 0) >= 0.90 and share <= 0.01
    print(f"\ntargets (recall >= 0.90, <= 1% negatives flagged): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
