"""Where the portal may send a user after login: the `next` parameter's open-redirect guard.

`safe_next` allows exactly two shapes and returns them normalised, never the raw input:

- a path on the portal, beginning with a single `/` (not `//`, not `/\\`);
- an `https://` URL of an intercepted catalog host (the caller's predicate decides), without
  userinfo, on the default port.

Everything else becomes the default. The value is read the way a browser reads it (WHATWG
URL Standard): leading/trailing C0 controls and spaces are stripped, tabs and newlines
anywhere are removed, backslashes count as slashes before the query, the host is
percent-decoded, lowercased, IDNA-mapped (UTS #46, non-transitional, as browsers do) and a
trailing dot dropped. Deciding on the browser's reading, not on the raw string, is what
closes the gaps that oauth2-proxy's redirect CVEs came through (`/\\evil`, `/\\t/evil`,
encoded slashes and dots, `https:evil`, userinfo tricks).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Set
from typing import Final
from urllib.parse import quote, unquote, unquote_to_bytes

import idna

HostPredicate = Callable[[str], bool]

# --- security constants ------------------------------------------------------------------

# Real deep links into an LLM web app are well under this; a longer `next` is a DoS or
# log-bloat vector and a common sign of smuggling, and browsers cap URLs in similar places.
MAX_NEXT_LENGTH: Final = 2048
# Encoded slashes, backslashes and dots are decoded this many times when looking for a
# hidden `//` or `/\\` (double encoding such as %252F): intermediaries decode too.
_DECODE_ROUNDS: Final = 3
# The only port besides "none" that an https:// target may name (it is the default).
_HTTPS_PORT: Final = 443
# WHATWG "strip leading and trailing C0 control or space".
_C0_OR_SPACE: Final = "".join(chr(c) for c in range(0x21))
# WHATWG "remove all ASCII tab or newline" (anywhere in the input).
_TAB_OR_NEWLINE: Final = str.maketrans("", "", "\t\n\r")
# Controls, and lone surrogates: no URL a browser sends holds one, and quote() cannot
# encode it (UnicodeEncodeError instead of the default).
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
# Letters, digits, hyphen; no `_`, `%`, `@` or other code points a host may not carry here.
_HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# A last label that WHATWG would read as an IPv4 number: catalog hosts are names.
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")
# Characters kept as they are in the output; everything else is percent-encoded, so the
# result never contains spaces, quotes, angle brackets, backslashes or line breaks.
_PATH_SAFE: Final = "/!$&'()*+,;=:@-._~%"
_QUERY_SAFE: Final = _PATH_SAFE + "?"


def safe_next(
    value: str | None,
    *,
    allowed_hosts: HostPredicate | Set[str],
    default: str = "/",
) -> str:
    """The normalised `next` target if it is safe, else `default`.

    `allowed_hosts` receives a lowercase ASCII (punycode) host without trailing dot; a set
    is matched exactly against such names. The result is safe in a `Location` header; in
    HTML it still needs attribute escaping (`&`).
    """
    is_allowed = _host_predicate(allowed_hosts)
    if _normalise(default, lambda host: False) != default:
        raise ValueError(f"default {default!r} must itself be a normalised portal path")
    if value is None:
        return default
    normalised = _normalise(value, is_allowed)
    return default if normalised is None else normalised


def _host_predicate(allowed_hosts: HostPredicate | Set[str]) -> HostPredicate:
    if isinstance(allowed_hosts, Set):
        names = frozenset(h.lower().rstrip(".") for h in allowed_hosts)
        return names.__contains__
    return allowed_hosts


def _normalise(value: str, is_allowed: HostPredicate) -> str | None:
    if len(value) > MAX_NEXT_LENGTH:
        return None
    value = value.strip(_C0_OR_SPACE).translate(_TAB_OR_NEWLINE)
    if not value or _CONTROL.search(value):
        return None
    before, _, fragment = value.partition("#")
    before, has_query, query = before.partition("?")
    # Backslash is a slash for special schemes (https, and the portal's own base URL).
    before = before.replace("\\", "/")
    suffix = (("?" + quote(query, safe=_QUERY_SAFE)) if has_query else "") + (
        ("#" + quote(fragment, safe=_QUERY_SAFE)) if "#" in value else ""
    )
    if before.startswith("/"):
        path = _portal_path(before)
        return None if path is None else path + suffix
    scheme = _SCHEME.match(before)
    if scheme is None or scheme.group(1).lower() != "https":
        return None  # javascript:, data:, http:, mailto:, or a bare "evil.com"
    rest = before[scheme.end() :]
    # Exactly two slashes: `https:evil`, `https:/evil` and `https:///evil` are all read by
    # browsers with a host other than what a naive split finds.
    if not rest.startswith("//") or rest.startswith("///"):
        return None
    authority, slash, path = rest[2:].partition("/")
    host = _catalog_host(authority)
    if host is None or not is_allowed(host):
        return None
    normalised_path = _remove_dot_segments("/" + path if slash else "/")
    return f"https://{host}{quote(normalised_path, safe=_PATH_SAFE)}{suffix}"


def _portal_path(path: str) -> str | None:
    """A path on the portal itself, or None if a browser or proxy could leave the origin."""
    if path.startswith("//"):
        return None  # scheme-relative: `//evil.com` (and `/\evil.com`, `/\t/evil.com`)
    decoded = path
    for _ in range(_DECODE_ROUNDS):
        decoded = unquote(decoded)
        if _CONTROL.search(decoded) or _leaves_origin(decoded):
            return None  # `/%2F%2Fevil.com`, `/%5Cevil.com`, `/%09/evil.com`
    normalised = _remove_dot_segments(path)
    if _leaves_origin(normalised):
        return None  # `/.//evil.com`
    return quote(normalised, safe=_PATH_SAFE)


def _leaves_origin(path: str) -> bool:
    head = _remove_dot_segments(path.replace("\\", "/"))
    return head.startswith("//") or not head.startswith("/")


def _catalog_host(authority: str) -> str | None:
    """The authority's host as a browser would connect to it, if it may be a catalog host."""
    if "@" in authority:
        return None  # userinfo: `https://chatgpt.com@evil.com` and the reverse
    if authority.startswith("["):
        return None  # IPv6 literal: catalog hosts are names
    host, colon, port = authority.partition(":")
    if colon and port and (not port.isascii() or not port.isdigit() or len(port) > 5):
        return None
    if colon and port and int(port) != _HTTPS_PORT:
        return None  # `https://chatgpt.com:444/`: another service on the same name
    return normalise_host(host)


def normalise_host(host: str) -> str | None:
    """A host name the way browsers resolve it (percent-decoded, IDNA, lowercase, no
    trailing dot), or None if it is not a plain DNS name."""
    try:
        decoded = unquote_to_bytes(host).decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not decoded:
        return None
    if decoded.isascii():
        ascii_host = decoded.lower()
    else:
        try:
            ascii_host = idna.encode(decoded, uts46=True, transitional=False).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError):
            return None
    if ascii_host.endswith("."):
        ascii_host = ascii_host[:-1]
    labels = ascii_host.split(".")
    if len(ascii_host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return None  # `chatgpt.com%2fevil`, `a..b`, `_x`, spaces, ...
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        return None  # an IPv4 address in one of its many spellings
    return ascii_host


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 for a path starting with `/`; `%2e` counts as `.` (as in WHATWG)."""
    segments = path.split("/")[1:]
    out: list[str] = []
    for index, segment in enumerate(segments):
        plain = segment.lower().replace("%2e", ".")
        last = index == len(segments) - 1
        if plain == "..":
            if out:
                out.pop()
            if last:
                out.append("")
        elif plain == ".":
            if last:
                out.append("")
        else:
            out.append(segment)
    return "/" + "/".join(out)
