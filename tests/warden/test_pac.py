"""The PAC file, evaluated by a real JavaScript engine (Node) against a table of hosts.

The PAC helper functions are not part of JavaScript; browsers supply them. The runtime
below implements the ones the file may call as the Netscape PAC specification (and
Mozilla's reference `ascii_pac_utils.js`) defines them. ``dnsResolve`` throws: the file
must never resolve names (see `warden.gateway.pac`'s docstring).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from warden.config import ConfigError, parse_config
from warden.gateway.pac import PAC_CONTENT_TYPE, gateway_pac, pac_routes, proxy_address, render_pac
from warden.providers.catalog import Catalog

PAC_RUNTIME = r"""
function isPlainHostName(host) { return host.indexOf(".") == -1; }
function dnsDomainIs(host, domain) {
  return host.length >= domain.length &&
         host.substring(host.length - domain.length) == domain;
}
function shExpMatch(url, pattern) {
  pattern = pattern.replace(/\./g, "\\.").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp("^" + pattern + "$").test(url);
}
var DNS_LOOKUPS = [];
function dnsResolve(host) {
  DNS_LOOKUPS.push(host);
  throw new Error("the PAC file resolved " + host + ": it must not look names up");
}
function convert_addr(ipchars) {
  var bytes = ipchars.split(".");
  return ((bytes[0] & 0xff) << 24) | ((bytes[1] & 0xff) << 16) |
         ((bytes[2] & 0xff) << 8) | (bytes[3] & 0xff);
}
function isInNet(ipaddr, pattern, maskstr) {
  var test = /^(\d{1,4})\.(\d{1,4})\.(\d{1,4})\.(\d{1,4})$/.exec(ipaddr);
  if (test == null) {
    ipaddr = dnsResolve(ipaddr);
    if (ipaddr == null) return false;
  } else if (test[1] > 255 || test[2] > 255 || test[3] > 255 || test[4] > 255) {
    return false;
  }
  var host = convert_addr(ipaddr);
  var pat = convert_addr(pattern);
  var mask = convert_addr(maskstr);
  return (host & mask) == (pat & mask);
}
"""

PROXY = "PROXY warden.example.com:8080"

# host -> expected result with the default catalog.
TABLE = {
    "api.openai.com": PROXY,
    "API.OpenAI.com": PROXY,
    "api.openai.com.": PROXY,
    "chatgpt.com": PROXY,
    "claude.ai": PROXY,
    "my-resource.openai.azure.com": PROXY,
    "a.b.openai.azure.com": PROXY,
    "bedrock-runtime.eu-west-1.amazonaws.com": PROXY,
    # look-alikes and suffix tricks
    "evilopenai.com": "DIRECT",
    "openai.com": "DIRECT",
    "evilapi.openai.com": "DIRECT",
    "api.openai.com.evil.test": "DIRECT",
    "xapi.openai.com": "DIRECT",
    "openai.azure.com": "DIRECT",  # the wildcard's base itself is not in the catalog
    "evilopenai.azure.com": "DIRECT",
    "openai.azure.com.evil.test": "DIRECT",
    "claude.ai.evil.test": "DIRECT",
    "notclaude.ai": "DIRECT",
    "bedrock-runtime.amazonaws.com": "DIRECT",
    # everything else
    "example.org": "DIRECT",
    "www.google.com": "DIRECT",
    "intranet": "DIRECT",
    "localhost": "DIRECT",
    "10.1.2.3": "DIRECT",
    "192.168.1.1": "DIRECT",
    "127.0.0.1": "DIRECT",
    "8.8.8.8": "DIRECT",
    "::1": "DIRECT",
    "[2001:db8::1]": "DIRECT",
    "": "DIRECT",
}


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: the PAC file needs a JavaScript engine to run")
    return node


def evaluate(pac: str, hosts: list[str]) -> tuple[dict[str, str], list[str]]:
    """Run ``FindProxyForURL`` for each host in Node; the results and any DNS look-ups."""
    script = (
        PAC_RUNTIME
        + pac
        + "\nvar HOSTS = "
        + json.dumps(hosts)
        + ";\nvar out = {};\n"
        + "HOSTS.forEach(function (h) {"
        + "  var u = 'https://' + (h || 'x') + '/';"
        + "  try { out[h] = FindProxyForURL(u, h); } catch (e) { out[h] = 'ERROR ' + e.message; }"
        + "});\n"
        + "process.stdout.write(JSON.stringify({results: out, lookups: DNS_LOOKUPS}));\n"
    )
    done = subprocess.run(
        [_node(), "-e", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    return data["results"], data["lookups"]


def default_pac(**kwargs: object) -> str:
    return render_pac(Catalog.default().all_host_patterns(), "warden.example.com:8080", **kwargs)  # type: ignore[arg-type]


def test_llm_hosts_go_to_the_proxy_and_everything_else_direct() -> None:
    results, lookups = evaluate(default_pac(), list(TABLE))
    assert results == TABLE
    assert lookups == []


def test_pac_agrees_with_the_catalog_for_every_pattern() -> None:
    catalog = Catalog.default()
    hosts: list[str] = []
    for pattern in catalog.all_host_patterns():
        base = pattern.removeprefix("*.")
        hosts += [base, "x." + base, "evil" + base, base + ".evil.test", "a.b." + base]
    results, lookups = evaluate(default_pac(), hosts)
    expected = {h: (PROXY if catalog.match(h) is not None else "DIRECT") for h in hosts}
    assert results == expected
    assert lookups == []


def test_no_direct_fallback_for_llm_hosts() -> None:
    """Fail closed: a gateway that is down must not let LLM traffic go around it."""
    pac = render_pac(["api.openai.com"], ["a.example.com:8080", "b.example.com:8080"])
    results, _ = evaluate(pac, ["api.openai.com"])
    assert results["api.openai.com"] == "PROXY a.example.com:8080; PROXY b.example.com:8080"
    assert "DIRECT" not in results["api.openai.com"]


def test_otherwise_proxy_keeps_private_networks_and_plain_names_direct() -> None:
    pac = default_pac(otherwise=["squid.example.com:3128"], direct_networks=["198.51.100.0/24"])
    hosts = [
        "example.org",
        "8.8.8.8",
        "10.0.0.1",
        "172.20.1.1",
        "198.51.100.7",
        "wiki",
        "api.openai.com",
    ]
    results, lookups = evaluate(pac, hosts)
    squid = "PROXY squid.example.com:3128"
    assert results == {
        "example.org": squid,
        "8.8.8.8": squid,
        "10.0.0.1": "DIRECT",
        "172.20.1.1": "DIRECT",
        "198.51.100.7": "DIRECT",
        "wiki": "DIRECT",
        "api.openai.com": PROXY,
    }
    assert lookups == []


def test_ipv6_proxy_is_bracketed() -> None:
    results, _ = evaluate(render_pac(["claude.ai"], "[2001:db8::5]:8080"), ["claude.ai"])
    assert results["claude.ai"] == "PROXY [2001:db8::5]:8080"


@pytest.mark.parametrize(
    "pattern",
    ['api.openai.com"; return "DIRECT"; //', "*.com", "api openai.com", "*.a*.com", "http://x.com"],
)
def test_bad_host_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError):
        render_pac([pattern], "warden.example.com:8080")


@pytest.mark.parametrize(
    "proxy",
    [
        'x.com:80"; alert(1)',
        "warden.example.com",
        "0.0.0.0:8080",
        "http://u:p@x.com:8080",
        "x.com:0",
    ],
)
def test_bad_proxy_addresses_are_refused(proxy: str) -> None:
    with pytest.raises(ValueError):
        render_pac(["claude.ai"], proxy)


def test_empty_catalog_is_refused() -> None:
    with pytest.raises(ValueError, match="no host patterns"):
        render_pac([], "warden.example.com:8080")


def test_gateway_pac_includes_extra_and_unsanctioned_hosts(tmp_path: Path) -> None:
    config = parse_config(
        {
            "proxy": {"listen": {"host": "0.0.0.0", "port": 3128}},
            "identity": {"mode": "off", "portal": {"public_url": "https://warden.corp.example"}},
            "catalog": {
                "extra_hosts": {"azure-openai": ["llm.corp.example"]},
                "unsanctioned": [{"host": "*.deepseek.com"}],
            },
        },
        "test",
        tmp_path,
        {},
    )
    from warden.gateway.process import build_catalog

    pac = gateway_pac(config, build_catalog(config))
    results, _ = evaluate(pac, ["llm.corp.example", "chat.deepseek.com", "example.org"])
    proxy = "PROXY warden.corp.example:3128"
    assert results == {
        "llm.corp.example": proxy,
        "chat.deepseek.com": proxy,  # so the gateway can refuse it with the reason
        "example.org": "DIRECT",
    }


def test_proxy_address_needs_a_reachable_name(tmp_path: Path) -> None:
    config = parse_config(
        {"proxy": {"listen": {"host": "0.0.0.0", "port": 8080}}, "identity": {"mode": "off"}},
        "test",
        tmp_path,
        {},
    )
    with pytest.raises(ValueError, match="public_url"):
        proxy_address(config)
    local = parse_config({"identity": {"mode": "off"}}, "test", tmp_path, {})
    assert proxy_address(local) == "127.0.0.1:8080"


async def test_routes_serve_the_pac_with_its_media_type() -> None:
    app = web.Application()
    app.router.add_routes(pac_routes("function FindProxyForURL(u, h) { return 'DIRECT'; }"))
    async with TestClient(TestServer(app)) as client:
        for path in ("/proxy.pac", "/wpad.dat"):
            resp = await client.get(path)
            assert resp.status == 200
            assert resp.headers["Content-Type"] == PAC_CONTENT_TYPE
            assert "FindProxyForURL" in await resp.text()


def test_a_fleet_pac_lists_every_instance_in_order_and_never_direct(tmp_path: Path) -> None:
    config = parse_config(
        {
            "proxy": {"instances": ["warden-a.corp.example:8080", "10.0.0.7:8080"]},
            "identity": {"mode": "off"},
        },
        "test",
        tmp_path,
        {},
    )
    from warden.gateway.process import build_catalog

    pac = gateway_pac(config, build_catalog(config))
    results, _ = evaluate(pac, ["api.openai.com", "example.org"])
    assert results == {
        "api.openai.com": "PROXY warden-a.corp.example:8080; PROXY 10.0.0.7:8080",
        "example.org": "DIRECT",
    }


@pytest.mark.parametrize(
    "instance",
    ["warden-a", "a:0", "a:99999", "http://a:8080/x", "u:p@a:8080", ":8080", "a:80 80"],
)
def test_bad_fleet_instances_are_refused_at_load(tmp_path: Path, instance: str) -> None:
    with pytest.raises(ConfigError, match=r"proxy\.instances"):
        parse_config({"proxy": {"instances": [instance]}}, "test", tmp_path, {})
