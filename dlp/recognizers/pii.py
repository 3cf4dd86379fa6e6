"""Personal data recognizers: Presidio's own (e-mail, card with Luhn, IBAN with its
checksum, IP address, US SSN, phone numbers) with the pre-scan's triggers added, and a
faster phone recognizer.

Differences from Presidio's defaults, each on purpose:

- US SSN runs only Presidio's "medium" pattern (``123-45-6789``, score 0.5). The four
  "very weak" ones (any 9-digit number, 0.05) are below every useful threshold and would
  only cost time.
- Phone numbers are looked for in Presidio's default regions plus the profile's own,
  only where at least ``MIN_PHONE_DIGITS`` digits stand close together, and each candidate
  is handed to python-phonenumbers in a small window instead of the whole text per region
  (the whole-text matcher is most of stock Presidio's time). Matching is the same
  ``PhoneNumberMatcher`` with the same leniency, so findings are too, except on dates and
  times: ``2017-10-07 21`` is a timestamp, never a phone number.
- E-mail addresses: Presidio's local part admits ``?``, ``=``, ``&`` and ``/``, so in a
  URL query (``?email=a@b.de``) its match starts before the ``?`` and then fails its own
  domain check. Here the local part stops at those, and the domain alone is checked.
- Cards: 12 to 19 digits (Maestro 12-19, Amex 15 in 4-6-5 groups, Visa/UnionPay 19),
  Luhn-checked; Presidio's pattern covers 13-17.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence

import phonenumbers
from presidio_analyzer import EntityRecognizer, Pattern, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    UsSsnRecognizer,
)

from .base import PRIORITY_PII, Triggered

#: Presidio's ``PhoneRecognizer.DEFAULT_SUPPORTED_REGIONS``: always searched, so that
#: recall is never below stock Presidio's; a profile's ``phone_regions`` add to them.
#: (CA is left out: it shares the North American plan with US, which finds its numbers.)
BASE_PHONE_REGIONS = ("US", "GB", "DE", "FR", "IL", "IN", "BR")


@functools.lru_cache(maxsize=512)
def _min_length(region: str) -> int:
    """The fewest digits a valid national number of ``region`` has: a cluster with fewer
    cannot hold one, and the matcher need not parse it for that region."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    desc = metadata.general_desc if metadata is not None else None
    lengths = desc.possible_length if desc is not None else ()
    return min((n for n in lengths if n > 0), default=1)


@functools.lru_cache(maxsize=512)
def _max_length(region: str) -> int:
    """The most digits a valid national number of ``region`` has (a cluster may hold two
    more: a trunk prefix and a digit the matcher leaves out)."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    desc = metadata.general_desc if metadata is not None else None
    lengths = desc.possible_length if desc is not None else ()
    return max((n for n in lengths if n > 0), default=_MAX_PHONE_DIGITS)


#: Phone numbers with fewer digits are not looked for: in the supported regions the valid
#: ones are short service numbers, and every year or port number would be a candidate.
MIN_PHONE_DIGITS = 7


class EmailAddressRecognizer(Triggered, EmailRecognizer):
    """Presidio's e-mail recognizer with a local part that stops at URL query characters
    (see the module doc), and the TLD check on the domain only."""

    PATTERN = (
        "Email (local part without ?=&/)",
        r"(?<![A-Za-z0-9!#$%'*+\-^_`{|}~.])[A-Za-z0-9!#$%'*+\-^_`{|}~]"
        r"(?:[A-Za-z0-9!#$%'*+\-^_`{|}~.]{0,62}[A-Za-z0-9!#$%'*+\-^_`{|}~])?"
        r"@\w+(?:-+\w+)*(?:\.\w+(?:-+\w+)*)+\b",
        0.5,
    )
    TRIGGER = r"@"  # an address has no whitespace: the window is the token around "@"
    PRIORITY = PRIORITY_PII

    def __init__(self) -> None:
        super().__init__(patterns=[Pattern(*self.PATTERN)])

    def validate_result(self, pattern_text: str) -> bool:
        return bool(super().validate_result(pattern_text.rsplit("@", 1)[1]))


class CardNumberRecognizer(Triggered, CreditCardRecognizer):
    """Presidio's card pattern and Luhn check, with Mastercard's 2-series (2221-2720,
    issued since 2017) and JCB's 15-digit 2131 added, and the lengths Presidio misses:
    Maestro's 12 digits (5018, 5020, 5038, 56-69…), Amex's 15 in 4-6-5 groups, and 18-19
    digits (Visa, Maestro, UnionPay, Mir). Every match holds four digits, maybe one
    separator, and three more."""

    PATTERN = (
        "All Credit Cards (weak)",
        # not a group of a longer hyphenated token (UUIDs: d7b0d0e2-6231-4240-8243-c4c1…)
        r"(?<![0-9A-Za-z]-)\b(?!1\d{12}(?!\d))(?:"
        # 13-17 digits: Presidio's pattern (plus the 2-series)
        r"(?:4\d{3}|5[0-5]\d{2}|2[2-7]\d{2}|2131|6\d{3}|1\d{3}|3\d{3})"
        r"[- ]?\d{3,4}[- ]?\d{3,4}[- ]?\d{3,5}"
        # Amex 4-6-5
        r"|3[47]\d{2}[- ]?\d{6}[- ]?\d{5}"
        # 18-19 digits: 4-4-4-4-2/3 or unbroken
        r"|(?:4\d{3}|5[0678]\d{2}|6\d{3}|220\d)(?:[- ]?\d{4}){3}[- ]?\d{2,3}"
        # Maestro 12 digits
        r"|(?:50[123]\d|5[6-8]\d{2}|6\d{3})[- ]?\d{4}[- ]?\d{4}"
        r")\b(?![- ]?\d)(?!-[0-9A-Za-z])",
        0.3,
    )
    TRIGGER = r"\d{4}[- ]?\d{3}"
    REACH_BEFORE = 12
    REACH_AFTER = 20

    def __init__(self) -> None:
        super().__init__(patterns=[Pattern(*self.PATTERN)])


class IbanCodeRecognizer(Triggered, IbanRecognizer):
    """Presidio's IBAN pattern (upper case, optional space/dash groups) and mod-97 check."""

    TRIGGER = r"[A-Z]{2}\d\d"
    REACH_AFTER = 48


class IpAddressRecognizer(Triggered, IpRecognizer):
    """Presidio's IPv4/IPv6 patterns. An IPv4 address holds ``.d.``, an IPv6 one ``::`` or
    ``:h:``; neither holds whitespace, so the window is the token around the trigger."""

    TRIGGER = r"\.\d{1,3}\.|:[0-9A-Fa-f]{0,4}:"


class SsnRecognizer(Triggered, UsSsnRecognizer):
    """Presidio's SSN recognizer with its medium pattern only (see the module doc)."""

    MEDIUM = ("SSN5 (medium)", r"\b([0-9]{3})[- .]([0-9]{2})[- .]([0-9]{4})\b", 0.5)
    TRIGGER = r"\d{3}[- .]\d{2}[- .]\d{4}"
    REACH_BEFORE = 2
    REACH_AFTER = 2

    def __init__(self) -> None:
        super().__init__(patterns=[Pattern(*self.MEDIUM)])


#: A digit cluster: digits joined by at most two separators, maybe a leading "+" or "(",
#: maybe an extension. Not after a letter, digit or "+" (no cluster starts mid-word).
_CLUSTER = re.compile(
    r"(?<![\w+])\+?\(?\d(?:[ \-.()/]{0,2}\d)*(?:[ ]?(?:x|ext\.?|#)[ ]?\d{1,6}(?!\d))?"
)
#: Shapes that are never phone numbers: dates and dotted quads (IPv4 addresses).
_NOT_A_PHONE = re.compile(
    r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d{1,3}(?:\.\d{1,3}){3}"
)
#: A date inside a cluster (``2017-10-07 21`` before ``:30``, ``07.10.2017 21``): the
#: cluster is a timestamp, and its digits are not a phone number.
_DATE = re.compile(
    r"(?<!\d)(?:(?:19|20)\d{2}[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])"
    r"|(?:0?[1-9]|[12]\d|3[01])[-/.](?:0?[1-9]|1[0-2])[-/.](?:19|20)\d{2}"
    r"|(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])/(?:19|20)\d{2})(?!\d)"
)
_MAX_PHONE_DIGITS = 20
#: A number named as a phone number by its context (``_by_context``): at most E.164's 15
#: digits, in groups (``468 3505``, ``42-51-49-67``, ``+41 (0)43 363 95 32``), or after a
#: ``+``; a run of digits with no separator is an id or a card as often as a phone.
_MAX_CONTEXT_DIGITS = 15
_GROUPED = re.compile(
    r"\+\(?\d[\d ()\-.]*"
    r"|\(?\d{1,6}\)?(?:[ \-.]{1,2}\(?\d{1,6}\)?)+(?:[ ]?(?:x|ext\.?|#)[ ]?\d{1,6})?"
)
#: Words before a number that name it a phone number (within ``_CONTEXT_BEFORE``).
_PHONE_WORD = re.compile(
    r"\b(?:call(?:ed|ing)?|phone|tel|telephone|mobile|cell(?:phone)?|fax|reach(?:ed)?|"
    r"dial|sms|text(?:ed)? me|whats ?app|landline|hotline|mob|ph|telefon|handy|"
    r"t[ée]l[ée]phone|portable|messages? to|registered|desk|answering)\b[^\d\n]{0,24}$"
)
#: Labels right after a number that name it a phone number (``… office``, ``-Fax``).
_PHONE_LABEL = re.compile(r"[ \-]{0,2}\(?(?:office|fax|mobile|cell|home|work|tel|phone)\b")
_CONTEXT_BEFORE = 48
_CONTEXT_AFTER = 12


class RegionalPhoneRecognizer(Triggered, PhoneRecognizer):
    """python-phonenumbers' matcher for the profile's regions, run on digit clusters.

    Presidio's recognizer runs the matcher over the whole text once per region; the
    matcher then parses every digit group it meets (timestamps, ids, durations) and tries
    inner matches of each. This one finds digit clusters with one regex and hands the
    matcher only the clusters that can hold a number: at least ``MIN_PHONE_DIGITS``
    digits, not glued to a letter after it (``2180ms``, ``2026-11-03T…``: the matcher
    rejects those too) nor joined by a hyphen or dot to the rest of a token (the groups
    of a UUID), not a date or a dotted quad. Each cluster is matched in a window
    of itself and one character on each side, so the matcher's own checks of the
    neighbouring characters still apply. Results are cached per window and region:
    a conversation re-sends its history with every turn.

    There is no pre-scan trigger: ``analyze`` is its own pre-scan.
    """

    TRIGGER = None
    PRIORITY = PRIORITY_PII

    def __init__(self, regions: Sequence[str], leniency: int = 1) -> None:
        # the profile's regions first (an international number is parsed in the first)
        self._own = len(dict.fromkeys(regions))
        regions = tuple(dict.fromkeys((*regions, *BASE_PHONE_REGIONS)))
        super().__init__(supported_regions=regions, leniency=leniency)
        self._name = type(self).__name__
        self._regions: tuple[str, ...] = regions
        self._leniency = leniency

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
    ) -> list[RecognizerResult]:
        results: list[RecognizerResult] = []
        for m in _CLUSTER.finditer(text):
            start, end = m.span()
            cluster = m.group()
            digits = sum(map(str.isdigit, cluster))
            if digits < MIN_PHONE_DIGITS or digits > _MAX_PHONE_DIGITS:
                continue
            if _glued(text, start, end):
                continue
            if _NOT_A_PHONE.fullmatch(cluster) or _DATE.search(cluster):
                continue
            lo = max(0, start - 1)
            window = text[lo : end + 1]
            # "+…" numbers parse the same in every region
            regions = self._regions[:1] if cluster.startswith("+") else self._regions
            found_here = False
            if self._by_context(text, start, end, cluster, digits):
                found_here = True
                results.append(self._result(start, end))
                continue
            for i, region in enumerate(regions):
                if i >= self._own and found_here:
                    break  # Presidio's extra regions only where the profile's found nothing
                if not cluster.startswith("+") and (
                    digits < _min_length(region)
                    or (i >= self._own and digits > _max_length(region) + 2)
                ):
                    continue  # too few (or, for an extra region, too many) digits for it
                for m_start, m_end in _matches(window, region, self._leniency):
                    found_here = True
                    results.append(self._result(lo + m_start, lo + m_end))
        return list(EntityRecognizer.remove_duplicates(results))

    def _result(self, start: int, end: int) -> RecognizerResult:
        return RecognizerResult(
            entity_type=self.supported_entities[0],
            start=start,
            end=end,
            score=self.SCORE,
            recognition_metadata={
                RecognizerResult.RECOGNIZER_NAME_KEY: self._name,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
            },
        )

    @staticmethod
    def _by_context(text: str, start: int, end: int, cluster: str, digits: int) -> bool:
        """A number the regions' rules do not know, that reads as a phone number anyway:
        grouped like one (separators between groups, or a leading ``+``) and named as one
        by the words around it (``call me at``, ``Phone:``, ``… office``, ``-Fax``).
        python-phonenumbers rejects numbers of regions outside the profile's and numbers
        whose area code it does not know, which people still write and mean."""
        if digits > _MAX_CONTEXT_DIGITS or not _GROUPED.fullmatch(cluster.strip()):
            return False
        before = text[max(0, start - _CONTEXT_BEFORE) : start].lower()
        after = text[end : end + _CONTEXT_AFTER].lower()
        return _PHONE_WORD.search(before) is not None or _PHONE_LABEL.match(after) is not None


def _glued(text: str, start: int, end: int) -> bool:
    """The cluster is part of a longer token: a letter right after it (``301ms``), or a
    hyphen or dot joining it to digits or to a hex group (UUIDs, hex ids, versions). A
    hyphen before a word (``0731 40 44 23-Office``, ``-Fax``) does not glue: a label."""
    n = len(text)
    if end < n and text[end].isalpha():
        return True
    if end + 1 < n and text[end] in "-." and text[end + 1].isalnum():
        if text[end] == "." or text[end + 1].isdigit():
            return True
        tail = _TOKEN.match(text, end + 1)
        return tail is not None and _HEX_GROUP.fullmatch(tail.group()) is not None
    return start >= 2 and text[start - 1] in "-." and text[start - 2].isalnum()


_TOKEN = re.compile(r"[A-Za-z0-9]{1,64}")
_HEX_GROUP = re.compile(r"[0-9A-Fa-f]{4,}")


@functools.lru_cache(maxsize=8192)
def _matches(window: str, region: str, leniency: int) -> tuple[tuple[int, int], ...]:
    return tuple(
        (m.start, m.end) for m in phonenumbers.PhoneNumberMatcher(window, region, leniency=leniency)
    )


_SPACE = (" ", "\n", "\t")


def widen(text: str, lo: int, hi: int) -> tuple[int, int]:
    """``[lo, hi)`` clipped to the text and widened to the whitespace around it, so that a
    window never starts or ends inside a token."""
    lo = 0 if lo <= 0 else max(text.rfind(c, 0, lo) for c in _SPACE) + 1
    n = len(text)
    if hi >= n:
        return lo, n
    ends = [i for i in (text.find(c, hi) for c in _SPACE) if i >= 0]
    return lo, min(ends) if ends else n


#: The personal data recognizers that take no arguments (the phone one takes regions).
PII_RECOGNIZERS: dict[str, Callable[[], EntityRecognizer]] = {
    "EMAIL_ADDRESS": EmailAddressRecognizer,
    "CREDIT_CARD": CardNumberRecognizer,
    "IBAN_CODE": IbanCodeRecognizer,
    "IP_ADDRESS": IpAddressRecognizer,
    "US_SSN": SsnRecognizer,
}
