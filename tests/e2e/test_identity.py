"""Every flow bound to a person, end to end against the real dev IdP (oidc-provider).

Device login (RFC 8628) through the portal, the device credential as proxy credentials
for the openai SDK, a service JWT from the IdP as ``Proxy-Authorization: Bearer``, a
browser-style portal login binding the source address, and the attacks that must fail.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import yaml

from tests.identity.devidp import DevIdp, portal_client, public_client, service_client
from tests.peers import UNSAFE_ENV, Aimock, WardenProcess, wait_until

pytestmark = pytest.mark.e2e

CLIENT = Path(__file__).parent / "clients" / "sdk_client.py"
PORTAL_SECRET = "dev-portal-secret-for-tests"
SERVICE_ID, SERVICE_SECRET = "acme-batch", "dev-service-secret"
GLOBEX_SERVICE = "globex-batch"
GREETING = "Hello from the mock upstream. How can I help?"


@dataclass
class Bed:
    idp: DevIdp
    warden: WardenProcess
    aimock: Aimock


def identity_config(
    idp: DevIdp,
    warden: WardenProcess,
    surrogate: bool,
    tenant_extra: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    extra = tenant_extra or {}
    return {
        "mode": "enforce",
        "portal": {
            "public_url": warden.control_url,
            "surrogate": {"networks": ["127.0.0.0/8"] if surrogate else [], "ttl_minutes": 5},
            "company": "Acme Test",
            "recheck_seconds": 2,
            "help_contact": "it@acme.example",
        },
        "identity_providers": [
            {
                "id": "dev",
                "issuer": idp.issuer,
                "client_id": "warden-portal",
                "client_secret_env": "WARDEN_TEST_PORTAL_SECRET",
                "device_client_id": "warden-cli",
                "scopes": ["openid", "email", "profile", "warden", "offline_access"],
                "tenant_claim": "tenant",
                "service_tokens": {"audience": "urn:egress-warden:proxy", "algorithms": ["RS256"]},
            }
        ],
        "tenants": [
            {
                "id": "acme",
                "display_name": "Acme",
                "identity_providers": ["dev"],
                "reviewer_groups": ["eng"],
                **extra.get("acme", {}),
            },
            {
                "id": "globex",
                "display_name": "Globex",
                "identity_providers": ["dev"],
                **extra.get("globex", {}),
            },
        ],
    }


def start_bed(
    tmp: Path,
    aimock: Aimock,
    surrogate: bool,
    *,
    extra_config: dict[str, Any] | None = None,
    extra_clients: list[dict[str, Any]] | None = None,
    routes: dict[str, str] | None = None,
    tenant_extra: dict[str, dict[str, Any]] | None = None,
    workers: int = 1,
) -> Bed:
    (tmp / "warden").mkdir()
    warden = WardenProcess(
        tmp / "warden",
        {"unsafe_testing": {"route_catalog_hosts_to": aimock.url}},
        env={**UNSAFE_ENV, "WARDEN_TEST_PORTAL_SECRET": PORTAL_SECRET},
        workers=workers,
    )
    idp = DevIdp(
        tmp / "idp",
        clients=[
            public_client("warden-cli"),
            portal_client(
                "warden-portal",
                PORTAL_SECRET,
                [f"{warden.control_url}/portal/callback"],
                backchannel_logout_uri=f"{warden.control_url}/portal/backchannel-logout",
            ),
            service_client(SERVICE_ID, SERVICE_SECRET, {"tenant": "acme", "department": "batch"}),
            service_client(GLOBEX_SERVICE, SERVICE_SECRET, {"tenant": "initech"}),
            *(extra_clients or []),
        ],
    )
    idp.start()
    config = yaml.safe_load(warden.config_path.read_text())
    config["identity"] = identity_config(idp, warden, surrogate, tenant_extra)
    if routes:
        config["unsafe_testing"]["routes"] = routes
    config.update(extra_config or {})
    warden.config_path.write_text(yaml.safe_dump(config))
    try:
        warden.start()
    except Exception:
        idp.stop()
        raise
    return Bed(idp, warden, aimock)


@pytest.fixture(scope="module")
def bed(aimock: Aimock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    b = start_bed(tmp_path_factory.mktemp("ident"), aimock, surrogate=False)
    yield b
    b.warden.stop()
    b.idp.stop()


def device_login(bed: Bed, username: str, password: str) -> dict[str, Any]:
    portal = bed.warden.control_url
    start = httpx.post(f"{portal}/portal/device/start", json={"label": "test"}, timeout=10)
    assert start.status_code == 200, start.text
    grant = start.json()
    pending = httpx.post(
        f"{portal}/portal/device/poll", json={"handle": grant["handle"]}, timeout=10
    ).json()
    assert pending["status"] in ("pending", "slow_down")
    bed.idp.approve_device(grant["user_code"], username, password)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(grant["interval"] if pending["status"] == "pending" else pending["interval"])
        pending = httpx.post(
            f"{portal}/portal/device/poll", json={"handle": grant["handle"]}, timeout=10
        ).json()
        if pending["status"] == "ok":
            pending["handle"] = grant["handle"]
            return dict(pending)
        assert pending["status"] in ("pending", "slow_down"), pending
    raise AssertionError("device login did not complete")


def sdk_env(bed: Bed, credential: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    proxy = bed.warden.proxy_url
    if credential is not None:
        proxy = proxy.replace("http://", f"http://device:{credential}@")
    env.update(HTTPS_PROXY=proxy, SSL_CERT_FILE=str(bed.warden.ca_cert), OPENAI_API_KEY="sk-test")
    return env


def openai_call(bed: Bed, credential: str | None, prompt: str = "hello warden") -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(CLIENT), "openai", "plain", prompt],
        env=sdk_env(bed, credential),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return dict(json.loads(out.stdout))


def curl(bed: Bed, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return subprocess.run(
        [
            "curl",
            "-sS",
            "--suppress-connect-headers",
            "-D",
            "-",
            "--proxy",
            bed.warden.proxy_url,
            "--cacert",
            str(bed.warden.ca_cert),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )


CHAT = [
    "https://api.openai.com/v1/chat/completions",
    "-H",
    "Content-Type: application/json",
    "-d",
    json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello warden"}]}),
]


def test_without_credentials_the_sdk_is_told_how_to_sign_in(bed: Bed) -> None:
    before = len(bed.aimock.journal())
    result = openai_call(bed, None)
    assert result["error"] == "APIStatusError", result
    assert "Error code: 407" in result["message"]
    assert "warden login --proxy" in result["message"]
    assert len(bed.aimock.journal()) == before  # nothing went upstream


def test_device_login_then_sdk_call_is_attributed(bed: Bed) -> None:
    before = len(bed.aimock.journal())
    login = device_login(bed, "alice", "dev-alice-password")
    assert login["credential"].startswith("wdc_")
    assert login["user"] == {"email": "alice@acme.example", "tenant": "acme", "department": "eng"}
    result = openai_call(bed, login["credential"])
    assert result.get("text") == GREETING, result
    entries = bed.aimock.journal()[before:]
    assert len(entries) == 1
    headers = {k.lower(): v for k, v in entries[0]["headers"].items()}
    # The credential never leaves the gateway.
    assert "proxy-authorization" not in headers
    assert login["credential"] not in json.dumps(entries[0])
    assert "login.ok tenant=acme sub=alice method=device" in bed.warden.log()
    # The audit trail has the login, the credential and the attributed flow.
    out = bed.warden.cli("audit", "export", "--tenant", "acme")
    records = [json.loads(line)["record"] for line in out.stdout.splitlines()]
    events = {(r["event"], r["principal"]["subject"]) for r in records if r["kind"] == "auth"}
    assert {("login.ok", "alice"), ("credential.issued", "alice")} <= events
    flows = [r for r in records if r["kind"] == "flow" and r["principal"]["subject"] == "alice"]
    assert flows and flows[-1]["principal"]["auth_method"] == "device"
    assert flows[-1]["principal"]["department"] == "eng" and flows[-1]["outcome"] == "allowed"
    assert login["credential"] not in out.stdout


def test_device_code_cannot_be_used_twice(bed: Bed) -> None:
    login = device_login(bed, "bob", "dev-bob-password")
    again = httpx.post(
        f"{bed.warden.control_url}/portal/device/poll", json={"handle": login["handle"]}, timeout=10
    )
    assert again.status_code == 400
    assert again.json()["status"] == "expired"


def test_revoked_credential_is_refused_at_once(bed: Bed) -> None:
    login = device_login(bed, "alice", "dev-alice-password")
    assert openai_call(bed, login["credential"]).get("text") == GREETING
    revoke = httpx.post(
        f"{bed.warden.control_url}/portal/device/revoke",
        json={"credential": login["credential"]},
        timeout=10,
    )
    assert revoke.json() == {"revoked": True}
    refused = openai_call(bed, login["credential"])
    assert "error" in refused and "warden login" in refused["message"]


def test_revocation_cuts_an_open_connection(bed: Bed) -> None:
    """One keep-alive tunnel: the first request passes, the credential is revoked, the
    second request on the same connection is refused."""
    login = device_login(bed, "alice", "dev-alice-password")
    proxy = bed.warden.proxy_url.replace("http://", f"http://device:{login['credential']}@")
    with httpx.Client(proxy=proxy, verify=str(bed.warden.ca_cert), timeout=10) as client:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello warden"}]}
        first = client.post("https://api.openai.com/v1/chat/completions", json=body)
        assert first.status_code == 200
        httpx.post(
            f"{bed.warden.control_url}/portal/device/revoke",
            json={"credential": login["credential"]},
            timeout=10,
        )
        second = client.post("https://api.openai.com/v1/chat/completions", json=body)
        assert second.status_code == 407
        assert second.json()["error"]["code"] == "warden_unauthenticated"


def test_bad_device_credential_is_refused_at_connect(bed: Bed) -> None:
    out = curl(bed, "--proxy-user", "device:wdc_not-a-real-credential", *CHAT)
    assert out.returncode != 0 or " 407" in out.stdout
    assert (
        "credential.rejected" in bed.warden.log()
        and "device_credential_invalid" in bed.warden.log()
    )


def test_service_jwt_from_the_idp_is_accepted(bed: Bed) -> None:
    token = bed.idp.client_credentials_token(SERVICE_ID, SERVICE_SECRET, "urn:egress-warden:proxy")
    out = curl(bed, "--proxy-header", f"Proxy-Authorization: Bearer {token}", *CHAT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("HTTP/") and " 200" in out.stdout.splitlines()[0]
    assert GREETING in out.stdout


@pytest.mark.parametrize("attack", ["alg_none", "tampered", "id_token", "other_tenant"])
def test_service_jwt_attacks_fail(bed: Bed, attack: str) -> None:
    good = bed.idp.client_credentials_token(SERVICE_ID, SERVICE_SECRET, "urn:egress-warden:proxy")
    head, payload, sig = good.split(".")
    if attack == "alg_none":
        none_head = (
            base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "at+jwt"}).encode())
            .rstrip(b"=")
            .decode()
        )
        token = f"{none_head}.{payload}."
    elif attack == "tampered":
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["sub"] = "root"
        token = f"{head}.{base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b'=').decode()}.{sig}"
    elif attack == "id_token":
        token = portal_id_token(bed)
    else:  # a token whose tenant claim names a tenant that does not trust this IdP
        token = bed.idp.client_credentials_token(
            GLOBEX_SERVICE, SERVICE_SECRET, "urn:egress-warden:proxy"
        )
    out = curl(bed, "--proxy-header", f"Proxy-Authorization: Bearer {token}", *CHAT)
    assert GREETING not in out.stdout
    assert "credential.rejected" in bed.warden.log()


def portal_id_token(bed: Bed) -> str:
    """An ID token for the portal client, obtained the way the portal would."""
    from tests.identity.devidp import pkce_pair

    verifier, challenge = pkce_pair()
    redirect = f"{bed.warden.control_url}/portal/callback"
    with httpx.Client(timeout=10) as c:
        url = bed.idp.authorize_url("warden-portal", redirect, challenge, nonce="n-1")
        location = bed.idp.password_login(c, url, "alice", "dev-alice-password")
        code = parse_qs(urlsplit(location).query)["code"][0]
        r = c.post(
            bed.idp.endpoint("token"),
            auth=("warden-portal", PORTAL_SECRET),
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect,
                "code_verifier": verifier,
            },
        )
        return str(r.json()["id_token"])


def test_identity_headers_and_portal_cookies_are_stripped(bed: Bed) -> None:
    token = bed.idp.client_credentials_token(SERVICE_ID, SERVICE_SECRET, "urn:egress-warden:proxy")
    before = len(bed.aimock.journal())
    out = curl(
        bed,
        "--proxy-header",
        f"Proxy-Authorization: Bearer {token}",
        "-H",
        "X-Forwarded-User: admin",
        "-H",
        "X_Auth_Request_Email: ceo@acme.example",
        "-H",
        "x-auth-request-user: admin",
        "-H",
        "Remote-User: admin",
        "-H",
        "Cookie: __Host-warden_session=stolen; warden_session=x; keep=1",
        *CHAT,
    )
    assert GREETING in out.stdout
    (entry,) = bed.aimock.journal()[before:]
    headers = {k.lower(): v for k, v in entry["headers"].items()}
    assert not {
        "x-forwarded-user",
        "x_auth_request_email",
        "x-auth-request-email",
        "x-auth-request-user",
        "remote-user",
        "proxy-authorization",
    } & set(headers)
    assert headers.get("cookie") == "keep=1"


def test_portal_errors_are_pages_not_stack_traces(bed: Bed) -> None:
    portal = bed.warden.control_url
    r = httpx.get(f"{portal}/portal/callback", params={"state": "forged", "code": "x"}, timeout=10)
    assert r.status_code == 400 and "no longer valid" in r.text and "Traceback" not in r.text
    # An error from the IdP on a real attempt: a clear page.
    with httpx.Client(timeout=10) as c:
        start = c.get(f"{portal}/portal/login", params={"next": "https://chatgpt.com/"})
        assert start.status_code == 302
        state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
        r = c.get(f"{portal}/portal/callback", params={"state": state, "error": "access_denied"})
        assert r.status_code == 400 and "did not sign you in (access_denied)" in r.text


@pytest.mark.parametrize(
    "newline,source",
    [("\n", 11), ("\r\n", 12), ("\r", 13), ("\u2028", 14), ("\x85", 15)],
    ids=["lf", "crlf", "cr", "u2028", "nel"],
)
def test_a_callback_error_cannot_forge_a_log_line(bed: Bed, newline: str, source: int) -> None:
    """Issue 19 (9): the IdP's `error` on the callback is the attacker's text; it is logged
    (login.failed reason=idp_error:...), and must stay inside its own line. Each case comes
    from its own loopback address: anonymous failures from one source are logged once a
    minute (then counted, issue 19, 7)."""
    portal = bed.warden.control_url
    marker = f"FORGED{secrets.token_hex(4)}"
    forged = f"x{newline}{marker} INFO login.ok"  # the reason keeps 40 characters
    transport = httpx.HTTPTransport(local_address=f"127.0.0.{source}")
    with httpx.Client(timeout=10, transport=transport) as c:
        start = c.get(f"{portal}/portal/login", params={"next": "https://chatgpt.com/"})
        state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
        r = c.get(f"{portal}/portal/callback", params={"state": state, "error": forged})
        assert r.status_code == 400
    wait_until(lambda: marker in bed.warden.log(), 30, "the failed login in the log")
    lines = [ln for ln in bed.warden.log().splitlines() if marker in ln]
    assert len(lines) == 1 and "login.failed" in lines[0], lines


def test_browser_login_binds_the_address_and_replay_fails(aimock: Aimock, tmp_path: Path) -> None:
    b = start_bed(tmp_path, aimock, surrogate=True)
    try:
        portal = b.warden.control_url
        # Before login: a navigation to a web app is sent to the portal.
        nav = curl(b, "-H", "Accept: text/html", "https://chatgpt.com/c/123")
        assert " 302" in nav.stdout.splitlines()[0]
        assert (
            f"location: {portal}/portal/login?next=https%3A%2F%2Fchatgpt.com%2Fc%2F123\n"
            in nav.stdout
        )
        with httpx.Client(timeout=10) as c:
            start = c.get(f"{portal}/portal/login", params={"next": "https://chatgpt.com/c/123"})
            callback = b.idp.password_login(
                c, start.headers["location"], "carol", "dev-carol-password"
            )
            done = c.get(callback)
            assert done.status_code == 302
            assert done.headers["location"] == "https://chatgpt.com/c/123"
            cookie = done.headers.get("set-cookie", "")
            # http on loopback (development): no __Host- prefix, still HttpOnly and Lax.
            assert (
                cookie.startswith("warden_session=")
                and "HttpOnly" in cookie
                and "SameSite=Lax" in cookie
            )
            # The same callback again (a replay) is refused.
            replay = c.get(callback)
            assert replay.status_code == 400
        # Now the address is bound: an API call without credentials is attributed to carol.
        out = curl(b, *CHAT)
        assert GREETING in out.stdout
        assert "login.ok tenant=globex sub=carol method=oidc" in b.warden.log()
        # Open redirect attempts end on the portal, not elsewhere.
        with httpx.Client(timeout=10) as c:
            for evil in ("//evil.example/", "https://chatgpt.com.evil.example/", "/\\evil.example"):
                start = c.get(f"{portal}/portal/login", params={"next": evil})
                callback = b.idp.password_login(
                    c, start.headers["location"], "carol", "dev-carol-password"
                )
                assert c.get(callback).headers["location"] == "/portal/"
        # OIDC back-channel logout from the IdP ends carol's sessions and the binding.
        assert GREETING in curl(b, *CHAT).stdout
        b.idp.logout("carol")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "logout.backchannel " not in b.warden.log():
            time.sleep(0.2)
        assert "logout.backchannel " in b.warden.log()
        after = curl(b, *CHAT)
        assert GREETING not in after.stdout and " 407" in after.stdout.splitlines()[0]
    finally:
        b.warden.stop()
        b.idp.stop()


def test_idp_down_keeps_sessions_and_explains_new_logins(aimock: Aimock, tmp_path: Path) -> None:
    b = start_bed(tmp_path, aimock, surrogate=False)
    try:
        login = device_login(b, "alice", "dev-alice-password")
        b.idp.stop()
        assert openai_call(b, login["credential"]).get("text") == GREETING
        r = httpx.get(f"{b.warden.control_url}/portal/login", timeout=10)
        assert r.status_code == 503 and "Identity provider unreachable" in r.text
        r = httpx.post(f"{b.warden.control_url}/portal/device/start", json={}, timeout=10)
        assert r.status_code == 503 and r.json()["error"] == "idp_unreachable"
    finally:
        b.warden.stop()
        b.idp.stop()


def test_admin_api_revokes_in_the_running_gateway(bed: Bed) -> None:
    """The console's path: a revocation through the control plane's admin API cuts the
    user's credential at once; a wrong token or another tenant changes nothing."""
    login = device_login(bed, "bob", "dev-bob-password")
    assert openai_call(bed, login["credential"]).get("text") == GREETING
    token = (bed.warden.workdir / "state" / "admin.token").read_text().strip()
    assert (bed.warden.workdir / "state" / "admin.token").stat().st_mode & 0o777 == 0o600
    url = f"{bed.warden.control_url}/admin/sessions/revoke"
    bad = httpx.post(
        url,
        json={"tenant": "acme", "subject": "bob"},
        headers={"Authorization": "Bearer nope"},
        timeout=10,
    )
    assert bad.status_code == 401
    other = httpx.post(
        url,
        json={"tenant": "globex", "subject": "bob"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert other.json() == {"revoked": 0}
    assert openai_call(bed, login["credential"]).get("text") == GREETING
    ok = httpx.post(
        url,
        json={"tenant": "acme", "subject": "bob"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert ok.json()["revoked"] >= 1
    refused = openai_call(bed, login["credential"])
    assert "warden login" in refused.get("message", "")


def test_user_disabled_at_the_idp_loses_access_at_the_next_recheck(bed: Bed) -> None:
    login = device_login(bed, "dave", "dev-dave-password")
    assert openai_call(bed, login["credential"]).get("text") == GREETING
    bed.idp.disable("dave")
    try:
        deadline = time.monotonic() + 15
        refused: dict[str, Any] = {}
        while time.monotonic() < deadline:
            time.sleep(1)
            refused = openai_call(bed, login["credential"])
            if "error" in refused:
                break
        assert "warden login" in refused.get("message", ""), refused
        assert "session.ended tenant=acme sub=dave" in bed.warden.log()
    finally:
        bed.idp.enable("dave")


def test_sessions_cli_lists_and_revokes(bed: Bed) -> None:
    login = device_login(bed, "bob", "dev-bob-password")
    listed = bed.warden.cli("sessions", "list", "--tenant", "acme")
    assert "bob@acme.example" in listed.stdout and "device" in listed.stdout
    assert "globex" not in listed.stdout
    revoked = bed.warden.cli("sessions", "revoke", "--tenant", "acme", "--user", "bob")
    assert revoked.returncode == 0 and "in the running gateway" in revoked.stdout
    assert "warden login" in openai_call(bed, login["credential"]).get("message", "")


def test_whoami_names_the_reviewer_role_from_groups(bed: Bed) -> None:
    """`warden console --reviewer` opens a tenant only for members of its reviewer groups."""
    url = f"{bed.warden.control_url}/portal/whoami"
    alice = device_login(bed, "alice", "dev-alice-password")["credential"]
    who = httpx.get(url, headers={"Authorization": f"Bearer {alice}"}, timeout=10).json()
    assert (who["tenant"], who["subject"], who["roles"]) == ("acme", "alice", ["reviewer"])
    bob = device_login(bed, "bob", "dev-bob-password")["credential"]
    assert (
        httpx.get(url, headers={"Authorization": f"Bearer {bob}"}, timeout=10).json()["roles"] == []
    )
    assert (
        httpx.get(url, headers={"Authorization": "Bearer wdc_forged"}, timeout=10).status_code
        == 401
    )


def test_portal_links_the_employee_page(bed: Bed) -> None:
    home = httpx.get(f"{bed.warden.control_url}/portal/", timeout=10)
    assert "href='/portal/about'" in home.text
    about = httpx.get(f"{bed.warden.control_url}/portal/about", timeout=10)
    assert about.status_code == 200
    assert "What is recorded" in about.text and "<script" not in about.text
