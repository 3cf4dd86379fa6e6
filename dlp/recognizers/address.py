"""Street addresses: a house number beside a street name whose type word says it is one
(``221B Baker Street``, ``Hauptstraße 5``, ``12 rue de la Paix``, ``Via Roma 10``).

A NER model trained on news has no address label and tags parts of addresses as people
and places (``Langenhorner Chaussee``, ``Via Carlo Cattaneo``), so addresses get their own
recognizer: patterns built around the street-type words of the languages a European or
American company's prompts carry, each needing a house number, so ``Main Street`` alone or
``the way forward`` is not an address. The pre-scan triggers on the street-type word.

Shapes:

- number first: ``1600 Pennsylvania Avenue NW``, ``10 Downing St``, ``12 rue de la Paix``,
  with an optional unit (``Apt 4``, ``Suite 200``, ``#12``);
- a compound street word then the number: ``Hauptstraße 5``, ``Keizersgracht 123``,
  ``Storgatan 7``, ``Wilgenlaan 40``;
- a street-type word first, then the name and the number: ``Via Roma 10``,
  ``Calle de Alcalá 48``, ``Rua Augusta, 274``, ``Avenida Almirante Reis 12``.
"""

from __future__ import annotations

from typing import ClassVar

import regex
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from ..gazetteers import faker_strings
from .base import CASE_SENSITIVE, PRIORITY_PII, Triggered

ENTITY = "STREET_ADDRESS"

#: English street types (USPS Publication 28 suffixes and the UK's usual ones).
_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|"
    r"Square|Sq|Terrace|Ter|Way|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Trail|Trl|Crescent|"
    r"Close|Grove|Row|Walk|Alley|Plaza|Mews|Gardens|Gdns|Hill|Park|Point|Pike|Viaduct|"
    r"Manor|Manors|Brook|Chaussee|Chaussée)"
)
#: Street-type words that stand first in Romance languages (and Dutch/German compounds
#: that can also stand alone).
_PREFIX = (
    r"(?:[Rr]ue|[Aa]venue|[Bb]oulevard|[Bb]d|[Pp]lace|[Cc]hemin|[Aa]llée|[Ii]mpasse|[Qq]uai|"
    r"[Vv]ia|[Vv]iale|[Pp]iazza|[Cc]orso|[Ll]argo|[Vv]icolo|[Cc]alle|[Aa]venida|[Aa]vda\.?|"
    r"[Pp]laza|[Pp]aseo|[Cc]amino|[Cc]arrer|[Rr]ua|[Tt]ravessa|[Pp]raça|[Ee]strada|[Aa]l\.|"
    r"[Uu]lica|[Uu]l\.)"
)
#: Compound street words (German, Dutch, Scandinavian).
_COMPOUND = (
    r"(?:straße|strasse|str\.|gasse|weg|platz|allee|damm|ufer|chaussee|laan|straat|braut|"
    r"gracht|plein|kade|singel|gade|vej|veien|vegen|vägen|gatan|gata|gränd|katu)"
)
_CAP = r"[A-ZÀ-ÖØ-Þ][\w'\u2019.-]*"
_PARTICLE = r"(?:de|du|des|la|le|l'|del|della|dei|di|da|do|dos|das|d'|van|von|der|den|am|an)"
_NUMBER = r"\d{1,6}[A-Za-z]?(?:[-/]\d{1,4}[A-Za-z]?)?"
_UNIT = r"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Fl|Floor|#)\.?\s*[\w-]{1,6})?"

NUMBER_FIRST = (
    rf"(?<![\w.,-]){_NUMBER}(?:[ \t]+\d{{1,6}})?\s+(?:{_PARTICLE}\s+)?{_CAP}\s+"
    rf"(?:{_CAP}\s+|{_PARTICLE}\s+){{0,3}}"
    rf"{_SUFFIX}\b\.?"
    rf"(?:\s+(?:NW|NE|SW|SE|N|S|E|W)\b)?{_UNIT}"
)
NUMBER_FIRST_ROMANCE = (
    rf"(?<![\w.,-]){_NUMBER}(?:[ \t]+\d{{1,6}})?,?[ \t]+{_PREFIX}[ \t]+(?:{_PARTICLE}[ \t]*)*{_CAP}"
    rf"(?:[ \t]+(?:{_PARTICLE}[ \t]+)?{_CAP}){{0,3}}"
)
COMPOUND_FIRST = (
    rf"\b[A-ZÀ-ÖØ-Þ][\w-]*(?i:{_COMPOUND})\s+{_NUMBER}\b{_UNIT}"
    rf"|\b{_CAP}(?:\s+{_CAP}){{0,2}}\s+(?:Str\.|Straße|Strasse|Weg|Platz|Allee|Gasse|Damm)\s+"
    rf"{_NUMBER}\b{_UNIT}"
)
PREFIX_FIRST = (
    rf"\b{_PREFIX}[ \t]+(?:{_PARTICLE}[ \t]*)*{_CAP}(?:[ \t]+(?:{_PARTICLE}[ \t]+)?{_CAP}){{0,3}},?"
    rf"[ \t]+{_NUMBER}\b{_UNIT}"
)

#: After words that announce an address (``lives at``, ``address:``, ``ship to``): a name and
#: a number in any language's order (``Metsanurga 48``, ``307 Alvaro Cunqueiro 55``).
CUED = (
    r"(?<=(?i:\baddress(?:\s+is)?|\blives?\s+(?:at|on|in)|\bliving\s+at|\blocated\s+at|"
    r"\bship\s+to|\bdeliver\s+to)[:\s]\s{0,8})"
    rf"(?:{_NUMBER}\s+)?{_CAP}(?:\s+{_CAP}){{0,3}},?\s+{_NUMBER}\b(?![.,]\d){_UNIT}"
)

#: A name between two numbers, then a unit: ``511 Rebbåsbakken 48 Suite 372``.
NUMBERS_AND_UNIT = (
    rf"(?<![\w.,-]){_NUMBER}\s+{_CAP}(?:\s+{_CAP}){{0,2}}\s+{_NUMBER},?\s+"
    r"(?:Apt|Apartment|Suite|Ste|Unit)\.?\s*[\w-]{1,6}"
)


class StreetAddressRecognizer(Triggered, PatternRecognizer):
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern("address: number, name, street type", NUMBER_FIRST, 0.6),
        Pattern("address: number, rue/via/calle, name", NUMBER_FIRST_ROMANCE, 0.6),
        Pattern("address: compound street word, number", COMPOUND_FIRST, 0.6),
        Pattern("address: via/calle/rua, name, number", PREFIX_FIRST, 0.6),
        Pattern("address: after lives at / address: / ship to", CUED, 0.6),
        Pattern("address: number, name, number, unit", NUMBERS_AND_UNIT, 0.6),
    )
    TRIGGER = (
        r"\b(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|place|pl|"
        r"square|sq|terrace|ter|way|parkway|pkwy|highway|hwy|circle|cir|trail|trl|crescent|"
        r"close|grove|row|walk|alley|plaza|mews|gardens|gdns|hill|park|point|pike|viaduct|"
        r"manor|manors|brook|chaussee|chaussée|rue|bd|chemin|allée|impasse|quai|via|viale|"
        r"piazza|corso|largo|vicolo|calle|avenida|avda|paseo|camino|carrer|rua|travessa|praça|"
        r"estrada|al|ulica|ul|address|lives|live|living|located|ship|deliver|apt|apartment|suite|unit)\b|"
        r"(?:straße|strasse|str\.|gasse|weg|platz|allee|damm|ufer|braut|"
        r"laan|straat|gracht|plein|kade|singel|gade|vej|veien|vegen|vägen|gatan|gata|"
        r"gränd|katu)\s+\d"
    )
    TRIGGER_LOWER = True
    REACH_BEFORE = 80
    REACH_AFTER = 80
    PRIORITY = PRIORITY_PII

    def __init__(self) -> None:
        super().__init__(
            supported_entity=ENTITY,
            # copies: Presidio caches the compiled regex on the Pattern object
            patterns=[Pattern(p.name, p.regex, p.score) for p in self.PATTERNS],
            global_regex_flags=CASE_SENSITIVE,
        )


# -- the parts of an address that carry no street-type word (issue 20: 261 of 610 address
# values of Presidio's own generator reached the upstream through the demo profile) -------

_NAME_WORD = (
    r"[A-ZÀ-ÖØ-ÞĀ-Ž\u0386-\u038F\u0391-\u03AB][\w'\u2019.-]*[a-zß-ÿĀ-ɏ\u03AC-\u03CE][\w'\u2019.-]*"
)
#: Street-type words of the languages with a name first and the word after it, lower case
#: (Hungarian, Estonian, Norwegian, Finnish, Baltic, Slavic, Turkish, Greek).
_STREET_AFTER = (
    r"(?:út|utca|útja|u\.|tér|körút|köz|tee|maantee|põik|gate|gata|gaten|vei|veien|vegen|"
    r"tie|katu|kuja|iela|gatvė|prospektas|cesta|ulice|ulica|náměstí|nábřeží|třída|trg|"
    "sokak|soka\u011f\u0131|cadde|caddesi|bulvar\u0131|οδός|λεωφόρος)"
)
#: A word of a street name: capitalised, or a short particle or abbreviation (``do``,
#: ``ul.``, ``al.``, ``tee``).
_STREET_WORD = (
    rf"(?:{_NAME_WORD}|(?:de|do|da|del|la|di|du|der|van|von|ul\.|al\.|av\.|R\.)|{_STREET_AFTER})"
)
#: A house number that is not a year (``1006``, ``92046``; not ``2019``).
_HOUSE = r"(?!(?:19|20)\d\d(?!\d))\d{3,6}"

#: ``92046 Rúa do Paseo 11``, ``747 ul. Cicha 58``, ``406 Strojírenská 1006``: a house or
#: postal number, a street name, a number, at the end of the line or before a unit.
NUMBER_NAME_NUMBER = (
    rf"(?<![\w.,:/-]){_HOUSE}[ \t]+{_STREET_WORD}(?:[ \t]+{_STREET_WORD}){{0,3}}[ \t]+"
    rf"\d{{1,4}}[A-Za-z]?\.?(?![\w:/.-]\w)"
)
#: ``Rákóczi út 67.``, ``Luige tee 56``, ``Trenerys gate 232``: a name, a street word, a number.
NAME_STREET_NUMBER = (
    rf"\b{_NAME_WORD}(?:[ \t]+{_NAME_WORD}){{0,2}}[ \t]+{_STREET_AFTER}[ \t]+\d{{1,5}}[A-Za-z]?\.?"
    rf"(?![\w/-]\w)"
)
#: Units, boxes and military addresses (USPS Publication 28): ``Apt. 598``, ``Suite 853``,
#: ``P.O. Box 159``, ``PSC 0454, Box 9082``, ``Unit 3289 Box 2034``, ``APO AE 10008``,
#: ``USNV Batukayev``.
UNIT = (
    r"\b(?:Apt|Apartment|Suite|Ste)\.?[ \t]*#?\d{1,5}[A-Za-z]?\b"
    r"|\b(?:Unit|Flat|Room)[ \t]+\d{2,5}[A-Za-z]?\b"
)
BOX = (
    r"\bP\.?[ \t]?O\.?[ \t]+Box[ \t]+\d{1,6}\b"
    r"|\b(?:PSC|CMR|Unit)[ \t]+\d{3,4},?[ \t]+Box[ \t]+\d{3,4}\b"
    r"|\b(?:APO|FPO|DPO)[ \t]+(?:AA|AE|AP)[ \t]+\d{5}\b"
    rf"|\b(?:USNS|USNV|USS|USCGC)[ \t]+{_NAME_WORD}"
)
#: A US-style city, state and ZIP, maybe broken over lines: ``Highveld, GA 21513``.
#: A name, a house number, then the street type: ``Skogarlond 53 St.``, ``Velký průhon 426
#: street``, ``Κλεομένους 101 St.``.
NAME_NUMBER_STREET = (
    rf"\b{_NAME_WORD}(?:[ \t]+[^\W\d_][\w'.-]*){{0,2}}[ \t]+\d{{1,5}}[A-Za-z]?"
    rf"(?=[ \t]+(?:{_SUFFIX}|street|road|avenue|lane)\b)"
)
#: ``the corner of X St. and Y St.``: both streets, numbers or not.
CORNER = (
    rf"(?i:\bcorner of)[ \t]+[^\n]{{3,80}}?\b{_SUFFIX}\b\.?"
    rf"(?:[ \t]+and[ \t]+[^\n]{{3,80}}?\b{_SUFFIX}\b\.?)?"
)
CITY_STATE_ZIP = (
    rf"\b{_NAME_WORD}(?:[ \t]+{_NAME_WORD}){{0,3}}\s*,\s*[A-Z]{{2}}\s+\d{{5}}(?:-\d{{4}})?\b"
)


class AddressPartsRecognizer(Triggered, PatternRecognizer):
    """The parts of an address without a street-type word of the main recognizer: house
    numbers around a street name in the languages that put the number last, units,
    boxes, military addresses, and city-state-ZIP lines."""

    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern("address: number, street name, number", NUMBER_NAME_NUMBER, 0.6),
        Pattern("address: name, street word, number", NAME_STREET_NUMBER, 0.6),
        Pattern("address: unit", UNIT, 0.6),
        Pattern("address: box or military", BOX, 0.6),
        Pattern("address: city, state, ZIP", CITY_STATE_ZIP, 0.6),
        Pattern("address: name, number, street type", NAME_NUMBER_STREET, 0.6),
        Pattern("address: the corner of two streets", CORNER, 0.6),
    )
    # A number of three or more digits, or one of the words of a unit or a box.
    TRIGGER = (
        r"\d{3}|\b(?:apt|apartment|suite|ste|unit|flat|room|box|apo|fpo|dpo|usns|usnv|uss|"
        r"uscgc|corner)\b|\d (?:st|street|road|rd|avenue|ave|lane)\b|"
        rf"{_STREET_AFTER}[ \t]+\d"
    )
    TRIGGER_LOWER = True
    REACH_BEFORE = 80
    REACH_AFTER = 40
    PRIORITY = PRIORITY_PII

    def __init__(self) -> None:
        super().__init__(
            supported_entity=ENTITY,
            patterns=[Pattern(p.name, p.regex, p.score) for p in self.PATTERNS],
            global_regex_flags=CASE_SENSITIVE,
            name="AddressPartsRecognizer",
        )


def _country_names() -> frozenset[str]:
    """Country names in lower case, from Faker's address providers (English and the
    locales' own spellings), read once from the installed package."""
    import faker.providers.address as address

    return frozenset(n.lower() for n in faker_strings(address, ("countries",)) if len(n) < 48)


_POSTCODE = regex.compile(r"(?<![\w.,:/-])(?!(?:19|20)\d\d(?!\d))\d{4,6}(?![\w/-]\w|[.,]\d)")


_WORD = regex.compile(r"[^\W\d_][\w'.-]*")


class PostcodeRecognizer(Triggered, EntityRecognizer):
    """A postal code after its country (``Spain 35198``, ``United States 13954``,
    ``Czech Republic 36152``): the number is part of the address, and a year never is."""

    TRIGGER = r"\d{4}"
    REACH_BEFORE = 48
    REACH_AFTER = 8
    PRIORITY = PRIORITY_PII
    SCORE = 0.6

    def __init__(self) -> None:
        self._countries = _country_names()
        super().__init__(supported_entities=[ENTITY], name="PostcodeRecognizer")

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        out: list[RecognizerResult] = []
        for m in _POSTCODE.finditer(text):
            before = text[max(0, m.start() - 48) : m.start()].rstrip(" \t,").lower()
            words = _WORD.findall(before)[-4:]
            if not words or not before.endswith(words[-1]):
                continue
            for n in range(len(words), 0, -1):
                if " ".join(words[-n:]).strip(".,") in self._countries:
                    out.append(RecognizerResult(ENTITY, m.start(), m.end(), self.SCORE))
                    break
        return out
