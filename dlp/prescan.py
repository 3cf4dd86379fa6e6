"""The pre-scan: cheap triggers that say where each recognizer may match, so that the
recognizers run on small windows instead of the whole text.

Presidio runs every pattern of every recognizer over the whole text, and the phone
recognizer runs python-phonenumbers' matcher over it once per region. Most of a prompt is
prose or code in which nothing matches. Each warden recognizer declares a ``TRIGGER``, a
regex that matches inside every match of the recognizer (``@`` for e-mail, ``sk-`` for
OpenAI keys, four digits and three more for cards …), and how far a match can reach
before and after it (``REACH_BEFORE``/``REACH_AFTER``). The pre-scan finds the triggers,
turns each into a window of that reach widened to the surrounding whitespace (so no
window starts or ends inside a token), merges windows that touch, and hands each
recognizer only its windows. A recognizer without a trigger gets the whole text.

Why recall is not lost: a match contains a trigger, so it lies inside that trigger's
window; pattern recognizers run with ``pos``/``endpos`` on the real text, so look-behinds,
``\\b`` and ``^`` see what is before the window, and the right edge is whitespace, where a
pattern's look-ahead sees the same as in the whole text. ``tests/dlp/test_prescan.py``
and ``bench/dlp`` compare both paths on a corpus.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from .recognizers.base import find_all
from .recognizers.base import lower as lower_case
from .recognizers.pii import widen

Window = tuple[int, int]

#: Characters rarer in prose than letters, rarest first: a literal trigger that holds one
#: is looked for only in a text that holds it (one ``in`` test for all the literals that
#: hold it, instead of a ``str.find`` over the text for each: most vendor prefixes hold
#: ``_``, which prose seldom does).
_RARE = "_0123456789=/-:."


class Prescan:
    """Triggers of a fixed recognizer list, compiled once."""

    def __init__(self, recognizers: Sequence[Any]) -> None:
        self._recognizers = list(recognizers)
        # Recognizers sharing a trigger share one search.
        by_trigger: dict[tuple[str, bool], list[int]] = {}
        self._whole: list[int] = []
        self._literals: list[tuple[list[tuple[str, tuple[str, ...]]], int]] = []
        for i, r in enumerate(self._recognizers):
            trigger = getattr(r, "TRIGGER", None)
            literals = getattr(r, "TRIGGER_LITERALS", ())
            if literals:
                self._literals.append((_by_rare_character(literals), i))
            elif trigger is None:
                self._whole.append(i)
            else:
                key = (trigger, bool(getattr(r, "TRIGGER_LOWER", False)))
                by_trigger.setdefault(key, []).append(i)
        self._triggers = [(re.compile(t), lower, idx) for (t, lower), idx in by_trigger.items()]

    def windows(self, text: str) -> Iterator[tuple[Any, list[Window]]]:
        """(recognizer, its merged windows), for each recognizer with at least one."""
        for i in self._whole:
            yield self._recognizers[i], [(0, len(text))]
        lowered: str | None = None
        # a character of ``_RARE``: in the text (lower-casing keeps these characters)
        holds: dict[str, bool] = {}
        for groups, i in self._literals:
            r = self._recognizers[i]
            source = text
            lower = bool(getattr(r, "TRIGGER_LOWER", False))
            if lower:
                if lowered is None:
                    lowered = lower_case(text)
                source = lowered
            literals: list[str] = []
            for rare, group in groups:
                if rare:
                    held = holds.get(rare)
                    if held is None:
                        held = holds[rare] = rare in text
                    if not held:
                        continue
                literals.extend(group)
            found = find_all(source, tuple(literals))
            if found:
                yield r, _merge(text, found, r.REACH_BEFORE, r.REACH_AFTER)
        for pattern, lower, indexes in self._triggers:
            source = text
            if lower:
                if lowered is None:
                    lowered = lower_case(text)
                source = lowered
            hits = [m.span() for m in pattern.finditer(source)]
            if not hits:
                continue
            for i in indexes:
                r = self._recognizers[i]
                yield r, _merge(text, hits, r.REACH_BEFORE, r.REACH_AFTER)


def _by_rare_character(literals: Sequence[str]) -> list[tuple[str, tuple[str, ...]]]:
    """``literals`` grouped by the rarest character of ``_RARE`` each holds (``""``: none),
    in their order within a group."""
    groups: dict[str, list[str]] = {}
    for literal in literals:
        rare = next((c for c in _RARE if c in literal), "")
        groups.setdefault(rare, []).append(literal)
    return [(rare, tuple(group)) for rare, group in groups.items()]


def _merge(text: str, hits: list[Window], before: int, after: int) -> list[Window]:
    merged: list[Window] = []
    for start, end in hits:
        if merged and start - before <= merged[-1][1]:
            # cheap case: the trigger's reach starts inside the previous window
            last_lo, last_hi = merged[-1]
            if end + after > last_hi:
                merged[-1] = (last_lo, widen(text, last_lo, end + after)[1])
            continue
        merged.append(widen(text, start - before, end + after))
    return merged
