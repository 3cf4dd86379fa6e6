"""Hypothesis strategies shared by the fuzz tests: hostile JSON, chunkings of a byte
stream, server-sent-event streams, and bodies mutated from the real samples."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st

#: ``st.DrawFn`` or ``st.DataObject.draw``: anything that draws from a strategy.
Draw = Callable[..., Any]


def scaled(fraction: float) -> settings:
    """The loaded profile with ``fraction`` of its examples, for the slower properties."""
    loaded = settings.default
    assert loaded is not None
    return settings(max_examples=max(10, int(loaded.max_examples * fraction)))


#: Text as a hostile peer sends it: any code point, lone surrogates included (JSON's
#: ``\\ud800`` escape produces them), and text made of the characters parsers split on.
_SPECIAL = st.sampled_from(
    [
        "<",
        ">",
        "_",
        "\\",
        '"',
        "\n",
        "\r",
        ":",
        "/",
        "%",
        "~",
        "\x00",
        "\ud800",
        "\udfff",
        "\ufeff",
        "é",
        "A",
        "1",
        "<PERSON_1>",
        "[DONE]",
    ]
)
texts = st.one_of(
    st.text(alphabet=st.characters(codec=None), max_size=40),
    st.lists(_SPECIAL, max_size=12).map("".join),
)
keys = st.one_of(
    st.sampled_from(
        [
            "type",
            "text",
            "content",
            "role",
            "messages",
            "model",
            "stream",
            "input",
            "parts",
            "delta",
            "index",
            "choices",
            "usage",
            "data",
            "value",
            "id",
            "prompt",
        ]
    ),
    texts,
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=25,
)


def dumps(doc: object) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def encode(doc: object) -> bytes:
    """JSON as bytes; ``\\u`` escapes where a lone surrogate has no UTF-8 form."""
    try:
        return dumps(doc).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(doc, separators=(",", ":")).encode("ascii")


@st.composite
def mutated(draw: st.DrawFn, doc: object) -> object:
    """``doc`` with a few of its values (at any depth) replaced by hostile JSON, or a key
    dropped: shapes that are almost right reach the adapters' deepest branches."""
    doc = json.loads(json.dumps(doc))
    for _ in range(draw(st.integers(0, 4))):
        doc = _mutate_once(draw, doc)
    return doc


def _mutate_once(draw: st.DrawFn, node: object) -> object:
    if isinstance(node, dict) and node and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(node)))
        action = draw(st.sampled_from(["descend", "replace", "drop"]))
        if action == "drop":
            del node[key]
        elif action == "replace":
            node[key] = draw(json_values)
        else:
            node[key] = _mutate_once(draw, node[key])
        return node
    if isinstance(node, list) and node and draw(st.booleans()):
        i = draw(st.integers(0, len(node) - 1))
        node[i] = _mutate_once(draw, node[i])
        return node
    return draw(json_values)


def chunked(draw: Draw, data: bytes) -> list[bytes]:
    """``data`` cut at points hypothesis picks (empty chunks excluded: mitmproxy's stream
    hook reads ``b""`` as the end of the body)."""
    if not data:
        return []
    cuts = draw(st.lists(st.integers(1, max(1, len(data) - 1)), max_size=12, unique=True))
    bounds = [0, *sorted(c for c in cuts if 0 < c < len(data)), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


_EOLS = st.sampled_from([b"\n", b"\r\n", b"\r"])


@st.composite
def sse_streams(
    draw: st.DrawFn, payloads: st.SearchStrategy[object] = json_values, events: int = 8
) -> bytes:
    """Server-sent events: ``data:`` lines carrying ``payloads``, named events, comments,
    ``id:``/``retry:`` fields, any line ending, a BOM, ``[DONE]`` and some raw garbage."""
    out = b""
    if draw(st.integers(0, 9)) == 0:
        out += "\ufeff".encode()
    for _ in range(draw(st.integers(0, events))):
        eol = draw(_EOLS)
        kind = draw(st.integers(0, 9))
        if kind == 0:
            out += b":" + draw(st.binary(max_size=8)).replace(b"\n", b"").replace(b"\r", b"") + eol
        elif kind == 1:
            out += b"event: " + draw(st.sampled_from([b"message", b"delta", b"ping", b"x"])) + eol
        elif kind == 2:
            out += draw(st.sampled_from([b"id: 7", b"retry: 100", b"retry: x", b"data", b"data:"]))
            out += eol
        elif kind == 3:
            out += b"data: [DONE]" + eol + eol
        elif kind == 4:
            out += draw(st.binary(max_size=12))
        else:
            data = encode(draw(payloads))
            space = b" " if draw(st.booleans()) else b""
            if draw(st.integers(0, 4)) == 0 and len(data) > 2:  # data split over two lines
                half = len(data) // 2
                out += b"data:" + space + data[:half] + eol + b"data:" + data[half:] + eol
            else:
                out += b"data:" + space + data + eol
            if draw(st.integers(0, 5)):
                out += eol
    return out
