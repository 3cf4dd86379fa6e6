"""The shortcuts of dlp/ner.py's rules give the answers of the long way: a pattern skipped
for lack of its words never had a match, a kept ``is_prose`` answer is the fresh one and
the kept answers stay bounded. (``bench/dlp/rules.py`` compares every span of the names
corpus with an earlier revision.)"""

from __future__ import annotations

import re

import pytest

from warden.dlp import ner


def _alternatives(group: str) -> list[str]:
    """The words of a ``(?:a|b[ \\t]+c|…)`` alternation as text: the first choice of a
    nested group, ``[sz]`` as its first letter, an optional ``s?`` left out."""
    group = re.sub(r"\(\?:([a-z]+)\|[^)]*\)", r"\1", group)
    group = re.sub(r"\[([a-z])[a-z]*\]", r"\1", group)
    group = group.replace("[ \\t]+", " ").replace("s?", "")
    return group.split("|")


def _group(pattern: re.Pattern[str], before: str, after: str, last: bool = False) -> str:
    source = pattern.pattern
    start = (source.rindex(before) if last else source.index(before)) + len(before)
    return source[start : source.index(after, start)]


def _samples() -> list[tuple[re.Pattern[str], str]]:
    out: list[tuple[re.Pattern[str], str]] = []
    for verb in _alternatives(_group(ner._SPEAKER, r"\b(?:", ")[ \\t]+(")):
        out.append((ner._SPEAKER, f'"Fine," {verb} Okonkwo.'))
    for verb in _alternatives(ner._PERSON_VERBS):
        out.append((ner._SUBJECT, f"Okonkwo {verb} yesterday."))
    for verb in _alternatives(_group(ner._SAYER, "[ \\t]+(?:", ")\\b", last=True)):
        out.append((ner._SAYER, f"Okonkwo {verb} here."))
    for thing in _alternatives(_group(ner._MAKER, "[ \\t]+(?:", ")\\b", last=True)):
        out.append((ner._MAKER, f"I read the Okonkwo {thing} twice."))
    for word in _alternatives(_group(ner._GREETED, r"\b(?:", r")\s+")):
        out.append((ner._GREETED, f"{word} Okonkwo, good morning"))
    for mark in ("'", "\u2019"):
        out.append((ner._OWNER, f"Ana Okonkwo{mark}s Cautionary Tales"))
        out.append((ner._POSSESSIVE, f"Okonkwo{mark}s address"))
    out.append((ner._VOCATIVE, "Okonkwo, can you help?"))
    out.append((ner._SPEAKER_LABEL, 'Okonkwo: "hello"'))
    return out


def test_every_pattern_with_needles_is_sampled() -> None:
    assert {p for p, _ in _samples()} == set(ner._NEEDS)


@pytest.mark.parametrize(("pattern", "text"), _samples(), ids=lambda v: str(v)[-40:])
def test_a_skipped_pattern_never_had_a_match(pattern: re.Pattern[str], text: str) -> None:
    """Each word a cue pattern knows is among its needles: a word added to the pattern
    and not to ``_NEEDS`` fails here (the pattern would be skipped where it matches)."""
    expected = [m.span(1) for m in pattern.finditer(text)]
    assert expected, f"the sample does not exercise the pattern: {text!r}"
    assert [m.span(1) for m in ner._scan(pattern, text)] == expected


def test_asked_needs_name_or_by() -> None:
    for text in ("My NAME is Okonkwo", "Directed BY Okonkwo", "FULL Name: Okonkwo"):
        assert list(ner._ASKED.finditer(text))
        assert [m.span(1) for m, _ in ner._cued_names(text)] == [
            m.span(1) for m in ner._ASKED.finditer(text)
        ]


def _camel_long_way(word: str) -> bool:
    inner = word[1:]
    return any(c.isupper() for c in inner) and any(c.islower() for c in word) and word.isalnum()


@pytest.mark.parametrize(
    "word",
    [
        "userId", "UserID", "USERID", "userid", "User", "x", "", "iPhone", "McDonald",
        "snake_case", "a1B", "ǅemal", "aǅ", "ǈubljana", "ĲssEL", "ΣίσυφοςΑ", "ǲZ", "Ab-Cd",
        "a\u0345B", "ﬀOo", "Aǅ", "1A", "1a",
    ],
)  # fmt: skip
def test_camel_shortcuts_agree_with_the_long_way(word: str) -> None:
    assert ner._camel(word) is _camel_long_way(word)


def test_kept_prose_answers_are_the_fresh_ones_and_bounded() -> None:
    lines = [
        "Could you ask Okonkwo to send the deck?\n",
        "2024-01-02 12:00:01 INFO started\n",
        "    userId = getUser(req);\n",
        '"user name",\n',
        "Traceback (most recent call last):\n",
    ]
    ner.forget_lines()
    for line in lines:
        fresh = ner._is_prose(line)
        assert ner.is_prose(line) is fresh
        assert ner.is_prose(line) is fresh  # the kept answer
    long = "word " * (ner._PROSE_CACHE_LINE // 5 + 1)
    ner.is_prose(long)
    assert long not in ner._prose_cache
    for i in range(ner._PROSE_CACHE + 10):
        ner.is_prose(f"Line {i} of a long chat that someone wrote\n")
    assert 0 < len(ner._prose_cache) <= ner._PROSE_CACHE
    ner.forget_lines()
    assert not ner._prose_cache
