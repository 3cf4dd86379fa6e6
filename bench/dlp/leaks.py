"""End-to-end leak count: sensitive values sent through ``warden run`` with the demo
profile to aimock; how many reach the upstream verbatim.

    .venv/bin/pip install -e '.[bench]'     # presidio-evaluator, the prose generator
    .venv/bin/python bench/dlp/leaks.py [--sentences 1500] [--credentials 600] [--seed 11]

Documents, none written against our recognizers:

- prose: sentences from Presidio's own generator (PyPI ``presidio-evaluator`` 0.3.2,
  ``PresidioSentenceFaker``, seeded), a few joined into one prompt; its spans say where
  each value is;
- credentials: the positives of ``bench/dlp/data/credentials.jsonl`` that carry a span
  (built from gitleaks' and detect-secrets' own test cases, see
  ``bench/dlp/credential_corpus.py``), each as its own prompt.

Each document goes as the user message of an OpenAI chat request through a real gateway
(identity enforced with a service JWT from the dev IdP, the demo's ``pii-basic`` profile
under a ``redact`` rule) to aimock. A value *leaks* when it appears verbatim in what aimock
received for that document (aimock's journal, matched by a header the gateway passes
on). A request the gateway blocks sends nothing, so none of its values leak.

Counted: the types the demo profile covers (people, street addresses, e-mail, phone,
card, IBAN, IP, SSN, every credential). Other types the generator marks (places,
organisations, dates, ages, titles) are printed apart: no profile of ours claims them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.e2e.test_dlp import make_bed  # noqa: E402
from tests.e2e.test_identity import SERVICE_SECRET  # noqa: E402
from tests.e2e.test_policy import RESOURCE  # noqa: E402
from tests.peers import Aimock  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "aimock"
CREDENTIALS = ROOT / "bench" / "dlp" / "data" / "credentials.jsonl"
CHAT = "https://api.openai.com/v1/chat/completions"
#: aimock's journal keeps its last 1,000 entries: read it after each batch of this many.
JOURNAL_BATCH = 400

#: The generator's types the demo profile is meant to catch.
COVERED = {
    "PERSON",
    "STREET_ADDRESS",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "IP_ADDRESS",
    "US_SSN",
}

type Gold = tuple[str, str]  # (entity type, value)


def prose(n: int, seed: int, per_prompt: int) -> list[tuple[str, list[Gold]]]:
    try:
        from presidio_evaluator.data_generator import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
            PresidioSentenceFaker,
        )
    except ImportError:
        sys.exit("needs presidio-evaluator: .venv/bin/pip install -e '.[bench]'")
    faker = PresidioSentenceFaker("en_US", lower_case_ratio=0.05, random_seed=seed)
    docs: list[tuple[str, list[Gold]]] = []
    text, gold = "", []
    for s in faker.generate_new_fake_sentences(num_samples=n):
        gold += [(sp.entity_type, sp.entity_value) for sp in s.spans]
        text += s.full_text + "\n"
        if len(gold) and text.count("\n") >= per_prompt:
            docs.append((text, gold))
            text, gold = "", []
    if text:
        docs.append((text, gold))
    return docs


def credentials(n: int, seed: int) -> list[tuple[str, list[Gold]]]:
    rows = [json.loads(line) for line in CREDENTIALS.read_text().splitlines() if line.strip()]
    positives = [r for r in rows if r["positive"] and r["spans"]]
    random.Random(seed).shuffle(positives)
    docs = []
    for r in positives[:n]:
        gold = [("CREDENTIAL:" + r["kind"], r["text"][a:b]) for a, b in r["spans"]]
        docs.append((r["text"], gold))
    return docs


def upstream_texts(aimock: Aimock) -> dict[int, str]:
    """What aimock received for each document (by its ``x-bench-doc`` header) among the
    entries its journal holds (the last 1,000): the body as JSON and each message's text."""
    texts: dict[int, list[str]] = {}
    for entry in aimock.journal():
        headers = {k.lower(): v for k, v in (entry.get("headers") or {}).items()}
        doc = headers.get("x-bench-doc")
        if doc is None:
            continue
        body = entry.get("body")
        mine = texts.setdefault(int(doc), [])
        if isinstance(body, str):
            mine.append(body)
        else:
            mine.append(json.dumps(body, ensure_ascii=False))
            for m in (body or {}).get("messages", []):
                if isinstance(m.get("content"), str):
                    mine.append(m["content"])
    return {doc: "\n".join(parts) for doc, parts in texts.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=1500)
    ap.add_argument("--per-prompt", type=int, default=4, help="sentences per prompt")
    ap.add_argument("--credentials", type=int, default=600)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument(
        "--misses", type=Path, help="write each leaked value with its prompt here (JSON lines)"
    )
    args = ap.parse_args()
    docs = prose(args.sentences, args.seed, args.per_prompt) + credentials(
        args.credentials, args.seed
    )
    with tempfile.TemporaryDirectory(prefix="warden-leaks-") as tmp:
        aimock = Aimock(FIXTURES, Path(tmp) / "aimock.log")
        aimock.start()
        bed = make_bed(Path(tmp), aimock, {"workers": 2})
        try:
            token = bed.idp.client_credentials_token("svc-eng", SERVICE_SECRET, RESOURCE)
            statuses: Counter[int] = Counter()

            def send(i: int) -> None:
                text = docs[i][0]
                with httpx.Client(
                    proxy=httpx.Proxy(
                        bed.warden.proxy_url, headers={"Proxy-Authorization": f"Bearer {token}"}
                    ),
                    verify=str(bed.warden.ca_cert),
                    timeout=120,
                    trust_env=False,
                ) as client:
                    answer = client.post(
                        CHAT,
                        json={
                            "model": "gpt-4o-mini",
                            "messages": [{"role": "user", "content": text}],
                        },
                        headers={"Authorization": "Bearer sk-test", "X-Bench-Doc": str(i)},
                    )
                # aimock answers 404 to a prompt none of its fixtures match: it still
                # received it (its journal has it), which is what is measured here
                statuses[answer.status_code] += 1

            started = time.perf_counter()
            sent: dict[int, str] = {}
            with ThreadPoolExecutor(args.clients) as pool:
                for first in range(0, len(docs), JOURNAL_BATCH):
                    batch = range(first, min(first + JOURNAL_BATCH, len(docs)))
                    list(pool.map(send, batch))
                    sent.update(upstream_texts(aimock))  # before the journal drops them
            seconds = time.perf_counter() - started
        finally:
            bed.warden.stop()
            bed.idp.stop()
            aimock.stop()

    gold_by_type: Counter[str] = Counter()
    leaked_by_type: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    misses: list[dict[str, str]] = []
    for i, (_, gold) in enumerate(docs):
        received = sent.get(i, "")
        for kind, value in gold:
            family = "CREDENTIAL" if kind.startswith("CREDENTIAL:") else kind
            gold_by_type[family] += 1
            if value and value in received:
                leaked_by_type[family] += 1
                examples.setdefault(family, []).append(value)
                misses.append({"type": family, "value": value, "prompt": docs[i][0]})
    print(
        f"{len(docs)} prompts ({args.sentences} generated sentences, "
        f"{min(args.credentials, len(docs))} credential documents) in {seconds:.0f} s; "
        f"answers: {dict(sorted(statuses.items()))}"
    )
    print("| type | values | reached the upstream verbatim | share |")
    print("|---|---:|---:|---:|")
    total = leaked = 0
    for family in sorted(gold_by_type, key=lambda f: (f not in COVERED | {"CREDENTIAL"}, f)):
        n, k = gold_by_type[family], leaked_by_type[family]
        covered = family in COVERED or family == "CREDENTIAL"
        if covered:
            total, leaked = total + n, leaked + k
        mark = "" if covered else " (not covered)"
        print(f"| {family}{mark} | {n} | {k} | {k / n:.1%} |")
    print(f"| **covered types** | {total} | {leaked} | {leaked / max(total, 1):.1%} |")
    if args.misses:
        args.misses.write_text("".join(json.dumps(m) + "\n" for m in misses))
    for family, values in sorted(examples.items()):
        if family in COVERED or family == "CREDENTIAL":
            shown = ", ".join(repr(v[:40]) for v in values[:5])
            print(f"  leaked {family}: {shown}")


if __name__ == "__main__":
    main()
