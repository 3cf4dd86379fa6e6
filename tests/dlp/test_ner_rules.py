"""The shortcuts of dlp/ner.py's rules give the answers of the long way: a pattern skipped
for lack of its words never had a match, a kept ``is_prose`` answer is the fresh one and
the kept answers stay bounded. (``bench/dlp/rules.py`` compares every span of the names
corpus with an earlier revision.)"""

from __future__ import annotations

import importlib
import random
import re
from typing import Any

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


# --------------------------------------------------------------------------- heads

type _Path = tuple[str, bool, bool]  # literal text so far, still literal, \b before it


def _paths(items: Any, paths: list[_Path]) -> list[_Path]:
    """Every way a parsed pattern (``re._parser``'s items) can begin: the literal text it
    starts with, whether that text may go on, and whether a ``\\b`` comes before it."""
    for op, arg in items:
        kind = str(op)
        out: list[_Path] = []
        for path in paths:
            text, open_, bounded = path
            if not open_:
                out.append(path)
            elif kind == "AT":
                out.append((text, True, bounded or (str(arg) == "AT_BOUNDARY" and not text)))
            elif kind in ("ASSERT", "ASSERT_NOT"):
                out.append(path)  # zero width
            elif kind == "LITERAL":
                out.append((text + chr(arg), True, bounded))
            elif kind == "IN" and all(str(o) == "LITERAL" for o, _ in arg):
                out.extend((text + chr(c), True, bounded) for _, c in arg)
            elif kind == "SUBPATTERN":
                out.extend(_paths(arg[3], [path]))
            elif kind == "BRANCH":
                out.extend(p for branch in arg[1] for p in _paths(branch, [path]))
            elif kind in ("MAX_REPEAT", "MIN_REPEAT"):
                low, high, sub = arg
                once = _paths(sub, [path])
                if not (low <= 1 and high == 1):
                    once = [(t, False, b) for t, _, b in once]  # more may follow
                out.extend(([path] if low == 0 else []) + once)
            else:
                out.append((text, False, bounded))
        paths = out
    return paths


@pytest.mark.parametrize("pattern", list(ner._HEADS), ids=lambda p: p.pattern[:30])
def test_every_match_of_a_headed_pattern_starts_with_a_head_at_a_word_boundary(
    pattern: re.Pattern[str],
) -> None:
    """``_at_heads`` tries a pattern only where one of its heads starts a word: every way
    the pattern can begin must be a ``\\b`` and then text one of the heads begins (a word
    added to the pattern and not to ``_HEADS`` fails here)."""
    parser: Any = importlib.import_module("re._parser")
    heads = ner._HEADS[pattern]
    paths = _paths(parser.parse(pattern.pattern, pattern.flags), [("", True, False)])
    assert paths
    for text, _, bounded in paths:
        assert bounded, f"{text!r} can start without a word boundary"
        assert any(text.lower().startswith(h) for h in heads), f"no head begins {text!r}"


@pytest.mark.parametrize(
    "text",
    [
        "Okonkwo said, then said Okonkwo. According to Ana Okonkwo.",
        "my kid Luisella and I am Ayaan; I'm Ana, call me Gerth",
        "Ask Kowalczyk, e-mail to Okonkwo, cc: Ana Silva and with Maria",
        "hi john, my name is pedro alvarez; dear ms. fitzgerald, I am ana",
        "First name: Ana. LAST NAME? Sjöberg. written by Okonkwo; surname Kowalczyk",
        "Dr. Savage met Mrs Olson and Prof. Ana de Souza",
        "into tomato Mister Drake; said\u00a0Okonkwo; dear\tAna,",
        "\u0131 am ana; \u017fent by Okonkwo",  # letters re folds to ASCII: the long way
        "\u0130 am ana: my name is Ana",  # lower-casing changes the length: the long way
    ],
)
def test_a_headed_or_leading_pattern_finds_what_finditer_finds(text: str) -> None:
    where = ner._Starts(text)  # shared by the patterns, as in ``NameFinder.find``
    for pattern in [*ner._HEADS, *ner._LEADING]:
        expected = [(m.span(), m.groups()) for m in pattern.finditer(text)]
        assert [(m.span(), m.groups()) for m in ner._scan(pattern, text)] == expected
        assert [(m.span(), m.groups()) for m in ner._scan(pattern, text, where)] == expected


@pytest.mark.parametrize("pattern", list(ner._LEADING), ids=lambda p: p.pattern[:30])
def test_a_leading_pattern_starts_only_at_a_line_or_a_sentence_mark(
    pattern: re.Pattern[str],
) -> None:
    """``_Starts.at_leads`` offers a line's start and each of ``_LEAD_MARKS``: what
    ``_LEAD`` (a pattern's opening) can match first."""
    assert pattern.pattern.startswith(ner._LEAD)
    assert pattern.flags & re.MULTILINE  # ``^`` is a line's start
    parser: Any = importlib.import_module("re._parser")
    ((op, (_, branches)),) = parser.parse(ner._LEAD).data
    assert str(op) == "BRANCH"
    line, mark = branches
    assert [(str(o), str(a)) for o, a in line] == [("AT", "AT_BEGINNING")]  # ^
    assert str(mark[0][0]) == "IN"
    assert {chr(c) for _, c in mark[0][1]} == set(ner._LEAD_MARKS)


def test_the_lead_patterns_find_what_finditer_finds_on_prose() -> None:
    rng = random.Random(11)
    words = [
        *ner._words("Okonkwo Ana Silva said told shouted from of , can you ; : ( ) . ! ?"),
        *ner._words('\u201c " Maria ex-Zombie Rangel began writing McDonald I am'),
        *(" ", " ", "\n", "\t", "\r\n"),
    ]
    for _ in range(2000):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 14)))
        for pattern in ner._LEADING:
            expected = [(m.span(), m.groups()) for m in pattern.finditer(text)]
            assert [(m.span(), m.groups()) for m in ner._scan(pattern, text)] == expected


# --------------------------------------------------------------------------- openings


def _as_written_before() -> dict[re.Pattern[str], re.Pattern[str]]:
    """The patterns that open with a name (``_opening``) as they were written before:
    the look-behind first, then ``_NAME_WORD``."""
    word = ner._NAME_WORD

    def behind_first(pattern: re.Pattern[str], opening: str, before: str) -> re.Pattern[str]:
        assert pattern.pattern.startswith(opening)
        return re.compile(before + pattern.pattern[len(opening) :], pattern.flags)

    return {
        ner._CAPITALISED: re.compile(
            r"(?<![\w.@/\\-])[A-ZÀ-ÖØ-ÞĀ-Ž][a-zß-öø-ÿĀ-ɏ'\u2019]+"
            r"(?:-[A-ZÀ-ÖØ-ÞĀ-Ž][a-zß-öø-ÿĀ-ɏ'\u2019]+)?\b"
        ),
        ner._MEMBER: re.compile(ner._RUN),
        ner._LIST: behind_first(ner._LIST, ner._RUN_OPENING, ner._RUN),
        ner._OWNER: behind_first(ner._OWNER, "(" + ner._opening(r"[\w@.]"), rf"(?<![\w@.])({word}"),
        ner._POSSESSIVE: behind_first(
            ner._POSSESSIVE, "(" + ner._opening(r"[\w.-]"), rf"(?<![\w.-])({word}"
        ),
        ner._INNER: behind_first(
            ner._INNER, "(" + ner._opening("[a-z,] ", negative=False), rf"(?<=[a-z,] )({word}"
        ),
    }


def _tricky_texts() -> list[str]:
    words = [
        *ner._words(
            "Mc McDonald MacArthur Macy Mcdonald Mcć M Ana O'Neil van de, and or / & 's \u2019s "
            "address x.Ana @Ana -Ana _Ana 1Ana ana a, Ana Dr. A. B Kowalczyk-Nowak Zoë Ćirić Ђ "
            "daughter novel"
        ),
        *(" ", " ", "\n", "\t"),
    ]
    rng = random.Random(20)
    out = ["Ana McDonald's address", "ask MacArthur and Macy, or Mcdonald / Ana"]
    for _ in range(1500):
        out.append(" ".join(rng.choice(words) for _ in range(rng.randint(1, 12))))
        out.append("".join(rng.choice(words) for _ in range(rng.randint(1, 8))))
    return out


def test_a_pattern_opening_with_a_name_matches_as_written_before() -> None:
    """``_opening`` moves a look-behind after the name's first letter (so the regex engine
    can skip to capitals): the same spans and groups as the look-behind first."""
    texts = _tricky_texts()
    for new, old in _as_written_before().items():
        assert new.pattern != old.pattern
        matched = 0
        for text in texts:
            expected = [(m.span(), m.groups()) for m in old.finditer(text)]
            assert [(m.span(), m.groups()) for m in new.finditer(text)] == expected, text
            matched += len(expected)
        assert matched, f"the texts do not exercise {old.pattern[:40]}"
