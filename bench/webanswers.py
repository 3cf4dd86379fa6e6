"""Web-app answer benchmark: reading and restoring a streamed answer of each web app.

Run: ``.venv/bin/python bench/webanswers.py [--chars 20000] [--rounds 5]``.

Builds one answer of ``--chars`` characters holding a pseudonym every ~200 characters, in
each app's format: ChatGPT's delta encoding (8-character appends), Claude's app events
(8-character text deltas) and Gemini's length-prefixed frames of cumulative text (a frame
per 64 characters: the format makes the body grow with the square of the text, so its
bytes are printed too). The baseline, measured in the same run, is the Anthropic API
stream of the same deltas through the same ``SseRestorer``. Prints, per format, the
stream's size and the time per answer (and MB/s) through the stream parser (usage tap)
and through the restorer, fed in 1 KB chunks, best of ``--rounds``. Compare times per
answer: the formats carry the same text in very different byte counts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from warden.dlp import PseudonymVault
from warden.dlp.webrestore import restore_streamed_answer
from warden.providers.geminiframes import encode_frame
from warden.providers.streams import stream_parser_for

VAULT = PseudonymVault({"<PERSON_1>": "Alice Example", "<CUSTOMER_1>": "Jane Roe"})


def answer(chars: int) -> str:
    words = "The order for <CUSTOMER_1> has shipped; <PERSON_1> will follow up. " * (
        chars // 60 + 1
    )
    return words[:chars]


def sse(name: str | None, doc: object) -> bytes:
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {json.dumps(doc)}\n\n".encode()


def pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def anthropic(text: str) -> bytes:
    out = [sse("message_start", {"type": "message_start", "message": {"usage": {}}})]
    out += [
        sse(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}},
        )
        for p in pieces(text, 8)
    ]
    out.append(sse("message_stop", {"type": "message_stop"}))
    return b"".join(out)


def chatgpt(text: str) -> bytes:
    message = {"id": "m", "author": {"role": "assistant"}, "content": {"parts": [""]}}
    out = [
        sse("delta_encoding", "v1"),
        sse("delta", {"p": "", "o": "add", "v": {"message": message}}),
    ]
    ps = pieces(text, 8)
    out.append(sse("delta", {"p": "/message/content/parts/0", "o": "append", "v": ps[0]}))
    out += [sse("delta", {"v": p}) for p in ps[1:]]
    return b"".join(out) + b"data: [DONE]\n\n"


def gemini(text: str) -> bytes:
    out = [")]}'\n"]
    for end in range(64, len(text) + 64, 64):
        inner = [None, ["c", "r"], None, None, [["rc", [text[:end]]]]]
        out.append(encode_frame("\n" + json.dumps([["wrb.fr", None, json.dumps(inner)]]) + "\n"))
    return "".join(out).encode()


def best(rounds: int, run: Callable[[], None]) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chars", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    text = answer(args.chars)
    streams = {
        "anthropic.messages (baseline)": ("anthropic.messages", anthropic(text)),
        "chatgpt.conversation": ("chatgpt.conversation", chatgpt(text)),
        "claude.completion": ("claude.completion", anthropic(text)),
        "gemini_web.stream_generate": ("gemini_web.stream_generate", gemini(text)),
    }
    print(f"answer of {len(text)} characters, fed in 1 KB chunks, best of {args.rounds}")
    print(f"{'format':32} {'bytes':>10} {'parse ms':>9} {'MB/s':>6} {'restore ms':>11} {'MB/s':>6}")
    for label, (api, body) in streams.items():
        chunks = [body[i : i + 1024] for i in range(0, len(body), 1024)]

        def parse(api: str = api, chunks: list[bytes] = chunks) -> None:
            parser = stream_parser_for(api, 1 << 24)
            assert parser is not None
            for c in chunks:
                parser.feed(c)
            parser.close()

        def restore(api: str = api, chunks: list[bytes] = chunks) -> None:
            restorer = restore_streamed_answer(api, VAULT, 1 << 24)
            for c in chunks:
                restorer.feed(c)
            restorer.close()

        mb = len(body) / 1e6
        parsed, restored = best(args.rounds, parse), best(args.rounds, restore)
        print(
            f"{label:32} {len(body):>10} {parsed * 1e3:>9.1f} {mb / parsed:>6.1f}"
            f" {restored * 1e3:>11.1f} {mb / restored:>6.1f}"
        )


if __name__ == "__main__":
    main()
