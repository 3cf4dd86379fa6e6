"""When the NER model runs, and on which words: windows of a prompt's prose around the
words that can be part of a name, all of a prompt's windows in one ``nlp.pipe`` batch,
and the model's answers kept per window so that a conversation re-sent whole at every
turn (as chat clients do) costs the model only its new text.

Why windows: the model's time is its token-to-vector layers (thinc's maxout and layer
norm: four convolutions of one token each side) and its transition steps, both in
proportion to the tokens it reads, plus about 1.4 ms a call. What it says about a word
depends mostly on the few words around it, so it reads only the words near one that can
be part of a name: a capital letter, no digits or ``@_/=``, not ``I``, at the start of a
sentence not a common word (``The``, ``Can``, ``Please``); with only PERSON wanted, not
all capitals and not a place name (``Switzerland``). The capitalised run the word is in
(``Anthony van den Oord``) and ``MARGIN`` words each side on its line go with it. A text
with no such word is never read (``can you make this shorter?``); one whose windows would leave out
less than half its words is read whole, as written. Measured on ``bench/dlp/names.py``
(seeds 42 and 7): about two thirds of the characters of dense prose read, the same
PERSON recall as reading it all and slightly higher precision (spans such as
``ex-Zombie Silva`` come out as ``Silva``).

Which runs: with only PERSON wanted, the caller's ``needed`` test says which capitalised
runs the model's answer can change (``NameFinder._needs_model``: not a lone word no list
calls a name, whose PERSON ``_person`` refuses anyway, nor a lone listed name that is no
place name, nor a listed given name before another capitalised word, which the gazetteer
takes whatever the model says). A run is asked about with a capitalised word either side
(``ex-Zombie Wiik``: the model's span can take it in). On ``bench/dlp/names.py`` (seed
42) the model then reads ~40 characters a sentence instead of ~80, with the same names
found on seeds 42, 7 and 3.

The cache holds keyed digests (BLAKE2b under a random key of the process, with the
caller's scope) and the entities' labels and offsets, never text; it is bounded by an
estimate of its bytes and forgets the least recently used windows first. The scope (the
person the scan is for) keeps one person's history from answering for another's: a hit
is faster than a miss, and across people that difference would tell whether someone else
sent a sentence. Scans with no scope (files, WebSocket turns, benchmarks) neither read
nor fill it.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

#: A spaCy label and the entity's span, in characters, relative to the text it was found in.
type Entity = tuple[str, int, int]

#: Words read each side of a word that can be part of a name (and its capitalised run):
#: the model's token vectors see four tokens each side. Two read about a fifth less and
#: lost one name of 595 on ``bench/dlp/names.py`` (seed 42) to the shorter context; three
#: lost ``This song by ex-Zombie Wiik is …`` (an ORG at three, a PERSON at four).
MARGIN = 4
#: Share of a text's words the windows must leave out for cutting to be worth it; above
#: it the model reads the text whole, as it was written.
WHOLE = 0.5
#: Bytes the cache may hold by its own estimate (``_ENTRY_BYTES``, ``_ENTITY_BYTES``):
#: about 50,000 windows without entities, per scanner.
CACHE_BYTES = 8 * 1024 * 1024
_ENTRY_BYTES = 160  # the digest (bytes object), the OrderedDict slot, the tuple
_ENTITY_BYTES = 120  # a (label, start, end) tuple; labels are interned by spaCy

_WORD = re.compile(r"\S+")
_SENTENCE_END = ".!?:;\u2026"
_OPENERS = "\"'([{\u201c\u2018\u00ab*-"
_CLOSERS = ".,!?:;\"')]}\u2019\u201d\u00bb*"
#: Characters no word of a name holds (``TomaszJablonski@gustr.com``, ``GB34QIRA…``).
_NOT_IN_A_NAME = re.compile(r"[\d@_/=<>{}\[\]|\\#$%+]")
_PARTICLES = frozenset(
    {"van", "von", "de", "da", "del", "della", "di", "du", "der", "den", "la", "le", "dos"}
    | {"das", "bin", "al", "ter", "ten", "y", "e"}
)
_PRONOUN_I = frozenset(("i", "i'm", "i'd", "i'll", "i've", "i\u2019m", "i\u2019d", "i\u2019ll"))


@dataclass(frozen=True, slots=True)
class Window:
    """``text`` starts at ``start`` in the text it was cut from."""

    start: int
    text: str


def _common_words() -> frozenset[str]:
    from spacy.lang.en.stop_words import STOP_WORDS

    extra = (
        "can could would should please thanks thank hi hello hey dear yes no ok okay sure "
        "write rewrite summarize summarise translate explain list give tell show make help "
        "find draft create add fix check"
    )
    return frozenset(STOP_WORDS) | frozenset(extra.split())


class WindowCutter:
    """Cuts the lines of a text into the windows the model reads."""

    def __init__(
        self,
        margin: int | tuple[int, int] = MARGIN,
        people_only: bool = False,
        places: frozenset[str] = frozenset(),
        needed: Callable[[Sequence[str]], bool] | None = None,
    ) -> None:
        self.before, self.after = (margin, margin) if isinstance(margin, int) else margin
        self.needed = needed
        self.people_only = people_only
        self.whole = WHOLE
        self.places = places if people_only else frozenset()
        self.common = _common_words()

    def windows(self, text: str, start: int = 0) -> list[Window]:
        """The windows of ``text`` (offsets from ``start``), in text order: each word that
        can be part of a name, the capitalised run it is in (``Anthony van den Oord``),
        and ``margin`` words each side, within its line. Line by line, so a line's windows
        are the same whatever comes before or after it (a re-sent chat hits the cache).
        Linear in the length of ``text``."""
        out: list[Window] = []
        pos = start
        for line in text.splitlines(keepends=True):
            out.extend(self._line(line, pos))
            pos += len(line)
        return out

    def _line(self, text: str, start: int) -> list[Window]:
        """The windows of one line (no line break but at its end). Only the words with
        a capital letter are looked at one by one; the words' offsets are found only
        for a line that is cut."""
        words = text.split()  # the same words as ``_WORD`` finds: both split on isspace
        n = len(words)
        spans: list[list[int]] = []
        run_end = -1  # the last word of the last run found: no word is walked twice
        for i in [i for i, word in enumerate(words) if word != word.lower()]:
            if i <= run_end or not self._can_be_named(
                words[i], i == 0 or _ends_sentence(words[i - 1])
            ):
                continue
            lo = hi = i
            while lo > run_end + 1 and self._in_run(words[lo - 1]):
                lo -= 1
            while hi < n - 1 and self._in_run(words[hi + 1]):
                hi += 1
            run_end = hi
            if self.needed is None or self.needed(self._asked(words, lo, hi)):
                lo, hi = max(0, lo - self.before), min(n - 1, hi + self.after)
                if spans and lo <= spans[-1][1] + 1:
                    spans[-1][1] = max(hi, spans[-1][1])
                else:
                    spans.append([lo, hi])
        if not spans:
            return []
        if sum(hi - lo + 1 for lo, hi in spans) >= self.whole * n:
            return [Window(start, text)]
        offsets = [(m.start(), m.end()) for m in _WORD.finditer(text)]
        return [
            Window(start + offsets[lo][0], text[offsets[lo][0] : offsets[hi][1]])
            for lo, hi in spans
        ]

    @staticmethod
    def _asked(words: list[str], lo: int, hi: int) -> list[str]:
        """The words of the run ``lo``-``hi`` for ``needed``, with the word either side
        when it holds a capital letter: the model's span can take it in (``ex-Zombie
        Wiik``, ``o'Neil``), which makes a lone word part of a longer name."""
        if lo > 0 and _capital(words[lo - 1]):
            lo -= 1
        if hi < len(words) - 1 and _capital(words[hi + 1]):
            hi += 1
        return words[lo : hi + 1]

    @staticmethod
    def _in_run(word: str) -> bool:
        """Whether ``word`` continues the capitalised run beside it (on its line)."""
        bare = word.lstrip(_OPENERS)
        return bool(bare) and (bare[0].isupper() or bare.rstrip(_CLOSERS) in _PARTICLES)

    def _can_be_named(self, word: str, initial: bool) -> bool:
        bare = word.lstrip(_OPENERS).rstrip(_CLOSERS)
        if not bare or bare == bare.lower() or _NOT_IN_A_NAME.search(bare):
            return False
        if self.people_only and not (bare[0].isupper() and bare != bare.upper()):
            return False  # a name that is a person's is capitalised, not all capitals
        if bare in self.places:
            return False  # ``Who's coming to Switzerland?``: a place is no name
        head = bare.lower()
        if head in _PRONOUN_I:
            return False
        return not initial or (head not in self.common and head.split("'")[0] not in self.common)


def _capital(word: str) -> bool:
    return word != word.lower()


def _ends_sentence(word: str) -> bool:
    """Whether the word after ``word`` starts a sentence (``done.``, ``"Really?"``)."""
    return word[-1] in _SENTENCE_END or (
        word[-1] in "\"')\u201d" and len(word) > 1 and word[-2] in _SENTENCE_END
    )


class WholeText:
    """The cutter that reads every prose text whole: how the model ran before windows,
    kept for ``bench/dlp/names.py`` to compare on the same corpus in the same run."""

    def windows(self, text: str, start: int = 0) -> list[Window]:
        return [Window(start, text)] if text.strip() else []


class EntityCache:
    """The model's entities per window text, for one scope at a time, bounded by bytes."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._key = os.urandom(16)
        self._entries: OrderedDict[bytes, tuple[Entity, ...]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def digest(self, scope: str, text: str) -> bytes:
        h = hashlib.blake2b(key=self._key, digest_size=16)
        h.update(scope.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
        h.update(text.encode("utf-8", "surrogatepass"))
        return h.digest()

    def get(self, key: bytes) -> tuple[Entity, ...] | None:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: bytes, entities: tuple[Entity, ...]) -> None:
        if key in self._entries:
            return
        cost = _cost(entities)
        if cost > self.max_bytes:
            return
        self._entries[key] = entities
        self.bytes += cost
        while self.bytes > self.max_bytes:
            _, old = self._entries.popitem(last=False)
            self.bytes -= _cost(old)


def _cost(entities: tuple[Entity, ...]) -> int:
    return _ENTRY_BYTES + _ENTITY_BYTES * len(entities)


class ModelRunner:
    """Runs a spaCy pipeline over the windows of texts, one batch per call, through the
    cache. Not thread-safe (neither is the pipeline)."""

    def __init__(
        self,
        nlp: Any,  # a spaCy ``Language`` (spaCy is imported only where NER runs)
        *,
        people_only: bool = False,
        places: frozenset[str] = frozenset(),
        margin: int | tuple[int, int] = MARGIN,
        cache_bytes: int = CACHE_BYTES,
        needed: Callable[[Sequence[str]], bool] | None = None,
    ) -> None:
        self.nlp = nlp
        self.cutter: WindowCutter | WholeText = WindowCutter(
            margin, people_only, places, needed if people_only else None
        )
        self.cache = EntityCache(cache_bytes)
        self.read = 0  # characters the model read, for tests and benchmarks

    def entities(self, texts: Sequence[str], scope: str | None = None) -> list[list[Entity]]:
        """The model's entities in each of ``texts`` (offsets into that text), the cached
        answers of ``scope`` reused and the new ones kept (``None``: no cache)."""
        cache = self.cache if scope is not None else None
        # without a cache a window's own text is its key (no digest to compute)
        cut: list[list[tuple[Window, bytes | str]]] = [
            [
                (w, w.text if scope is None else self.cache.digest(scope, w.text))
                for w in self.cutter.windows(t)
            ]
            for t in texts
        ]
        answers: dict[bytes | str, tuple[Entity, ...]] = {}
        missing: dict[bytes | str, str] = {}
        for windows in cut:
            for w, key in windows:
                if key in answers or key in missing:
                    continue
                found = cache.get(key) if cache is not None and isinstance(key, bytes) else None
                if found is None:
                    missing[key] = w.text
                else:
                    answers[key] = found
        if missing:
            for key, doc in zip(missing, self.nlp.pipe(iter(missing.values())), strict=True):
                ents = tuple((e.label_, e.start_char, e.end_char) for e in doc.ents)
                answers[key] = ents
                if cache is not None and isinstance(key, bytes):
                    cache.put(key, ents)
                self.read += len(doc.text)
        return [
            [
                (label, w.start + a, w.start + b)
                for w, key in windows
                for label, a, b in answers[key]
            ]
            for windows in cut
        ]
