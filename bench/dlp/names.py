"""NER quality and speed: people's names in prose, and none in code and logs.

    .venv/bin/pip install -e '.[bench]'     # presidio-evaluator, the corpus generator
    .venv/bin/python bench/dlp/names.py [--sentences 1000] [--seed 42]

Prose: sentences from Presidio's own generator (PyPI ``presidio-evaluator`` 0.3.2,
``PresidioSentenceFaker``: its templates and its FakeNameGenerator person records, seeded),
which the recognizers were not written against; scored on PERSON, a finding counts when it
overlaps a gold span. Negatives: ~1 KB code and log documents from ``corpus.py`` (no
person in them); a document counts as flagged when any PERSON is found. Latency: the
sentences joined into ~1 KB prompts, one detection per prompt, in-process (the pool adds
~0.5 ms, see README.md).

Rows: (b) stock Presidio's ``AnalyzerEngine`` with the same spaCy model, full pipeline
(how the ``ner: {path}`` option ran before), PERSON only; (c) warden's ``Detector`` with
``ner: {}`` (NER component only, prose lines only, the given-name gazetteer, the model on
windows around the capitalised runs whose answer can change a finding, through
``dlp/tok2vec.py``'s layers: ``dlp/nerrun.py``); (c1) the same as it was before
2026-12-03 (windows around every word that can be part of a name, four words each side,
thinc's own layers); with ``--whole`` also (c0), the model reading all the prose. Rows
take turns on each prompt. Compare rows of one run: the generator's output is not the
same from run to run (Faker dates relative to today and the like), so figures of two
runs differ by a few names.
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
from warden.dlp.ner import forget_lines, model_directory
from warden.dlp.nerrun import WholeText, WindowCutter
from warden.dlp.profiles import DEFAULT_NER_PACKAGE
from warden.dlp.tok2vec import restore

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
    def __init__(self, whole: bool = False, before: bool = False) -> None:
        self.detector = Detector(
            DlpProfile.model_validate({"ner": {}, "entities": {"PERSON": "redact"}})
        )
        finder = self.detector._ner[0].finder
        if whole:  # the model reads every prose text whole, as before dlp/nerrun.py
            finder.model.cutter = WholeText()
        if before:  # as before 2026-12-03: windows round every word that can be a name,
            # four words each side, through thinc's own layers
            cutter = finder.model.cutter
            assert isinstance(cutter, WindowCutter)
            cutter.needed, cutter.before, cutter.after = None, 4, 4
            restore(finder.nlp)

    def people(self, text: str, scope: str | None = None) -> list[Span]:
        found = self.detector.detect(text, scope)
        return [(f.start, f.end) for f in found if f.entity_type == "PERSON"]


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


def latency(finders: list[Any], texts: list[str], rounds: int = 3) -> list[dict[str, float]]:
    """p50 / p99 wall-clock ms and p50 CPU ms per text for each finder, the finders taking
    turns on each text (so a busy moment of the shared machine falls on all of them)."""
    for finder in finders:
        for t in texts[:5]:
            finder.people(t)  # warm
    wall: list[list[float]] = [[] for _ in finders]
    cpu: list[list[float]] = [[] for _ in finders]
    for _ in range(rounds):
        for t in texts:
            for i, finder in enumerate(finders):
                forget_lines()  # a prompt new to warden: its lines' prose answers not kept
                start, start_cpu = time.perf_counter(), time.process_time()
                finder.people(t)
                wall[i].append((time.perf_counter() - start) * 1000)
                cpu[i].append((time.process_time() - start_cpu) * 1000)
    out = []
    for w, c in zip(wall, cpu, strict=True):
        w.sort()
        out.append(
            {
                "p50": statistics.median(w),
                "p99": w[min(len(w) - 1, int(len(w) * 0.99))],
                "cpu": statistics.median(c),
            }
        )
    return out


def conversation(
    finder: Warden, texts: list[str], cached: bool, turns: int = 10
) -> tuple[float, float]:
    """p50 / p99 ms per turn of chats re-sent whole at every turn (a ~1 KB prompt added
    each turn, up to ~10 KB), with or without the model's answers cached per chat."""
    times = []
    for c in range(len(texts) // turns):
        history = ""
        forget_lines()  # a new chat; its own lines repeat from turn to turn
        for t in texts[c * turns : (c + 1) * turns]:
            history += t
            start = time.perf_counter()
            finder.people(history, scope=f"chat-{c}" if cached else None)
            times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def pool_latency(texts: list[str], rounds: int = 3) -> tuple[float, float]:
    """p50 / p99 ms per prompt through the gateway's ``DlpRunner`` (2 spawn workers, one
    request at a time, a new principal per prompt so no cached answer helps)."""
    import asyncio

    from warden.dlp.pool import DlpRunner
    from warden.providers import TextSegment

    profile = DlpProfile.model_validate({"ner": {}, "entities": {"PERSON": "redact"}})

    async def run() -> list[float]:
        runner = DlpRunner({"names": profile}, workers=2, timeout=30)
        await runner.start()
        try:
            for t in texts[:5]:
                await runner.scan([TextSegment(("warm",), "user", t)], "names", "warm")
            times = []
            for r in range(rounds):
                for i, t in enumerate(texts):
                    segment = TextSegment(("messages", "0"), "user", t)
                    start = time.perf_counter()
                    await runner.scan([segment], "names", f"p{r}-{i}")
                    times.append((time.perf_counter() - start) * 1000)
            return times
        finally:
            await runner.close()

    times = sorted(asyncio.run(run()))
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=1000)
    ap.add_argument("--negatives", type=int, default=300)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--pool", action="store_true", help="also (c) through the worker pool")
    ap.add_argument(
        "--lower", type=float, default=0.05, help="share of sentences the generator lower-cases"
    )
    ap.add_argument("--warden-only", action="store_true", help="skip row (b), stock Presidio")
    ap.add_argument("--whole", action="store_true", help="also (c0), the model reading all prose")
    args = ap.parse_args()
    random.seed(args.seed)
    sentences = prose(args.sentences, args.seed, args.lower)
    docs = negatives(args.negatives, args.seed)
    kb = prompts(sentences)
    print(f"{len(sentences)} sentences, {len(docs)} code/log documents, {len(kb)} ~1 KB prompts")
    print(
        "| row | PERSON gold | P | R | F1 | code/log docs flagged | p50 / p99 ms per ~1 KB "
        "| CPU p50 ms |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    rows: list[tuple[str, Any]] = [
        *([] if args.warden_only else [("(b) stock Presidio + same model", Stock())]),
        *([("(c0) warden, model reads all prose", Warden(whole=True))] if args.whole else []),
        ("(c1) warden before 2026-12-03 (windows round every possible name)", Warden(before=True)),
        ("(c) warden", Warden()),
    ]
    scores = [score(finder, sentences, docs) for _, finder in rows]
    times = latency([finder for _, finder in rows], kb)
    for (name, _), s, t in zip(rows, scores, times, strict=True):
        print(
            f"| {name} | {s['gold']:.0f} | {s['P']:.3f} | {s['R']:.3f} | {s['F1']:.3f} | "
            f"{s['neg']:.1%} | {t['p50']:.2f} / {t['p99']:.2f} | {t['cpu']:.2f} |"
        )
    if not args.warden_only:
        print(
            f"(c) against (b), same run: {times[0]['p50'] / times[-1]['p50']:.1f}x at p50 "
            f"({times[0]['cpu'] / times[-1]['cpu']:.1f}x in CPU time)"
        )
    print(
        f"(c) against (c1), same run: {times[-2]['p50'] / times[-1]['p50']:.1f}x at p50 "
        f"({times[-2]['cpu'] / times[-1]['cpu']:.1f}x in CPU time)"
    )
    if args.pool:
        q50, q99 = pool_latency(kb)
        print(f"(c) through the worker pool (2 workers): p50 / p99 {q50:.2f} / {q99:.2f} ms")
    for cached in (False, True):
        c50, c99 = conversation(rows[-1][1], kb, cached)
        print(
            f"(c) per turn of a chat re-sent whole (1 to 10 KB), "
            f"{'answers cached per chat' if cached else 'no cache'}: "
            f"p50 / p99 {c50:.2f} / {c99:.2f} ms"
        )


if __name__ == "__main__":
    main()
