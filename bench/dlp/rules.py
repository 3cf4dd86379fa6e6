"""The rules around the NER model, alone: their time per ~1 KB prompt, and proof that a
faster version finds the same spans as an earlier one.

    .venv/bin/pip install -e '.[bench]'     # presidio-evaluator, the corpus generator
    .venv/bin/python bench/dlp/rules.py [--before REV] [--seeds 42 7] [--profile]

The model's answers are computed once per window and replayed (``_Replay``), so what is
timed is everything ``NameFinder.find`` does besides the model: the prose selection, the
windows, the cues, vetoes, gazetteer and lists. ``--before REV`` (default ``HEAD``) loads
``dlp/ner.py`` as it was at that git revision beside the working copy, gives both the same
model (and the same ``nerrun.py``: the rules are what is compared), and compares every
span they find on the names corpus of each seed (sentences, ~1 KB prompts, the same
prompts re-sent as a growing chat) and on the code and log negatives; any difference is
printed and the exit status is 1. Times are medians of alternate runs on a loaded machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.dlp.names import negatives, prompts, prose
from warden.dlp import ner
from warden.dlp.profiles import DEFAULT_NER_PACKAGE

ROOT = Path(__file__).resolve().parents[2]


class _Replay:
    """A spaCy pipeline stand-in that answers each text once from the real one, then from
    memory: the model's time drops out, its answers stay the same."""

    def __init__(self, nlp: Any) -> None:
        self.nlp = nlp
        self.docs: dict[str, Any] = {}

    def pipe(self, texts: Any) -> Any:
        texts = list(texts)
        new = [t for t in dict.fromkeys(texts) if t not in self.docs]
        for t, doc in zip(new, self.nlp.pipe(new), strict=True):
            self.docs[t] = doc
        return iter([self.docs[t] for t in texts])


def _before(rev: str) -> Any:
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:dlp/ner.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"ner_before_{os.getpid()}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("warden.dlp._ner_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    path.unlink()
    return module


def finders(rev: str) -> tuple[Any, Any]:
    new = ner.NameFinder(
        ner.model_directory(DEFAULT_NER_PACKAGE), ["PERSON", "LOCATION", "ORGANIZATION"]
    )
    new.model.nlp = _Replay(new.model.nlp)
    old_mod = _before(rev)
    old = old_mod.NameFinder.__new__(old_mod.NameFinder)
    old.__dict__.update(new.__dict__)
    return old, new


def texts(seed: int, sentences: int, docs: int) -> dict[str, list[tuple[str, str | None]]]:
    sent = prose(sentences, seed)
    kb = prompts(sent)
    chat: list[tuple[str, str | None]] = []
    for c in range(len(kb) // 10):
        history = ""
        for t in kb[c * 10 : (c + 1) * 10]:
            history += t
            chat.append((history, f"chat-{seed}-{c}"))
    return {
        "sentences": [(t, None) for t, _ in sent],
        "prompts": [(t, None) for t in kb],
        "chats": chat,
        "negatives": [(d, None) for d in negatives(docs, seed)],
    }


def compare(old: Any, new: Any, corpus: dict[str, list[tuple[str, str | None]]]) -> int:
    bad = 0
    for name, items in corpus.items():
        spans = 0
        for text, scope in items:
            a, b = old.find(text, scope), new.find(text, scope)
            spans += len(b)
            if sorted(a) != sorted(b):
                bad += 1
                if bad <= 5:
                    print(f"  DIFFERS ({name}): {text[:80]!r}\n    before {a}\n    after  {b}")
        print(f"  {name}: {len(items)} texts, {spans} spans, same: {bad == 0}")
    return bad


def timing(old: Any, new: Any, items: list[str], rounds: int) -> tuple[float, float]:
    for t in items:  # the model's answers into the replay
        new.find(t)
    times: list[list[float]] = [[], []]
    for _ in range(rounds):
        for t in items:
            for i, f in enumerate((old, new)):
                ner.forget_lines()  # each prompt new to the finder, as in names.py
                start = time.process_time()
                f.find(t)
                times[i].append((time.process_time() - start) * 1000)
    return statistics.median(times[0]), statistics.median(times[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="HEAD")
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 7])
    ap.add_argument("--sentences", type=int, default=1000)
    ap.add_argument("--negatives", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="cProfile the new rules")
    args = ap.parse_args()
    old, new = finders(args.before)
    bad = 0
    for seed in args.seeds:
        corpus = texts(seed, args.sentences, args.negatives)
        print(f"seed {seed}: before ({args.before}) against the working copy")
        bad += compare(old, new, corpus)
        kb = [t for t, _ in corpus["prompts"]]
        a, b = timing(old, new, kb, args.rounds)
        print(f"  rules only, CPU p50 per ~1 KB prompt: before {a:.3f} ms, after {b:.3f} ms")
        if args.profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            for _ in range(args.rounds):
                for t in kb:
                    ner.forget_lines()
                    new.find(t)
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    print("all spans the same" if not bad else f"{bad} texts differ")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
