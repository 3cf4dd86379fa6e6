"""Host names and host patterns: normalizing what a client sent, validating what we configure.

A host is compared in its ASCII form: lower-cased, one trailing dot dropped, no port.
Internationalized names are compared as the punycode (``xn--``) labels the client sent;
a host with non-ASCII characters, an empty label, a label over 63 characters or a name
over 253 characters is not a host name at all and never matches the catalog.

Labels are letters, digits and hyphens (RFC 1123), not starting or ending with a hyphen,
the same rule as the config's ``_check_host_pattern`` and the ``allow_hosts`` regex, so a
name this module rejects is one mitmproxy does not intercept either.
"""

from __future__ import annotations

import ipaddress
import re

MAX_HOST_LENGTH = 253
WILDCARD_PREFIX = "*."

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


def normalize_host(host: object) -> str | None:
    """The comparable form of a host a client named, or ``None`` when it is no host name."""
    if not isinstance(host, str) or not host.isascii():
        return None
    if host.endswith("."):
        host = host[:-1]
    if not host or len(host) > MAX_HOST_LENGTH:
        return None
    host = host.lower()
    return host if _HOST.fullmatch(host) else None


def normalize_pattern(pattern: str) -> str:
    """A catalog host pattern in its stored form; raises ``ValueError`` naming the fix.

    A pattern is an exact host (``api.openai.com``) or ``*.`` and a host
    (``*.openai.azure.com``: one or more labels below ``openai.azure.com``, not the name
    itself). Both need at least two labels, so ``*.com`` is refused.
    """
    wildcard = pattern.startswith(WILDCARD_PREFIX)
    bare = normalize_host(pattern[len(WILDCARD_PREFIX) :] if wildcard else pattern)
    if bare is None or "." not in bare:
        raise ValueError(
            f"host pattern {pattern!r} is not valid: write a host name with at least two "
            "labels such as 'api.example.com', or '*.' and such a name ('*.example.com'), "
            "without scheme, port or path"
        )
    return WILDCARD_PREFIX + bare if wildcard else bare


def is_wildcard(pattern: str) -> bool:
    return pattern.startswith(WILDCARD_PREFIX)


def wildcard_base(pattern: str) -> str:
    """``openai.azure.com`` for ``*.openai.azure.com``; an exact host is its own base."""
    return pattern[len(WILDCARD_PREFIX) :] if is_wildcard(pattern) else pattern


def is_ip_literal(host: str) -> bool:
    """True for an IPv4 or IPv6 address (not a host name)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
