"""What every warden recognizer adds to Presidio's: where the pre-scan may look for it.

A recognizer is a Presidio recognizer (class-level ``PATTERNS`` and ``CONTEXT``, a
``validate_result``/``invalidate_result`` hook) with three more class attributes that the
pre-scan (``prescan.py``) reads:

- ``TRIGGER``: a regex that matches somewhere inside (or right at) every match of the
  recognizer: a necessary condition, never a sufficient one. ``None`` means "no cheap
  trigger": the recognizer runs over the whole text (custom patterns, deny-lists, NER).
- ``REACH_BEFORE`` / ``REACH_AFTER``: how far a match may extend before the trigger's start
  and after the trigger's end, in characters. The pre-scan runs the recognizer on that
  window, widened to whitespace so that no window edge cuts a token in two; for entities
  without whitespace (keys, addresses) both are 0 and the window is the token itself.
- ``TRIGGER_LITERALS``: instead of ``TRIGGER``, literal strings found with ``str.find``;
  for a recognizer with many prefixes (an alternation of literals makes the ``re`` module
  try nearly every position).
- ``TRIGGER_LOWER``: the trigger is matched against the text in lower case (one
  ``str.lower()`` per text is far cheaper than a case-insensitive alternation).
- ``PRIORITY``: overlapping findings of different types are resolved by priority first
  (secrets beat personal data: a password inside ``user:pass@host.example`` is reported as
  a password, not as the e-mail address the PII pattern sees), then score, then length.

Secret recognizers match case-sensitively (key prefixes are case-sensitive); Presidio's
own default is case-insensitive.
"""

from __future__ import annotations

from typing import ClassVar

import regex
from presidio_analyzer import Pattern, PatternRecognizer

#: Flags for case-sensitive recognizers (Presidio's default adds IGNORECASE).
CASE_SENSITIVE = regex.DOTALL | regex.MULTILINE

PRIORITY_SECRET = 2
PRIORITY_PII = 1
#: A NER model's guess (names, places): never overrides a pattern finding.
PRIORITY_NER = 0
PRIORITY_CUSTOM = 3


class Triggered:
    """Mixin with the pre-scan attributes (see the module docstring)."""

    TRIGGER: ClassVar[str | None] = None
    TRIGGER_LITERALS: ClassVar[tuple[str, ...]] = ()
    REACH_BEFORE: ClassVar[int] = 0
    REACH_AFTER: ClassVar[int] = 0
    TRIGGER_LOWER: ClassVar[bool] = False
    PRIORITY: ClassVar[int] = PRIORITY_PII


class SecretRecognizer(Triggered, PatternRecognizer):
    """A case-sensitive pattern recognizer for one kind of credential."""

    ENTITY: ClassVar[str] = ""
    PATTERNS: ClassVar[list[Pattern]] = []
    CONTEXT: ClassVar[list[str]] = []
    PRIORITY = PRIORITY_SECRET

    def __init__(
        self,
        patterns: list[Pattern] | None = None,
        context: list[str] | None = None,
        supported_language: str = "en",
    ) -> None:
        super().__init__(
            supported_entity=self.ENTITY,
            name=type(self).__name__,
            supported_language=supported_language,
            # copies: Presidio caches the compiled regex on the Pattern object
            patterns=[Pattern(p.name, p.regex, p.score) for p in (patterns or self.PATTERNS)],
            context=list(context or self.CONTEXT),
            global_regex_flags=CASE_SENSITIVE,
        )


def find_all(
    text: str, literals: tuple[str, ...], lo: int = 0, hi: int | None = None
) -> list[tuple[int, int]]:
    """Every occurrence of each literal in ``text[lo:hi]``, in text order."""
    hi = len(text) if hi is None else hi
    hits: list[tuple[int, int]] = []
    for literal in literals:
        start = text.find(literal, lo, hi)
        while start >= 0:
            hits.append((start, start + len(literal)))
            start = text.find(literal, start + 1, hi)
    hits.sort()
    return hits


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def lower(text: str) -> str:
    """``text`` in lower case with every character at its place (``str.lower`` turns a
    few characters into two, "İ" for one; then only ASCII letters are lowered)."""
    lowered = text.lower()
    return lowered if len(lowered) == len(text) else text.translate(_ASCII_LOWER)
