"""Case-insensitive glob matchers (``*``, ``?``, ``[...]``) compiled once for the hot path.

Most patterns in a policy are an exact name or a ``prefix*``; those become a string
comparison or ``str.startswith`` rather than a regular expression. Matchers take the
subject already lower-cased, so a decision lowers each fact once, not once per rule.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable

Matcher = Callable[[str], bool]

_WILD = frozenset("*?[")


def is_glob(pattern: str) -> bool:
    return any(c in _WILD for c in pattern)


def compile_globs(patterns: Iterable[str]) -> Matcher:
    """One predicate that is true when any of ``patterns`` matches."""
    pats = tuple(dict.fromkeys(p.lower() for p in patterns))
    exact = frozenset(p for p in pats if not is_glob(p))
    if "*" in pats:
        return _anything
    prefixes = tuple(p[:-1] for p in pats if p.endswith("*") and not is_glob(p[:-1]))
    rest = [p for p in pats if is_glob(p) and not (p.endswith("*") and not is_glob(p[:-1]))]
    regex = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in rest)) if rest else None
    if not prefixes and regex is None:
        return exact.__contains__

    def match(s: str) -> bool:
        return s in exact or s.startswith(prefixes) or (regex is not None and bool(regex.match(s)))

    return match


def _anything(_: str) -> bool:
    return True


def literal_prefix(pattern: str) -> str:
    """The part of ``pattern`` before its first wildcard, lower-cased."""
    p = pattern.lower()
    for i, c in enumerate(p):
        if c in _WILD:
            return p[:i]
    return p


def globs_overlap(a: str, b: str) -> bool:
    """Whether two patterns plausibly name a common string (a heuristic, for lint only).

    True when either pattern matches the other's literal text (wildcards read as empty).
    """
    a_l, b_l = a.lower(), b.lower()
    sample_a = a_l.replace("*", "").replace("?", "x")
    sample_b = b_l.replace("*", "").replace("?", "x")
    return (
        fnmatch.fnmatchcase(sample_a, b_l)
        or fnmatch.fnmatchcase(sample_b, a_l)
        or fnmatch.fnmatchcase(literal_prefix(a_l), b_l)
        or fnmatch.fnmatchcase(literal_prefix(b_l), a_l)
    )


def glob_covers(general: str, specific: str) -> bool:
    """Whether every string ``specific`` matches is matched by ``general`` (conservative).

    Exact for a literal ``specific``; for a pattern, true only when ``general`` is ``*``,
    equal, or a ``prefix*`` whose prefix starts ``specific``'s literal part.
    """
    g, s = general.lower(), specific.lower()
    if g == s or g == "*":
        return True
    if not is_glob(s):
        return fnmatch.fnmatchcase(s, g)
    head = g[:-1]
    return g.endswith("*") and not is_glob(head) and literal_prefix(s).startswith(head)
