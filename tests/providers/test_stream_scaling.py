"""Every stream parser does work in proportion to what it reads, whatever the chunking.

A hostile upstream sent one 4 MB SSE line in small chunks and the old decoder re-joined
and re-scanned its whole buffer per chunk: 40 s on the event loop. Each case here feeds a
parser an input of size n and of size 8n, in small chunks, and compares the CPU time (see
tests/scaling.py: a ratio, not a time bound). Every case failed on the quadratic code.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.scaling import LINEAR_BOUND, growth
from warden.providers.streams import stream_parser_for

from .frames import event

PIECE = b"x" * 16
N = 2048  # pieces in the small input: 32 KB; the large one is 256 KB in 16-byte chunks


def long_sse_line(n: int) -> list[bytes]:
    return [b'data: {"t": "'] + [PIECE] * n + [b'"}\n\n']


def long_array_element(n: int) -> list[bytes]:
    return [b'[{"t": "'] + [PIECE] * n + [b'"}]']


def long_bedrock_message(n: int) -> list[bytes]:
    raw = event("contentBlockDelta", {"delta": {"text": "x" * (16 * n)}})
    return [raw[i : i + 16] for i in range(0, len(raw), 16)]


def leading_white_space(n: int) -> list[bytes]:
    return [b" " * 16] * n + [b'data: {"candidates": []}\n\n']


def chatgpt_appends(n: int) -> list[bytes]:
    start = {
        "message": {
            "id": "m1",
            "author": {"role": "assistant"},
            "content": {"content_type": "text", "parts": [""]},
        }
    }
    first = {"p": "/message/content/parts/0", "o": "append", "v": "x"}
    head = b"event: delta\ndata: " + json.dumps({"v": start, "p": "", "o": "add"}).encode()
    # 128 characters per append: the text grows fast enough that re-joining it per event
    # (the old code) outweighs reading the event itself
    more = b'data: {"v": "' + b"x" * 128 + b'"}\n\n'
    return [head + b"\n\n", b"data: " + json.dumps(first).encode() + b"\n\n"] + [more] * n


CASES: dict[str, tuple[str, Callable[[int], list[bytes]]]] = {
    "openai chat, one long line": ("openai.chat_completions", long_sse_line),
    "responses, one long line": ("openai.responses", long_sse_line),
    "anthropic, one long line": ("anthropic.messages", long_sse_line),
    "gemini sse, one long line": ("gemini.stream_generate_content", long_sse_line),
    "gemini array, one long element": ("gemini.stream_generate_content", long_array_element),
    "gemini, leading white space": ("gemini.stream_generate_content", leading_white_space),
    "bedrock, one long message": ("bedrock.converse_stream", long_bedrock_message),
    "chatgpt web, one long line": ("chatgpt.conversation", long_sse_line),
    "chatgpt web, many appends": ("chatgpt.conversation", chatgpt_appends),
    "claude web, one long line": ("claude.completion", long_sse_line),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_parser_work_grows_linearly(case: str) -> None:
    api, make = CASES[case]

    def run(chunks: list[bytes]) -> None:
        parser = stream_parser_for(api)
        assert parser is not None
        for chunk in chunks:
            parser.feed(chunk)
        parser.close()
        assert not parser.broken

    ratio = growth(run, make, N)
    assert ratio < LINEAR_BOUND, f"{case}: 8x the input took {ratio:.1f}x the CPU time"
