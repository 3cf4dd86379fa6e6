"""Which host a flow is judged on: the CONNECT target, the TLS SNI and the Host header, reconciled.

mitmproxy intercepts a connection when any of three names matches the catalog: the
CONNECT target (or an absolute-form URL's host), the TLS server name the client sent
(SNI) and the Host header. The upstream connection, though, goes to the CONNECT target.
Judging a flow on the target alone let ``CONNECT 203.0.113.7:443`` with SNI
``api.openai.com`` be intercepted yet treated as "not an LLM flow": no sign-in, no
policy, no DLP, no record. So a flow is judged on all three names:

- None of them names a catalog host: not ours, the flow is left alone.
- The host names among them (IP literals aside) are not all the same host, and one of
  them is in the catalog: domain fronting, in either direction (SNI of a catalog host
  with the Host of another site, or the other way round, or a catalog CONNECT name with
  another SNI). Refused (421 Misdirected Request, the answer HTTP gives to a request
  sent on a connection meant for another host; a browser that legitimately coalesced
  connections retries on a fresh one).
- Otherwise the one host name they agree on is the flow's host. When the target was an
  IP literal, the flow is judged as that catalog service (identity, policy, DLP, audit
  as for any other flow) and the request goes to the service's real host name, not to
  the address the client chose. Refusing instead would break clients that pin an
  address for a catalog host (hosts files, split DNS) and gain nothing: the request is
  checked and recorded like every other, and the address never receives it. (With
  ``connection_strategy: eager`` mitmproxy has opened a connection to the address at
  CONNECT time, and shaken hands with it to learn its certificate; no request goes
  over it.)

An IP literal in the SNI does not count as a name (RFC 6066 forbids it there); a TLS
connection by IP without an SNI never reaches the addons: mitmproxy cannot see a name to
match, so it stays a tunnel. A tunnel whose SNI names an unsanctioned host is closed
(``Scope.next_layer``), and the leaf shown for an IP target names the SNI only
(``addons/leafcert.py``), so clients that check the CA's name constraints accept it.
Pure functions; the Scope addon feeds them the flow's names.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from warden.providers.hostnames import normalize_host

#: How much of a client-chosen name a refusal quotes back (names are at most 253).
_QUOTED: Final = 100


@dataclass(frozen=True, slots=True)
class Misdirected:
    """The flow's names disagree and one of them names a catalog host."""

    #: The catalog host among the names (the service the flow would have been judged as).
    catalog_host: str
    #: A sentence naming the names, for the client and the audit record.
    reason: str


def is_address(host: str) -> bool:
    """An IP literal, in any spelling a resolver accepts (``[::1]``, ``fe80::1%eth0``,
    ``127.1``, ``0x7f000001``): a connection to it goes to that address."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(bare.split("%", 1)[0])
        return True
    except ValueError:
        pass
    if not bare or not bare.isascii() or not all(c.isalnum() or c == "." for c in bare):
        return False
    try:
        socket.inet_aton(bare)  # the BSD spellings: 127.1, 0177.0.0.1, 2130706433
    except OSError:
        return False
    return True


def host_of(authority: str) -> str:
    """The host part of a Host header or ``:authority`` (port and IPv6 brackets dropped)."""
    if authority.startswith("["):
        end = authority.find("]")
        return authority[1:end] if end != -1 else authority
    host, colon, port = authority.rpartition(":")
    return host if colon and port.isdigit() else authority


def judge(
    target: str,
    sni: str | None,
    host_header: str | None,
    in_catalog: Callable[[str], bool],
    *,
    target_label: str = "CONNECT target",
) -> str | Misdirected | None:
    """The host the flow is judged on, ``Misdirected`` when its names disagree around a
    catalog host, or ``None`` when no name is in the catalog (see the module docstring)."""
    named: list[tuple[str, str]] = []  # (label, comparable name) of every host name given
    for label, raw in (
        (target_label, target),
        ("TLS server name (SNI)", sni),
        ("Host header", host_of(host_header) if host_header else None),
    ):
        if raw and not is_address(raw):
            # A name that is no valid host keeps its raw (lower-cased) form: it differs
            # from every catalog host, so it cannot join one.
            named.append((label, normalize_host(raw) or raw.lower()))
    catalog = next((name for _, name in named if in_catalog(name)), None)
    if catalog is None:
        return None
    others = [(label, name) for label, name in named if name != catalog]
    if not others:
        return catalog
    where = next(label for label, name in named if name == catalog)
    label, other = others[0]
    return Misdirected(
        catalog,
        f"the {where} names {_quoted(catalog)} but the {label} names {_quoted(other)}; "
        "a request must name the same host in all of them (domain fronting is refused)",
    )


def _quoted(name: str) -> str:
    text = name if len(name) <= _QUOTED else name[:_QUOTED] + "..."
    return repr(text.encode("ascii", "backslashreplace").decode("ascii"))
