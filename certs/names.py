"""X.509 Name Constraints for the interception CA: which host names it may vouch for."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Final

from cryptography import x509

from .errors import CAError

_LABEL: Final = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_MAX_NAME_LEN: Final = 253  # RFC 1035, presentation form without the trailing dot

# RFC 5280 §4.2.1.10: a name type with no permitted subtree is not constrained at all.
# Permitting only DNS names would therefore leave IP-address SANs free, and a leaf for
# https://203.0.113.7/ would still verify. Excluding the whole IPv4 and IPv6 spaces
# closes that: no leaf with an IP SAN can chain to this CA.
_EXCLUDE_ALL_IPS: Final = (
    x509.IPAddress(ipaddress.IPv4Network("0.0.0.0/0")),
    x509.IPAddress(ipaddress.IPv6Network("::/0")),
)


def validate_names(names: Sequence[str]) -> tuple[str, ...]:
    """Check catalog host names for use as permitted DNS subtrees; drop duplicates.

    Each must be a lowercase ASCII host name of at least two labels, with no wildcard,
    no leading or trailing dot. A permitted subtree `example.com` already covers every
    subdomain, so `*.` and `.example.com` forms are refused rather than guessed at.
    """
    if isinstance(names, str):
        raise CAError(
            f"name constraints must be a list of host names, got the string {names!r}",
            fix="pass a list, e.g. ['api.openai.com', 'chatgpt.com']",
        )
    if not names:
        raise CAError(
            "name constraints were requested with an empty list of host names",
            fix="name at least one host (e.g. api.openai.com), or omit name constraints",
        )
    checked: dict[str, None] = {}
    for name in names:
        problem = _problem(name)
        if problem:
            raise CAError(
                f"invalid name constraint {name!r}: {problem}",
                fix="use plain lowercase host names such as 'api.openai.com'; a name "
                "also covers all of its subdomains",
            )
        checked[name] = None
    return tuple(checked)


def _problem(name: str) -> str | None:
    if not isinstance(name, str) or not name:
        return "not a non-empty string"
    if not name.isascii():
        return "not ASCII; use the IDNA (xn--) form"
    if "*" in name:
        return "wildcards are not allowed (a name already covers its subdomains)"
    if name.startswith("."):
        return "leading dot is not allowed (a name already covers its subdomains)"
    if name.endswith("."):
        return "trailing dot is not allowed"
    if name != name.lower():
        return "must be lowercase"
    if len(name) > _MAX_NAME_LEN:
        return f"longer than {_MAX_NAME_LEN} characters"
    labels = name.split(".")
    if len(labels) < 2:
        # A one-label subtree such as "com" would permit a whole top-level domain.
        return "needs at least two labels (a bare top-level domain permits too much)"
    if not all(_LABEL.match(label) for label in labels):
        return "not a valid host name (labels are a-z, 0-9 and inner hyphens, 1-63 long)"
    if labels[-1].isdigit():
        return "looks like an IP address; IP addresses are never permitted"
    return None


def name_constraints(names: Sequence[str]) -> x509.NameConstraints:
    """The critical NameConstraints extension value for already validated names."""
    return x509.NameConstraints(
        permitted_subtrees=[x509.DNSName(n) for n in names],
        excluded_subtrees=list(_EXCLUDE_ALL_IPS),
    )


def read_constraints(cert: x509.Certificate) -> tuple[str, ...] | None:
    """The permitted DNS subtrees of a CA certificate, or None if it is unconstrained."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.NameConstraints)
    except x509.ExtensionNotFound:
        return None
    permitted = ext.value.permitted_subtrees or []
    return tuple(str(g.value) for g in permitted if isinstance(g, x509.DNSName))
