"""Redaction operators: what replaces a value (placeholder, mask, keyed hash, reversible
pseudonym) and the ``PseudonymVault`` that keeps a flow's pseudonyms.

- ``redact`` and ``pseudonymize`` write ``<ENTITY_TYPE_n>``, numbered per request by first
  appearance (``Numbering``): the same value gets the same number in every segment, so the
  model still sees that two messages talk about the same address.
- ``mask`` keeps separators and the configured first/last letters or digits
  (``**** **** **** 1111``).
- ``hash`` writes ``<ENTITY_TYPE:hmac:1a2b3c4d>``: HMAC-SHA256 under the tenant's key,
  truncated. Equal values give equal tags in every record; without the key a tag cannot
  be turned back into its value or tested against guesses.
- ``pseudonymize`` also keeps placeholder -> value in the flow's ``PseudonymVault`` so the
  answer can be restored. The vault lives in memory for one flow: it must never go into
  flow metadata, a log or the audit record, and its ``repr`` shows no value.

Values are compared in a canonical form (e-mail in lower case, numbers by their digits)
so ``4111 1111 1111 1111`` and ``4111-1111-1111-1111`` are one value.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Iterator

#: Any placeholder this module writes for redact/pseudonymize.
PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]*)_(\d+)>")

_DIGITS_ONLY = frozenset({"CREDIT_CARD", "PHONE_NUMBER", "US_SSN"})


def canonical(entity_type: str, value: str) -> str:
    """The form in which two values count as the same value."""
    if entity_type == "EMAIL_ADDRESS":
        return value.strip().lower()
    if entity_type in _DIGITS_ONLY:
        digits = "".join(c for c in value if c.isdigit())
        return ("+" + digits) if value.lstrip().startswith("+") else digits
    if entity_type == "IBAN_CODE":
        return "".join(c for c in value if c.isalnum()).upper()
    return value


class PseudonymVault:
    """Placeholder -> original value, for one flow. In memory only; see the module doc."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, str] | None = None) -> None:
        self._values: dict[str, str] = dict(values or {})

    def add(self, placeholder: str, value: str) -> None:
        self._values.setdefault(placeholder, value)

    def original(self, placeholder: str) -> str | None:
        return self._values.get(placeholder)

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(self._values)

    @property
    def longest(self) -> int:
        """Length of the longest placeholder (0 when empty)."""
        return max(map(len, self._values), default=0)

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __bool__(self) -> bool:
        return bool(self._values)

    def __repr__(self) -> str:
        return f"PseudonymVault({len(self._values)} values)"

    # pickling (the pool's workers hand vaults to the proxy process) keeps the values
    def __getstate__(self) -> dict[str, str]:
        return self._values

    def __setstate__(self, state: dict[str, str]) -> None:
        self._values = dict(state)


class Numbering:
    """Placeholder numbers of one request: per entity type, by first appearance of each
    canonical value. Numbers whose placeholder already stands in the request's text (a
    user pasting an earlier redacted answer) are skipped, so no placeholder means two
    things."""

    def __init__(self, texts: Iterable[str] = ()) -> None:
        self._numbers: dict[tuple[str, str], int] = {}
        self._next: dict[str, int] = {}
        self._taken: set[str] = set()
        for text in texts:
            if "<" in text:
                self._taken.update(m.group(0) for m in PLACEHOLDER.finditer(text))

    def placeholder(self, entity_type: str, value: str) -> str:
        key = (entity_type, canonical(entity_type, value))
        number = self._numbers.get(key)
        if number is None:
            number = self._next.get(entity_type, 1)
            while f"<{entity_type}_{number}>" in self._taken:
                number += 1
            self._next[entity_type] = number + 1
            self._numbers[key] = number
        return f"<{entity_type}_{number}>"


def mask(value: str, keep_first: int = 0, keep_last: int = 0, char: str = "*") -> str:
    """``value`` with its letters and digits replaced by ``char``, except the first
    ``keep_first`` and last ``keep_last`` of them; separators stay. Never keeps more than
    half of the letters and digits, so a short value is not left readable."""
    positions = [i for i, c in enumerate(value) if c.isalnum()]
    budget = len(positions) // 2
    keep_first = min(keep_first, budget)
    keep_last = min(keep_last, budget - keep_first)
    kept = set(positions[:keep_first]) | set(positions[len(positions) - keep_last :])
    return "".join(c if (i in kept or not c.isalnum()) else char for i, c in enumerate(value))


def hash_tag(entity_type: str, value: str, key: bytes, length: int = 8) -> str:
    """``<ENTITY_TYPE:hmac:…>`` with the first ``length`` hex digits of
    HMAC-SHA256(key, entity type NUL canonical value)."""
    message = f"{entity_type}\0{canonical(entity_type, value)}".encode()
    digest = hmac.new(key, message, hashlib.sha256).hexdigest()
    return f"<{entity_type}:hmac:{digest[:length]}>"
