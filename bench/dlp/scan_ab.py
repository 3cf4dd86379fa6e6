"""The NER scan of the working copy against an earlier revision's, in one process, taking
turns on each prompt: the same findings, and the time each takes.

    .venv/bin/pip install -e '.[bench]'     # presidio-evaluator, the corpus generator
    .venv/bin/python bench/dlp/scan_ab.py --before REV [--seed 42] [--rounds 8]

``dlp/`` as it was at ``REV`` is extracted (``git archive``) into a temporary package
beside the working copy's, so both ``Detector``s (profile ``ner: {}``, PERSON) read the
same ~1 KB prompts of ``names.py``'s corpus in the same moments of a shared machine: their
difference is the change, not the load. Prints CPU p50 and wall p50 / p99 per prompt of
each, and whether every finding is the same (exit 1 if not).
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.dlp.names import prompts, prose
from warden.dlp import DlpProfile, ner
from warden.dlp.engine import Detector

ROOT = Path(__file__).resolve().parents[2]
PROFILE = {"ner": {}, "entities": {"PERSON": "redact"}}


def _before(rev: str, into: Path) -> Any:
    """``dlp`` of ``rev`` as the package ``before_scan.dlp``; its ``engine`` and ``ner``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "dlp"], check=True, capture_output=True
    ).stdout
    package = into / "before_scan"
    package.mkdir()
    (package / "__init__.py").write_text("")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(package, filter="data")
    sys.path.insert(0, str(into))
    return (
        importlib.import_module("before_scan.dlp.engine"),
        importlib.import_module("before_scan.dlp.ner"),
    )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="HEAD")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--sentences", type=int, default=1000)
    ap.add_argument("--lower", type=float, default=0.05)
    ap.add_argument("--rounds", type=int, default=8)
    args = ap.parse_args()
    texts = prompts(prose(args.sentences, args.seed, args.lower))
    with tempfile.TemporaryDirectory() as tmp:
        old_engine, old_ner = _before(args.before, Path(tmp))
        old = old_engine.Detector(old_engine.DlpProfile.model_validate(PROFILE))
        new = Detector(DlpProfile.model_validate(PROFILE))
        sides = [(old, old_ner.forget_lines), (new, ner.forget_lines)]
        same = True
        for t in texts:
            a, b = ([(f.entity_type, f.start, f.end) for f in d.detect(t)] for d, _ in sides)
            same = same and a == b
        cpu: list[list[float]] = [[], []]
        wall: list[list[float]] = [[], []]
        for _ in range(args.rounds):
            for t in texts:
                for i, (detector, forget) in enumerate(sides):
                    forget()  # each prompt new, as in names.py
                    start, start_cpu = time.perf_counter(), time.process_time()
                    detector.detect(t)
                    wall[i].append((time.perf_counter() - start) * 1000)
                    cpu[i].append((time.process_time() - start_cpu) * 1000)
    load = os.getloadavg()[0]
    print(f"{len(texts)} ~1 KB prompts (seed {args.seed}), load average {load:.2f}")
    for name, c, w in (("before", cpu[0], wall[0]), ("after", cpu[1], wall[1])):
        print(
            f"  {name:6s} ({args.before if name == 'before' else 'working copy'}): CPU p50 "
            f"{statistics.median(c):.2f} ms, wall p50 / p99 {statistics.median(w):.2f} / "
            f"{_percentile(w, 0.99):.2f} ms"
        )
    saved = statistics.median(cpu[0]) - statistics.median(cpu[1])
    print(f"  CPU p50 saved: {saved:.2f} ms; every finding the same: {same}")
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
