"""NER quality and speed: people's names in prose, and none in code and logs.

    .venv/bin/pip install -e '.[bench]'     # presidio-evaluator, the corpus generator
    .venv/bin/python bench/dlp/names.py [--sentences 1000] [--seed 42]

Prose: sentences from Presidio's own generator (PyPI ``presidio-evaluator`` 0.3.2,
``PresidioSentenceFaker``: its templates and its FakeNameGenerator person records, seeded),
which the recognizers were not written against; scored on PERSON, a finding counts when it
overlaps a gold span. Negatives: ~1 KB code and log documents from ``corpus.py`` (no
person in them); a document counts as flagged when any PERSON is found. Latency: the
sentences joined into ~1 KB prompts, one detection per prompt, in-process (the pool adds
~1.3 ms, see README.md).

Rows: (b) stock Presidio's ``AnalyzerEngine`` with the same spaCy model, full pipeline
(how the ``ner: {path}`` option ran before), PERSON only; (c) warden's ``Detector`` with
``ner: {}`` (NER component only, prose lines only, the given-name gazetteer).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.dlp.corpus import Generator, _Builder
from warden.dlp import DlpProfile
from warden.dlp.engine import Detector
from warden.dlp.ner import model_directory
from warden.dlp.profiles import DEFAULT_NER_PACKAGE

type Span = tuple[int, int]


def prose(n: int, seed: int, lower: float = 0.05) -> list[tuple[str, list[Span]]]:
    try:
        from presidio_evaluator.data_generator import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
            PresidioSentenceFaker,
        )
    except ImportError:
        sys.exit("needs presidio-evaluator: .venv/bin/pip install -e '.[bench]'")
    faker = PresidioSentenceFaker("en_US", lower_case_ratio=lower, random_seed=seed)
    out = []
    for s in faker.generate_new_fake_sentences(num_samples=n):
        gold = [
            (sp.start_position, sp.end_position) for sp in s.spans if sp.entity_type == "PERSON"
        ]
        out.append((s.full_text, gold))
    return out


def negatives(n: int, seed: int) -> list[str]:
    gen = Generator(seed)
    docs = []
    for i in range(n):
        b = _Builder()
        f = gen.fakers["en_US"]
        while b.size < 1000:
            (gen.code if (i + b.size) % 2 else gen.log)(b, f, "en_US")
        docs.append("".join(b.parts))
    return docs


def prompts(sentences: list[tuple[str, list[Span]]], size: int = 1000) -> list[str]:
    out, cur = [], ""
    for text, _ in sentences:
        cur += text + "\n"
        if len(cur) >= size:
            out.append(cur)
            cur = ""
    return out


class Stock:
    """Presidio's AnalyzerEngine with the same model through its spaCy NLP engine."""

    def __init__(self) -> None:
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider

        directory = model_directory(DEFAULT_NER_PACKAGE)
        engine = NlpEngineProvider(
            nlp_configuration={
                "nlp_engine_name": "spacy",
                "models": [{"lang_code": "en", "model_name": str(directory)}],
            }
        ).create_engine()
        self.analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])

    def people(self, text: str) -> list[Span]:
        found = self.analyzer.analyze(text, language="en", entities=["PERSON"])
        return [(r.start, r.end) for r in found]


class Warden:
    def __init__(self) -> None:
        self.detector = Detector(
            DlpProfile.model_validate({"ner": {}, "entities": {"PERSON": "redact"}})
        )

    def people(self, text: str) -> list[Span]:
        return [(f.start, f.end) for f in self.detector.detect(text) if f.entity_type == "PERSON"]


def overlaps(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def score(
    finder: Any, sentences: list[tuple[str, list[Span]]], docs: list[str]
) -> dict[str, float]:
    tp = fp = fn = 0
    for text, gold in sentences:
        found = finder.people(text)
        tp += sum(1 for g in gold if any(overlaps(g, p) for p in found))
        fn += sum(1 for g in gold if not any(overlaps(g, p) for p in found))
        fp += sum(1 for p in found if not any(overlaps(g, p) for g in gold))
    flagged = sum(1 for d in docs if finder.people(d))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {
        "gold": tp + fn,
        "P": p,
        "R": r,
        "F1": 2 * p * r / (p + r) if p + r else 0.0,
        "neg": flagged / len(docs),
    }


def latency(finder: Any, texts: list[str]) -> tuple[float, float]:
    for t in texts[:5]:
        finder.people(t)  # warm
    times = []
    for t in texts:
        start = time.perf_counter()
        finder.people(t)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=1000)
    ap.add_argument("--negatives", type=int, default=300)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument(
        "--lower", type=float, default=0.05, help="share of sentences the generator lower-cases"
    )
    ap.add_argument("--warden-only", action="store_true", help="skip row (b), stock Presidio")
    args = ap.parse_args()
    random.seed(args.seed)
    sentences = prose(args.sentences, args.seed, args.lower)
    docs = negatives(args.negatives, args.seed)
    kb = prompts(sentences)
    print(f"{len(sentences)} sentences, {len(docs)} code/log documents, {len(kb)} ~1 KB prompts")
    print("| row | PERSON gold | P | R | F1 | code/log docs flagged | p50 / p99 ms per ~1 KB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    rows: list[tuple[str, Any]] = (
        [] if args.warden_only else [("(b) stock Presidio + same model", Stock())]
    )
    for name, finder in [*rows, ("(c) warden", Warden())]:
        s = score(finder, sentences, docs)
        p50, p99 = latency(finder, kb)
        print(
            f"| {name} | {s['gold']:.0f} | {s['P']:.3f} | {s['R']:.3f} | {s['F1']:.3f} | "
            f"{s['neg']:.1%} | {p50:.2f} / {p99:.2f} |"
        )


if __name__ == "__main__":
    main()
