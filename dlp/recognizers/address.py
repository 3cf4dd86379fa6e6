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

from presidio_analyzer import Pattern, PatternRecognizer

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
    r"[Vv]ia|[Vv]iale|[Pp]iazza|[Cc]orso|[Ll]argo|[Vv]icolo|[Cc]alle|[Aa]venida|[Aa]vda|"
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
    rf"(?<![\w.,-]){_NUMBER}\s+(?:{_PARTICLE}\s+)?{_CAP}\s+(?:{_CAP}\s+|{_PARTICLE}\s+){{0,3}}"
    rf"{_SUFFIX}\b\.?"
    rf"(?:\s+(?:NW|NE|SW|SE|N|S|E|W)\b)?{_UNIT}"
)
NUMBER_FIRST_ROMANCE = (
    rf"(?<![\w.,-]){_NUMBER},?\s+{_PREFIX}\s+(?:{_PARTICLE}\s*)*{_CAP}"
    rf"(?:\s+(?:{_PARTICLE}\s+)?{_CAP}){{0,3}}"
)
COMPOUND_FIRST = (
    rf"\b[A-ZÀ-ÖØ-Þ][\w-]*(?i:{_COMPOUND})\s+{_NUMBER}\b{_UNIT}"
    rf"|\b{_CAP}(?:\s+{_CAP}){{0,2}}\s+(?:Str\.|Straße|Strasse|Weg|Platz|Allee|Gasse|Damm)\s+"
    rf"{_NUMBER}\b{_UNIT}"
)
PREFIX_FIRST = (
    rf"\b{_PREFIX}\s+(?:{_PARTICLE}\s*)*{_CAP}(?:\s+(?:{_PARTICLE}\s+)?{_CAP}){{0,3}},?\s+"
    rf"{_NUMBER}\b{_UNIT}"
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
