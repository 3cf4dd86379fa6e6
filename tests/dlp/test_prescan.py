"""The pre-scan finds exactly what Presidio over the whole text finds, with the same
recognizers: on a generated corpus and on window-edge cases."""

from __future__ import annotations

import pytest

from bench.dlp.corpus import corpus
from bench.dlp.run import bench_profile
from warden.dlp import Detector


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(bench_profile())


def test_same_findings_as_the_full_scan_on_a_corpus(detector: Detector) -> None:
    prompts = corpus(40, 1000, seed=3) + corpus(6, 10000, seed=3)
    found = 0
    for p in prompts:
        fast = detector.detect(p.text)
        assert fast == detector.detect_full(p.text)
        found += len(fast)
    assert found > 300


def test_recall_on_the_corpus(detector: Detector) -> None:
    for p in corpus(30, 1000, seed=11):
        got = {(f.entity_type, f.start, f.end) for f in detector.detect(p.text)}
        for s in p.spans:
            assert any(t == s.entity_type and a < s.end and s.start < b for t, a, b in got), (
                s.entity_type,
                p.text[s.start : s.end],
            )


@pytest.mark.parametrize(
    "text",
    [
        "x" * 5000 + " DB_PASSWORD=hunter2xyz",  # not at a line start: nothing
        "a\nDB_PASSWORD=hunter2xyz\n" + "y" * 3000,
        "k" * 400 + "@example.com a@b.example.org",
        "sk-" * 300 + "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1w",
        "4111 1111 1111 1111 4111 1111 1111 1111 4111",
        "-----BEGIN PRIVATE KEY-----\n" + "QUJD" * 30 + "\n" * 3 + "tail",
        "secret" * 50 + " = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "İstanbul password: 'w0rd-of-pass' İİ AKIA2E0A8F3B244C9986",
        "",
    ],
)
def test_window_edges(detector: Detector, text: str) -> None:
    assert detector.detect(text) == detector.detect_full(text)


def test_same_findings_as_the_full_scan_on_the_credential_corpus(detector: Detector) -> None:
    # the context recognizers try their patterns only around trigger words, and vendor
    # prefixes are found with str.find: both must see what a whole-text scan sees
    import json
    from pathlib import Path

    path = Path(__file__).parents[2] / "bench" / "dlp" / "data" / "credentials.jsonl"
    docs = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]
    # whole documents, and documents joined (windows that touch and merge)
    texts = docs[::3] + ["\n".join(docs[i : i + 8]) for i in range(0, len(docs), 97)]
    found = 0
    for text in texts:
        fast = detector.detect(text)
        assert fast == detector.detect_full(text), text[:200]
        found += len(fast)
    assert found > 400
