"""Hypothesis strategies for Gemini web frame streams (a hostile upstream's)."""

from __future__ import annotations

import json

from hypothesis import strategies as st

from warden.providers.geminiframes import encode_frame

from .strategies import json_values

_TEXT = st.lists(
    st.one_of(
        st.sampled_from(["<", ">", "<PERSON_1>", "<PER", "😀", "\n", '"', "\\"]), st.characters()
    ),
    max_size=12,
).map("".join)


@st.composite
def frame_streams(draw: st.DrawFn) -> bytes:
    """A ``)]}'`` prefix (or not), frames of answers (cumulative text, placeholders, astral
    characters), other envelopes and any JSON, white space, and now and then a wrong
    length, garbage, a truncation or a flipped byte."""
    out = ")]}'\n" if draw(st.booleans()) else ""
    text = ""
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.integers(0, 5))
        if kind <= 2:
            text = text + draw(_TEXT) if draw(st.integers(0, 3)) else draw(_TEXT)
            inner = [None, ["c_1", "r_1"], None, None, [["rc_1", [text]]]]
            doc: object = [["wrb.fr", None, json.dumps(inner, ensure_ascii=draw(st.booleans()))]]
        elif kind == 3:
            doc = draw(json_values)
        else:
            doc = [["di", draw(st.integers(0, 999))], ["e", 4, None, None, 144]]
        body = "\n" + json.dumps(doc, ensure_ascii=False) + "\n"
        if draw(st.integers(0, 9)) == 0:
            body = body[: draw(st.integers(0, len(body)))]  # the length no longer fits
        out += encode_frame(body) if body else ""
        out += draw(st.sampled_from(["", "\n", "\r\n", " "]))
    data = out.encode("utf-8", "surrogatepass")
    if data and draw(st.integers(0, 6)) == 0:
        i = draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([data[i] ^ (1 << draw(st.integers(0, 7)))]) + data[i + 1 :]
    if draw(st.integers(0, 8)) == 0:
        data += draw(st.binary(max_size=8))
    return data
