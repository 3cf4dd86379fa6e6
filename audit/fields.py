"""Field validators of the audit record: types, sizes and allowed shapes, one function each.

Each takes the field's dotted name (for the error message) and the value, and returns
the value unchanged or raises `AuditRecordError`. They are strict on purpose: a record is
evidence, so a wrong type is a bug to surface, never something to coerce.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import re
from collections.abc import Collection, Mapping
from typing import Final

from .errors import AuditRecordError

#: Ints are kept within what IEEE doubles hold exactly, so a SIEM that parses the JSON
#: with doubles (JavaScript, many Java libraries) reads the same number we hashed.
MAX_SAFE_INT: Final = 2**53 - 1

TS_PATTERN: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
TOKEN_PATTERN: Final = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
TENANT_PATTERN: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
#: A gateway instance's name (``fleet.instance_id``): lower case, as in a host name.
INSTANCE_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9.-]{0,62}")
_FORBIDDEN_CHARS: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FORBIDDEN_CHARS_ONE_LINE: Final = re.compile(r"[\x00-\x1f\x7f]")


def text(name: str, value: object, *, max_len: int, multiline: bool = False) -> str:
    """A non-empty string of at most ``max_len`` characters, valid UTF-8, no control chars.

    Tab, CR and LF are allowed only where ``multiline`` (reasons, prompts).
    """
    if not isinstance(value, str):
        raise AuditRecordError(name, f"must be a string, not {type(value).__name__}")
    if not value:
        raise AuditRecordError(name, "must not be empty (use null for 'not known')")
    if len(value) > max_len:
        raise AuditRecordError(name, f"is {len(value)} characters long, the limit is {max_len}")
    forbidden = _FORBIDDEN_CHARS if multiline else _FORBIDDEN_CHARS_ONE_LINE
    if forbidden.search(value):
        raise AuditRecordError(name, "contains a control character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise AuditRecordError(name, "is not valid Unicode (lone surrogate)") from None
    return value


_UNFIT_ONE_LINE: Final = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_UNFIT_MULTILINE: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def fit_text(value: str | None, *, max_len: int, multiline: bool = False) -> str | None:
    """Untrusted text (a client's model name, an upstream's header) made to pass `text`.

    Control characters and lone surrogates become U+FFFD, text over ``max_len`` is cut and
    ends in "…", and empty text becomes ``None``: a value the schema would refuse must
    not keep its flow out of the audit trail, and what can be kept of it is kept.
    """
    if not value:
        return None
    unfit = _UNFIT_MULTILINE if multiline else _UNFIT_ONE_LINE
    if unfit.search(value):
        value = unfit.sub("\ufffd", value)
    if len(value) > max_len:
        value = value[: max_len - 1] + "…"
    return value


def optional_text(name: str, value: object, *, max_len: int, multiline: bool = False) -> str | None:
    return None if value is None else text(name, value, max_len=max_len, multiline=multiline)


def token(name: str, value: object) -> str:
    """A short lower-case identifier such as ``allowed``, ``oidc`` or ``login.ok``."""
    checked = text(name, value, max_len=64)
    if not TOKEN_PATTERN.fullmatch(checked):
        raise AuditRecordError(
            name, f"{checked!r} is not a lower-case identifier ([a-z][a-z0-9_.-]*)"
        )
    return checked


def optional_token(name: str, value: object) -> str | None:
    return None if value is None else token(name, value)


def one_of(name: str, value: object, allowed: Collection[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise AuditRecordError(name, f"{value!r} is not one of {', '.join(sorted(allowed))}")
    return value


def tenant(name: str, value: object) -> str:
    checked = text(name, value, max_len=64)
    if not TENANT_PATTERN.fullmatch(checked):
        raise AuditRecordError(
            name, f"{checked!r} is not a tenant id (letters, digits, '_', '.', '-'; 1-64)"
        )
    return checked


def optional_instance(name: str, value: object) -> str | None:
    """None, or a gateway instance's name (`INSTANCE_PATTERN`)."""
    if value is None:
        return None
    if not isinstance(value, str) or not INSTANCE_PATTERN.fullmatch(value):
        raise AuditRecordError(
            name,
            f"{str(value)[:80]!r} is not an instance id (lower-case letters, digits, '.', '-'; "
            "1-63, starting with a letter or digit)",
        )
    return value


def integer(name: str, value: object, *, minimum: int = 0, maximum: int = MAX_SAFE_INT) -> int:
    # bool is an int subclass; True is not a token count.
    if not isinstance(value, int) or isinstance(value, bool):
        raise AuditRecordError(name, f"must be an integer, not {type(value).__name__}")
    if not minimum <= value <= maximum:
        raise AuditRecordError(name, f"{value} is outside {minimum}..{maximum}")
    return value


def optional_integer(
    name: str, value: object, *, minimum: int = 0, maximum: int = MAX_SAFE_INT
) -> int | None:
    return None if value is None else integer(name, value, minimum=minimum, maximum=maximum)


def boolean(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise AuditRecordError(name, f"must be true or false, not {type(value).__name__}")
    return value


def timestamp(name: str, value: object) -> str:
    """UTC, RFC 3339 with milliseconds and ``Z``: ``2025-01-31T12:00:00.123Z``."""
    if not isinstance(value, str) or not TS_PATTERN.fullmatch(value):
        raise AuditRecordError(name, f"{value!r} is not a UTC time like 2025-01-31T12:00:00.123Z")
    try:
        datetime.datetime.fromisoformat(value)  # C-fast; the pattern above fixed the shape
    except ValueError:
        raise AuditRecordError(name, f"{value!r} is not a valid date and time") from None
    return value


def optional_timestamp(name: str, value: object) -> str | None:
    return None if value is None else timestamp(name, value)


def ip_address(name: str, value: object) -> str:
    checked = text(name, value, max_len=64)
    if not _is_ip_address(checked):
        raise AuditRecordError(name, f"{checked!r} is not an IPv4 or IPv6 address")
    return checked


@functools.lru_cache(maxsize=4096)
def _is_ip_address(value: str) -> bool:
    # Clients come back with the same few addresses; parsing each time cost more than the rest.
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def optional_ip_address(name: str, value: object) -> str | None:
    return None if value is None else ip_address(name, value)


def hex_id(name: str, value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{32}", value):
        raise AuditRecordError(name, f"{value!r} is not 32 lower-case hex digits")
    return value


def string_tuple(name: str, value: object, *, max_items: int, max_len: int) -> tuple[str, ...]:
    if not isinstance(value, tuple | list):
        raise AuditRecordError(name, f"must be a list of strings, not {type(value).__name__}")
    if len(value) > max_items:
        raise AuditRecordError(name, f"has {len(value)} items, the limit is {max_items}")
    return tuple(text(f"{name}[{i}]", item, max_len=max_len) for i, item in enumerate(value))


type DetailValue = str | int | bool

DETAIL_KEY_PATTERN: Final = re.compile(r"[a-z][a-z0-9_.]{0,63}")
MAX_DETAILS: Final = 32
MAX_DETAIL_VALUE_LEN: Final = 1024


def fit_details(value: Mapping[str, DetailValue]) -> dict[str, DetailValue]:
    """Details whose text may come from a client, an upstream, an IdP or a reviewer, each
    string fitted (`fit_text`) to what `details` accepts; empty strings become "-"."""
    return {
        key: (fit_text(item, max_len=MAX_DETAIL_VALUE_LEN) or "-")
        if isinstance(item, str)
        else item
        for key, item in value.items()
    }


def details(name: str, value: object) -> dict[str, DetailValue]:
    """A flat mapping of lower-case keys to short strings, safe ints or booleans."""
    if not isinstance(value, Mapping):
        raise AuditRecordError(name, f"must be a mapping, not {type(value).__name__}")
    if len(value) > MAX_DETAILS:
        raise AuditRecordError(name, f"has {len(value)} entries, the limit is {MAX_DETAILS}")
    checked: dict[str, DetailValue] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not DETAIL_KEY_PATTERN.fullmatch(key):
            raise AuditRecordError(name, f"key {key!r} is not a lower-case name ([a-z][a-z0-9_.]*)")
        where = f"{name}.{key}"
        if isinstance(item, bool):
            checked[key] = item
        elif isinstance(item, int):
            checked[key] = integer(where, item, minimum=-MAX_SAFE_INT)
        elif isinstance(item, str):
            checked[key] = text(where, item, max_len=MAX_DETAIL_VALUE_LEN)
        else:
            raise AuditRecordError(
                where, f"must be a string, integer or boolean, not {type(item).__name__}"
            )
    return checked
