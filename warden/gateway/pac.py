"""The proxy auto-config (PAC) file: only LLM hosts go to the gateway, everything else DIRECT.

`render_pac` turns the catalog's host patterns into a ``FindProxyForURL`` function that
browsers and operating systems evaluate for every URL they open. The portal serves it at
``/proxy.pac`` (and ``/wpad.dat`` for WPAD clients); `gateway_pac` and `pac_routes` are the
pieces the control plane mounts.

Matching follows the catalog's own rules (`providers.hostnames`, `Catalog.match`):

- an exact pattern (``api.openai.com``) matches that name only, compared after
  lower-casing and dropping one trailing dot. It is compared with ``==``, never with
  ``dnsDomainIs`` (a plain suffix test, under which ``evilapi.openai.com`` would match);
- a wildcard (``*.openai.azure.com``) matches one or more labels below the base and not
  the base itself: ``dnsDomainIs(host, ".openai.azure.com")``. The leading dot is what keeps
  ``evilopenai.azure.com`` out; ``api.openai.com.evil.test`` never ends with a catalog
  suffix, so it stays DIRECT too.

Plain host names (no dot) and IP literals go DIRECT before anything else. Networks in
``direct_networks`` are tested with ``isInNet`` on IPv4 literals only: the script never
calls ``dnsResolve``, because a lookup per URL slows every page load and would let DNS
decide whether a name bypasses the proxy (an Azure OpenAI private endpoint resolves to a
10.x address and must still go through the gateway).

**Fail closed.** An LLM host gets ``PROXY host:port`` with no ``DIRECT`` fallback. With a
fallback a browser that cannot reach the gateway (it is down, restarting, or blocked on
purpose by an attacker on the path) would quietly send prompts straight to the provider,
unidentified, unredacted and unaudited. Without it the user sees a connection error for
the LLM sites only, and every other site keeps working. For availability list several
gateways (``proxy`` may be a sequence: ``PROXY a:8080; PROXY b:8080``), put them behind a
load balancer, or both.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from aiohttp import web

from warden.providers.hostnames import (
    is_wildcard,
    normalize_host,
    normalize_pattern,
    wildcard_base,
)

if TYPE_CHECKING:
    from warden.config import Config
    from warden.providers.catalog import Catalog

__all__ = [
    "PAC_CONTENT_TYPE",
    "PRIVATE_NETWORKS",
    "gateway_pac",
    "pac_host_patterns",
    "pac_routes",
    "proxy_address",
    "render_pac",
]

#: The media type browsers expect for a PAC file (Netscape's original name).
PAC_CONTENT_TYPE: Final = "application/x-ns-proxy-autoconfig"

#: IPv4 networks that never go to the gateway: RFC 1918, loopback, link-local, CGNAT.
PRIVATE_NETWORKS: Final[tuple[str, ...]] = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "100.64.0.0/10",
)


def _proxy_directive(proxy: str) -> str:
    """``PROXY host:port`` for ``host:port`` (IPv6 as ``[addr]:port``); raises ValueError."""
    text = proxy.strip()
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme != "http" or parts.path not in ("", "/") or parts.username:
            raise ValueError(
                f"proxy {proxy!r}: write host:port, or http://host:port without path or "
                "credentials (a PAC file is world-readable)"
            )
        text = parts.netloc
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"proxy {proxy!r}: write host:port, e.g. warden.example.com:8080")
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        return f"PROXY {_proxy_name(proxy, bare)}:{int(port_text)}"
    if address.is_unspecified:
        raise ValueError(
            f"proxy {proxy!r}: {bare} is the listen-on-all address; give the name or "
            "address clients reach the gateway at"
        )
    shown = f"[{address}]" if address.version == 6 else str(address)
    return f"PROXY {shown}:{int(port_text)}"


def _proxy_name(proxy: str, host: str) -> str:
    name = normalize_host(host)
    if name is None:
        raise ValueError(f"proxy {proxy!r}: {host!r} is neither an IP address nor a host name")
    return name


def _networks(cidrs: Iterable[str]) -> list[tuple[str, str]]:
    """(network, netmask) pairs for ``isInNet``; IPv4 only (classic PAC has no IPv6 test)."""
    pairs: list[tuple[str, str]] = []
    for cidr in cidrs:
        try:
            net = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ValueError(
                f"direct network {cidr!r} is not a network such as 10.0.0.0/8"
            ) from None
        if net.version != 4:
            continue  # IPv6 literals go DIRECT anyway (no LLM host is an IP literal)
        pair = (str(net.network_address), str(net.netmask))
        if pair not in pairs:
            pairs.append(pair)
    return pairs


def render_pac(
    host_patterns: Iterable[str],
    proxy: str | Sequence[str],
    *,
    direct_networks: Sequence[str] = (),
    otherwise: Sequence[str] = (),
) -> str:
    """A PAC file that sends hosts matching ``host_patterns`` to ``proxy``, the rest DIRECT.

    ``host_patterns`` are catalog patterns (exact names or ``*.`` wildcards); invalid ones
    raise ``ValueError``, so nothing a config holds can inject script. ``proxy`` is
    ``host:port`` (or several, tried in order, never followed by DIRECT: see the module
    docstring). Plain host names, IP literals and ``direct_networks`` (added to
    `PRIVATE_NETWORKS`) go DIRECT. Every other host goes DIRECT, or, when ``otherwise``
    names proxies (an existing corporate web proxy, ``squid.example.com:3128``), to those:
    then the direct networks are what keeps intranet addresses off that proxy.
    """
    proxies = [proxy] if isinstance(proxy, str) else list(proxy)
    if not proxies:
        raise ValueError("render_pac needs at least one proxy address")
    directive = "; ".join(_proxy_directive(p) for p in proxies)
    if isinstance(otherwise, str):
        otherwise = [otherwise]
    rest = "; ".join(_proxy_directive(p) for p in otherwise) if otherwise else "DIRECT"
    exact: list[str] = []
    suffixes: list[str] = []
    for raw in host_patterns:
        pattern = normalize_pattern(raw)
        if is_wildcard(pattern):
            suffix = "." + wildcard_base(pattern)
            if suffix not in suffixes:
                suffixes.append(suffix)
        elif pattern not in exact:
            exact.append(pattern)
    if not exact and not suffixes:
        raise ValueError("render_pac got no host patterns: the PAC would send nothing to the proxy")
    nets = _networks((*PRIVATE_NETWORKS, *direct_networks))

    def js_list(items: Iterable[str]) -> str:
        return "[\n" + "".join(f"  {json.dumps(i)},\n" for i in items) + "]"

    exact_js = "{\n" + "".join(f"  {json.dumps(h)}: true,\n" for h in exact) + "}"
    nets_js = "[\n" + "".join(f"  [{json.dumps(n)}, {json.dumps(m)}],\n" for n, m in nets) + "]"
    return f"""\
// Egress Warden proxy auto-config, generated from the LLM catalog. Do not edit by hand:
// the gateway serves it at /proxy.pac and regenerates it when the catalog changes.
//
// LLM services go to the gateway, with no DIRECT fallback (fail closed: if the gateway
// is down, LLM traffic must not bypass it). Everything else: {rest}.

var WARDEN_PROXY = {json.dumps(directive)};
var WARDEN_OTHERWISE = {json.dumps(rest)};

// Exact host names.
var WARDEN_EXACT = {exact_js};

// "*.example.com" patterns as ".example.com": one or more labels below, not the name itself.
var WARDEN_SUFFIXES = {js_list(suffixes)};

// IPv4 networks that always go DIRECT (tested on IP literals only; no DNS lookups).
var WARDEN_DIRECT_NETS = {nets_js};

var WARDEN_IPV4 = /^[0-9]{{1,3}}\\.[0-9]{{1,3}}\\.[0-9]{{1,3}}\\.[0-9]{{1,3}}$/;

function FindProxyForURL(url, host) {{
  var h = String(host).toLowerCase();
  if (h.length > 1 && h.charAt(h.length - 1) == ".") {{
    h = h.substring(0, h.length - 1);
  }}
  if (isPlainHostName(h)) {{
    return "DIRECT";
  }}
  if (h.indexOf(":") != -1 || h.charAt(0) == "[") {{
    return "DIRECT";  // an IPv6 literal: never an LLM host name
  }}
  if (WARDEN_IPV4.test(h)) {{
    for (var n = 0; n < WARDEN_DIRECT_NETS.length; n++) {{
      if (isInNet(h, WARDEN_DIRECT_NETS[n][0], WARDEN_DIRECT_NETS[n][1])) {{
        return "DIRECT";
      }}
    }}
    return WARDEN_OTHERWISE;
  }}
  if (Object.prototype.hasOwnProperty.call(WARDEN_EXACT, h)) {{
    return WARDEN_PROXY;
  }}
  for (var i = 0; i < WARDEN_SUFFIXES.length; i++) {{
    if (dnsDomainIs(h, WARDEN_SUFFIXES[i])) {{
      return WARDEN_PROXY;
    }}
  }}
  return WARDEN_OTHERWISE;
}}
"""


def pac_host_patterns(config: Config, catalog: Catalog) -> tuple[str, ...]:
    """The catalog's patterns plus ``catalog.unsanctioned`` hosts.

    Unsanctioned AI services must reach the gateway too: it refuses them at CONNECT with
    the configured reason, which it cannot do for traffic the PAC sends DIRECT.
    """
    refused = (u.host for u in config.catalog.unsanctioned)
    return tuple(dict.fromkeys((*catalog.all_host_patterns(), *refused)))


def proxy_address(config: Config) -> str:
    """``host:port`` clients use for the proxy: the portal's public host, else the listen host.

    The proxy and the control plane run in one process, so the name users reach the
    portal at (``identity.portal.public_url``) reaches the proxy too, on its own port.
    """
    port = config.proxy.listen.port
    public = config.identity.portal.public_url
    if public is not None:
        host = urlsplit(public).hostname
        if host:
            return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    listen = config.proxy.listen.host
    if listen in ("0.0.0.0", "::"):  # noqa: S104 - comparing, not binding
        raise ValueError(
            "the proxy listens on all addresses and identity.portal.public_url is not set, "
            "so the PAC file cannot name the proxy: set identity.portal.public_url"
        )
    return f"[{listen}]:{port}" if ":" in listen else f"{listen}:{port}"


def gateway_pac(config: Config, catalog: Catalog) -> str:
    """The PAC file for this gateway: its catalog (with extra hosts) and its proxy address,
    or, for a fleet, every instance of ``proxy.instances`` in order (a client falls back
    to the next when one does not answer; still never to DIRECT)."""
    proxies = config.proxy.instances or (proxy_address(config),)
    return render_pac(pac_host_patterns(config, catalog), proxies)


def pac_routes(pac_text: str) -> list[web.RouteDef]:
    """``GET /proxy.pac`` and ``GET /wpad.dat`` (the name WPAD clients ask for), same body.

    The body is built once at start: it depends only on the config and the catalog.
    """
    body = pac_text.encode("utf-8")

    async def serve(request: web.Request) -> web.Response:
        return web.Response(
            body=body,
            headers={
                "Content-Type": PAC_CONTENT_TYPE,
                # Clients re-fetch now and then; a changed catalog reaches them within minutes.
                "Cache-Control": "public, max-age=300",
                "X-Content-Type-Options": "nosniff",
            },
        )

    return [web.get("/proxy.pac", serve), web.get("/wpad.dat", serve)]
