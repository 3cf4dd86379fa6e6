"""Gemini web answers as the app receives them, for the tests (a helper, not a test).

The shape: ``)]}'`` then frames ``<UTF-16 length>\\n<JSON>\\n``, the answer in
``["wrb.fr", null, "<inner JSON>"]`` with the conversation ids at ``inner[1]`` and the
candidates at ``inner[4]`` (HanaokaYuzu/Gemini-API ``src/gemini_webapi/utils/parsing.py``
and ``client.py``)."""

from __future__ import annotations

import json

from warden.providers.geminiframes import encode_frame


def dumps(doc: object) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def inner(text: str, thoughts: str | None = None, cid: str = "c_7f3a") -> list[object]:
    candidate: list[object] = ["rc_1", [text]]
    if thoughts is not None:
        candidate += [None] * 35 + [[[thoughts]]]
    return [None, [cid, "r_9b2e"], None, None, [candidate]]


def frame(doc: object) -> str:
    return encode_frame("\n" + dumps(doc) + "\n")


def answer_frames(texts: list[str], thoughts: list[str] | None = None) -> str:
    """The body of an answer whose cumulative text goes through ``texts``."""
    out = [")]}'\n"]
    for i, text in enumerate(texts):
        t = thoughts[i] if thoughts else None
        out.append(frame([["wrb.fr", None, dumps(inner(text, t))]]))
    out.append(frame([["di", 42], ["af.httprm", 41, "-123", 7]]))
    out.append(frame([["e", 4, None, None, 144]]))
    return "\n".join(out) + "\n"
