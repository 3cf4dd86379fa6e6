"""Browser SSO end to end with a real browser: Debian's Chromium driven by playwright.

Chromium uses the gateway as its proxy for everything but loopback, trusts the warden CA
through an NSS database in its own ``$HOME`` (never ``--ignore-certificate-errors``: the
CA chain is part of what is tested), opens ``https://chatgpt.com/`` (routed by the test-only
``unsafe_testing.routes`` to a loopback fixture), is sent to the portal, signs in at the
dev IdP (oidc-provider) as carol, lands back on the page, and the page's own request to
``/backend-api/conversation`` reaches the fixture without any credential or portal
cookie, and the audit trail attributes it to carol.

Needs ``/usr/bin/chromium`` (apt ``chromium``), ``certutil`` (apt ``libnss3-tools``) and
the ``playwright`` Python package; ``playwright install`` is not used.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from playwright.sync_api import Page, Playwright, Response, sync_playwright

from tests.e2e.test_identity import PORTAL_SECRET, Bed, identity_config
from tests.e2e.webapp_fixture import ANSWER, CONVERSATION_PATH, PROMPT, TITLE, WebAppFixture
from tests.identity.devidp import DevIdp, portal_client, public_client
from tests.peers import UNSAFE_ENV, Aimock, WardenProcess
from warden.audit import AuditRecord
from warden.audit.reader import select_records

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CERTUTIL = shutil.which("certutil")
LAUNCH_ARGS = [
    "--no-sandbox",  # the tests run as root in CI containers
    "--disable-gpu",
    "--disable-quic",  # QUIC would skip an HTTP proxy anyway; keep it to TCP
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: The portal and the IdP are on loopback and must be reached directly. Chromium bypasses
#: the proxy for loopback by default; naming 127.0.0.1 also keeps playwright from adding
#: ``<-loopback>`` (which would send loopback through the proxy).
PROXY_BYPASS = "127.0.0.1,localhost"
WAIT_MS = 15_000


def start_browser_bed(
    tmp: Path,
    aimock: Aimock,
    webapp: WebAppFixture,
    extra_config: dict | None = None,
) -> Bed:
    """The identity bed of test_identity with surrogate binding on and chatgpt.com routed
    to the web-app fixture (every other catalog host still goes to aimock)."""
    (tmp / "warden").mkdir()
    warden = WardenProcess(
        tmp / "warden",
        {
            "unsafe_testing": {
                "route_catalog_hosts_to": aimock.url,
                "routes": {"chatgpt.com": webapp.url},
            }
        },
        env={**UNSAFE_ENV, "WARDEN_TEST_PORTAL_SECRET": PORTAL_SECRET},
    )
    idp = DevIdp(
        tmp / "idp",
        clients=[
            public_client("warden-cli"),
            portal_client(
                "warden-portal", PORTAL_SECRET, [f"{warden.control_url}/portal/callback"]
            ),
        ],
    )
    idp.start()
    config = yaml.safe_load(warden.config_path.read_text())
    config["identity"] = identity_config(idp, warden, surrogate=True)
    config.update(extra_config or {})
    warden.config_path.write_text(yaml.safe_dump(config))
    try:
        warden.start()
    except Exception:
        idp.stop()
        raise
    return Bed(idp, warden, aimock)


def audit_records(warden: WardenProcess) -> list[AuditRecord]:
    db = warden.workdir / "state" / "audit" / "audit.db"
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return [stored.record for stored in select_records(conn)]


def trusting_home(home: Path, ca_pem: Path) -> Path:
    """A ``$HOME`` whose NSS database (``~/.pki/nssdb``, where Chromium on Linux keeps the
    user's trust settings) trusts the warden CA to issue server certificates."""
    assert CERTUTIL is not None
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    db = f"sql:{nssdb}"
    for argv in (
        [CERTUTIL, "-d", db, "-N", "--empty-password"],
        [CERTUTIL, "-d", db, "-A", "-t", "C,,", "-n", "egress-warden-test-ca", "-i", str(ca_pem)],
    ):
        subprocess.run(argv, check=True, capture_output=True, timeout=30)
    return home


@contextmanager
def signed_in_page(pw: Playwright, b: Bed, tmp_path: Path) -> Iterator[Page]:
    """Chromium trusting the gateway's CA, through its proxy, that opened chatgpt.com and
    signed in at the portal as carol on the way (the dev IdP's login form); the page is
    back on the app when this yields."""
    home = trusting_home(tmp_path / "home", b.warden.ca_cert)
    env: dict[str, str | float | bool] = {
        k: v for k, v in os.environ.items() if "proxy" not in k.lower()
    }
    env["HOME"] = str(home)
    context = pw.chromium.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=str(CHROMIUM),
        headless=True,
        args=LAUNCH_ARGS,
        env=env,
        proxy={"server": b.warden.proxy_url, "bypass": PROXY_BYPASS},
        timeout=30_000,
    )
    try:
        context.set_default_timeout(WAIT_MS)
        page = context.pages[0] if context.pages else context.new_page()
        page.goto("https://chatgpt.com/", wait_until="domcontentloaded")
        page.wait_for_selector("input[name=password]")
        page.fill("input[name=username]", "carol")
        page.fill("input[name=password]", "dev-carol-password")
        with page.expect_navigation(url="https://chatgpt.com/", wait_until="load"):
            page.click("button[type=submit], input[type=submit]")
        yield page
    finally:
        context.close()


@pytest.fixture
def webapp() -> Iterator[WebAppFixture]:
    with WebAppFixture() as app:
        yield app


@pytest.fixture
def browser_bed(aimock: Aimock, webapp: WebAppFixture, tmp_path: Path) -> Iterator[Bed]:
    if not CHROMIUM.exists() or CERTUTIL is None:
        pytest.fail(
            "the browser e2e needs Debian's chromium and certutil: "
            "apt-get install chromium libnss3-tools"
        )
    b = start_browser_bed(tmp_path, aimock, webapp)
    yield b
    b.warden.stop()
    b.idp.stop()


def test_browser_signs_in_through_the_portal_and_the_app_is_attributed(
    browser_bed: Bed, webapp: WebAppFixture, tmp_path: Path
) -> None:
    b = browser_bed
    portal = b.warden.control_url
    home = trusting_home(tmp_path / "home", b.warden.ca_cert)
    # Chromium must not pick up a proxy from the environment, and finds its NSS DB in HOME.
    env: dict[str, str | float | bool] = {
        k: v for k, v in os.environ.items() if "proxy" not in k.lower()
    }
    env["HOME"] = str(home)

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=LAUNCH_ARGS,
            env=env,
            proxy={"server": b.warden.proxy_url, "bypass": PROXY_BYPASS},
            timeout=30_000,
        )
        try:
            context.set_default_timeout(WAIT_MS)
            page = context.pages[0] if context.pages else context.new_page()
            # Every top-level document the browser got (redirects included), with the
            # port it came from: the proxy's, or the portal's / IdP's own (direct).
            documents: list[tuple[str, int | None]] = []

            def on_response(response: Response) -> None:
                if response.request.is_navigation_request():
                    addr = response.server_addr()
                    documents.append((response.url, addr["port"] if addr else None))

            page.on("response", on_response)

            # 1. The gateway sends the unauthenticated navigation to the portal, the portal
            #    to the IdP, whose login form is shown.
            page.goto("https://chatgpt.com/", wait_until="domcontentloaded")
            page.wait_for_selector("input[name=password]")
            assert page.url.startswith(b.idp.issuer + "/"), page.url
            login = f"{portal}/portal/login?next={quote('https://chatgpt.com/', safe='')}"
            assert documents[:2] == [
                ("https://chatgpt.com/", b.warden.proxy_port),
                (login, b.warden.control_port),
            ], documents
            # Loopback (portal, IdP) went direct, not through the proxy.
            assert all(port == b.idp.port for _, port in documents[2:]), documents
            assert not webapp.requests_to("/"), "the app was reached before sign-in"

            # 2. Sign in as carol; consent is automatic; the portal callback sends the
            #    browser back to the page it wanted.
            page.fill("input[name=username]", "carol")
            page.fill("input[name=password]", "dev-carol-password")
            with page.expect_navigation(url="https://chatgpt.com/", wait_until="load"):
                page.click("button[type=submit], input[type=submit]")
            assert page.url == "https://chatgpt.com/"
            assert page.title() == TITLE
            assert any(
                url.startswith(f"{portal}/portal/callback?") and port == b.warden.control_port
                for url, port in documents
            ), documents
            assert documents[-1] == ("https://chatgpt.com/", b.warden.proxy_port), documents
            assert "login.ok tenant=globex sub=carol method=oidc" in b.warden.log()

            # 3. The page's own API call goes through the gateway, attributed to carol by
            #    the address the login bound.
            page.click("#send")
            page.wait_for_function(
                "document.getElementById('answer').textContent.length > 3", timeout=WAIT_MS
            )
            assert page.text_content("#answer") == ANSWER

            shot = tmp_path / "chatgpt-fixture.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            context.close()

    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and shot.stat().st_size > 1000

    (post,) = webapp.requests_to(CONVERSATION_PATH)
    assert post.method == "POST"
    assert post.headers["host"] == "chatgpt.com"
    body = post.json()
    assert body["action"] == "next" and body["model"] == "gpt-4o"
    assert body["messages"][0]["content"]["parts"] == [PROMPT]
    assert body["messages"][0]["author"] == {"role": "user"}
    # No credential and no portal cookie left the gateway.
    assert "proxy-authorization" not in post.headers
    assert "warden_session" not in post.headers.get("cookie", "")
    assert "warden_login" not in post.headers.get("cookie", "")
    assert not any(name.startswith(("x-forwarded-", "x-auth-request")) for name in post.headers)
    # The page itself was fetched once, after sign-in, through the gateway.
    (home_page,) = webapp.requests_to("/")
    assert home_page.headers["host"] == "chatgpt.com"
    # The audit trail, committed before each response was released: the first navigation
    # was refused and sent to the portal; the page's conversation request was carol's,
    # known by the address her login bound.
    flows = [r for r in audit_records(b.warden) if r.kind == "flow"]
    assert (flows[0].outcome, flows[0].status) == ("unauthenticated", 302), flows[0]
    (conversation,) = [
        r
        for r in flows
        if r.destination is not None
        and r.destination.api == "chatgpt.conversation"
        and r.details.get("phase") == "stream_start"
    ]
    assert conversation.tenant == "globex" and conversation.outcome == "allowed"
    assert conversation.destination is not None and conversation.destination.model == "gpt-4o"
    who = conversation.principal
    assert who is not None
    assert (who.issuer, who.subject, who.auth_method) == (b.idp.issuer, "carol", "surrogate")


BLOCK_REASON = "Globex uses the approved API tools only; public AI chats are not allowed."


def test_blocked_web_app_shows_the_block_page_in_chromium(
    aimock: Aimock, webapp: WebAppFixture, tmp_path: Path
) -> None:
    """Issue 5: a web-app flow the policy blocks gets the HTML block page (company, reason,
    rule, whom to ask), rendered by a real Chromium and captured as a screenshot."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        yaml.safe_dump(
            {
                "defaults": {"default_action": "block"},
                "tenants": {
                    "acme": {
                        "rules": [{"id": "acme-allow", "match": {"kind": "api"}, "action": "allow"}]
                    },
                    "globex": {
                        "rules": [
                            {
                                "id": "globex-no-webapps",
                                "match": {"kind": "webapp"},
                                "action": "block",
                                "reason": BLOCK_REASON,
                            }
                        ]
                    },
                },
            }
        )
    )
    (tmp_path / "bed").mkdir()
    b = start_browser_bed(tmp_path / "bed", aimock, webapp, {"policy": {"file": str(policy)}})
    shot = tmp_path / "block-page.png"
    try:
        with sync_playwright() as pw, signed_in_page(pw, b, tmp_path) as page:
            text = page.inner_text("body")
            assert BLOCK_REASON in text
            assert "globex-no-webapps" in text and "it@acme.example" in text
            assert page.title() != TITLE
            page.screenshot(path=str(shot), full_page=True)
    finally:
        b.warden.stop()
        b.idp.stop()
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and shot.stat().st_size > 1000
    assert not webapp.requests_to("/"), "the blocked app was reached"
