"""Sealed evidence of streamed answers: what assembling and sealing cost, as ratios.

Run: ``.venv/bin/python bench/evidence.py [--events 20000]``.

1. Per chunk of a streamed answer, in the gateway's own ``AnswerStream`` (one restoring
   stage, as with a pseudonym active): a flow no rule captures (no reader: the cost every
   stream pays for the feature is one empty loop) against a captured flow (a
   ``BodyRecorder`` keeps each chunk up to the cap). Both are timed in the same run,
   alternating, and printed as the captured / plain ratio.
2. Sealing one captured answer at the end (age via pyrage, to two recipients, plus the
   canonical JSON envelope) for answers of 16 KiB, 256 KiB and 1 MiB (the default cap):
   milliseconds per seal, off the event loop in the gateway (a worker thread).

Figures depend on the machine's load; the ratios in the same run are what to compare.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mitmproxy.test import tflow, tutils  # noqa: E402

from warden.addons.response import AnswerStream  # noqa: E402
from warden.audit.evidence import (  # noqa: E402
    BodyRecorder,
    CapturedBody,
    EvidenceEnvelope,
    generate_identity,
    seal,
)

EVENT = (
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,'
    b'"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Dear Jane, we"},'
    b'"finish_reason":null}]}\n\n'
)


class _Restore:
    def feed(self, chunk: bytes) -> bytes:
        return chunk.replace(b"<CUSTOMER_1>", b"Jane Roe")

    def close(self) -> bytes:
        return b""


def _stream(captured: bool) -> AnswerStream:
    flow = tflow.tflow()
    flow.response = tutils.tresp(content=b"")
    stream = AnswerStream(flow, None)
    stream.add(_Restore())
    if captured:
        stream.add_reader(BodyRecorder(1024 * 1024).add)
    return stream


def per_chunk(events: int, rounds: int) -> tuple[float, float]:
    """Median microseconds per chunk: (plain, captured)."""
    plain: list[float] = []
    captured: list[float] = []
    for _ in range(rounds):
        for which, out in ((False, plain), (True, captured)):
            stream = _stream(which)
            start = time.perf_counter()
            for _ in range(events):
                stream(EVENT)
            stream(b"")
            out.append((time.perf_counter() - start) / events * 1e6)
    return statistics.median(plain), statistics.median(captured)


def seal_ms(size: int, rounds: int) -> float:
    recipients = (generate_identity()[1], generate_identity()[1])
    body = (EVENT * (size // len(EVENT) + 1))[:size]
    times = []
    for _ in range(rounds):
        envelope = EvidenceEnvelope(
            "0" * 32, "acme", "2026-12-02T00:00:00.000Z", "POST", "api.openai.com",
            "/v1/chat/completions", CapturedBody.capture(b"{}", size),
            CapturedBody(body, size, False, "text/event-stream"),
        )  # fmt: skip
        start = time.perf_counter()
        seal(envelope, recipients)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    plain, captured = per_chunk(args.events, args.rounds)
    print(f"stream chunk, not captured: {plain:.2f} µs   captured: {captured:.2f} µs   "
          f"ratio {captured / plain:.2f}")  # fmt: skip
    for size in (16 * 1024, 256 * 1024, 1024 * 1024):
        print(f"seal an answer of {size // 1024:>5} KiB: {seal_ms(size, args.rounds):.1f} ms")


if __name__ == "__main__":
    main()
