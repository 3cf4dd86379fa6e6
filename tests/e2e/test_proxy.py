"""The gateway end to end: real SDKs and curl through ``warden run`` to aimock.

The client side is what a user has: HTTPS_PROXY pointing at the gateway and
SSL_CERT_FILE trusting its CA. aimock's journal shows exactly what left the proxy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.peers import Aimock, WardenProcess

pytestmark = pytest.mark.e2e

CLIENT = Path(__file__).parent / "clients" / "sdk_client.py"
GREETING = "Hello from the mock upstream. How can I help?"
STREAMED = "This answer arrives in many small server-sent events, one chunk at a time."


def user_env(gateway: WardenProcess) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env.update(
        HTTPS_PROXY=gateway.proxy_url,
        SSL_CERT_FILE=str(gateway.ca_cert),
        OPENAI_API_KEY="sk-test-not-a-real-key",
        ANTHROPIC_API_KEY="sk-ant-test-not-a-real-key",
    )
    return env


def sdk(gateway: WardenProcess, provider: str, mode: str, prompt: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, str(CLIENT), provider, mode, prompt],
        env=user_env(gateway),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, object] = json.loads(out.stdout)
    assert "error" not in result, f"{result}\n--- gateway log ---\n{gateway.log()}"
    return result


def journal_entries(aimock: Aimock, path: str) -> list[dict[str, object]]:
    return [e for e in aimock.journal() if e.get("path") == path]


def last_body(aimock: Aimock, path: str) -> dict[str, object]:
    entries = journal_entries(aimock, path)
    assert entries, f"aimock received nothing on {path}"
    body = entries[-1]["body"]
    return body if isinstance(body, dict) else json.loads(str(body))


def test_openai_sdk_prompt_reaches_upstream(gateway: WardenProcess, aimock: Aimock) -> None:
    result = sdk(gateway, "openai", "plain", "hello warden")
    assert result["text"] == GREETING
    body = last_body(aimock, "/v1/chat/completions")
    assert body["messages"] == [{"role": "user", "content": "hello warden"}]
    assert body["model"] == "gpt-4o-mini"


def test_openai_sdk_streaming(gateway: WardenProcess, aimock: Aimock) -> None:
    result = sdk(gateway, "openai", "stream", "stream please")
    assert result["text"] == STREAMED
    assert isinstance(result["events"], int) and result["events"] > 3
    assert last_body(aimock, "/v1/chat/completions")["stream"] is True


def test_anthropic_sdk_plain_and_stream(gateway: WardenProcess, aimock: Aimock) -> None:
    assert sdk(gateway, "anthropic", "plain", "hello warden")["text"] == GREETING
    streamed = sdk(gateway, "anthropic", "stream", "stream please")
    assert streamed["text"] == STREAMED
    assert isinstance(streamed["events"], int) and streamed["events"] > 3
    body = last_body(aimock, "/v1/messages")
    assert body["messages"] == [{"role": "user", "content": "stream please"}]


def test_upstream_sees_the_real_host_header(gateway: WardenProcess, aimock: Aimock) -> None:
    sdk(gateway, "openai", "plain", "hello warden")
    entry = journal_entries(aimock, "/v1/chat/completions")[-1]
    headers = {k.lower(): v for k, v in dict(entry.get("headers", {})).items()}  # type: ignore[call-overload]
    assert headers.get("host") == "api.openai.com"


def test_curl_through_the_proxy_and_metrics(gateway: WardenProcess) -> None:
    out = subprocess.run(
        [
            "curl",
            "-sS",
            "-D",
            "-",
            "--suppress-connect-headers",
            "--proxy",
            gateway.proxy_url,
            "--cacert",
            str(gateway.ca_cert),
            "https://api.openai.com/v1/chat/completions",
            "-H",
            "Content-Type: application/json",
            "-H",
            "Authorization: Bearer sk-test",
            "-d",
            json.dumps(
                {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello warden"}]}
            ),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env={k: v for k, v in os.environ.items() if "proxy" not in k.lower()},
    )
    assert out.returncode == 0, out.stderr
    head, _, body = out.stdout.partition("\n\n")  # text mode turned CRLF into LF
    assert head.startswith("HTTP/")
    assert " 200" in head.splitlines()[0]
    assert "x-warden-unsafe-test-routing: 1" in head.lower()
    assert GREETING in body
    metrics = gateway.metrics()
    line = next(
        x
        for x in metrics.splitlines()
        if x.startswith('warden_flows_total{host="api.openai.com",outcome="forwarded"}')
    )
    assert float(line.split()[-1]) >= 1
    assert 'warden_connects_total{decision="intercept"}' in metrics
    assert "warden_unsafe_test_routing 1.0" in metrics


def test_streaming_is_not_buffered(tmp_path: Path, aimock: Aimock) -> None:
    """With 150 ms between upstream SSE chunks, the first chunk reaches the client long
    before the last one: the proxy passes events on as they come."""
    from tests.peers import UNSAFE_ENV

    slow = Aimock(aimock_fixtures(), tmp_path / "slow-aimock.log")
    slow.argv = [*slow.argv, "-l", "150"]
    slow.start()
    warden = WardenProcess(
        tmp_path, {"unsafe_testing": {"route_catalog_hosts_to": slow.url}}, UNSAFE_ENV
    )
    try:
        warden.start()
        cmd = [
            "curl",
            "-sS",
            "-N",
            "--proxy",
            warden.proxy_url,
            "--cacert",
            str(warden.ca_cert),
            "https://api.openai.com/v1/chat/completions",
            "-H",
            "Content-Type: application/json",
            "-d",
            json.dumps(
                {
                    "model": "gpt-4o-mini",
                    "stream": True,
                    "messages": [{"role": "user", "content": "stream please"}],
                }
            ),
        ]
        start = time.monotonic()
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            env={k: v for k, v in os.environ.items() if "proxy" not in k.lower()},
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()
        t_first = time.monotonic() - start
        rest = proc.stdout.read()
        t_total = time.monotonic() - start
        proc.wait(10)
        assert first.startswith(b"data:")
        events = (first + rest).count(b"data:")
        assert events >= 5
        # The stream takes at least (events - 1) * 150 ms; the first event must not wait for it.
        assert t_total >= 0.15 * (events - 2)
        assert t_first < t_total - 0.15 * (events - 3), (t_first, t_total, events)
    finally:
        warden.stop()
        slow.stop()


def aimock_fixtures() -> Path:
    return Path(__file__).resolve().parents[1] / "fixtures" / "aimock"


def test_control_plane_serves_health_and_ca(gateway: WardenProcess) -> None:
    with urllib.request.urlopen(f"{gateway.control_url}/healthz", timeout=5) as r:
        health = json.load(r)
    assert health["status"] == "ok"
    assert health["unsafe_test_routing"] is True
    with urllib.request.urlopen(f"{gateway.control_url}/ca.pem", timeout=5) as r:
        served = r.read()
    assert served == gateway.ca_cert.read_bytes()
    assert b"PRIVATE KEY" not in served
    assert "unsafe test routing is on" in gateway.log().lower()


def test_proxy_tells_clients_where_the_portal_is(gateway: WardenProcess) -> None:
    out = subprocess.run(
        [
            "curl",
            "-sS",
            "--proxy",
            gateway.proxy_url,
            "http://warden.internal/.well-known/egress-warden",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env={k: v for k, v in os.environ.items() if "proxy" not in k.lower()},
    )
    assert json.loads(out.stdout) == {"portal": gateway.control_url, "proxy": gateway.proxy_url}


def test_control_plane_serves_the_pac_file(gateway: WardenProcess) -> None:
    with urllib.request.urlopen(f"{gateway.control_url}/proxy.pac", timeout=5) as r:
        pac = r.read().decode()
        assert r.headers["Content-Type"].startswith("application/x-ns-proxy-autoconfig")
    assert "function FindProxyForURL" in pac
    assert f"PROXY 127.0.0.1:{gateway.proxy_port}" in pac
    assert '"api.openai.com"' in pac and "DIRECT" in pac
