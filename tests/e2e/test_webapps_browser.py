"""The three web apps' conversations from a page in a real Chromium, through the gateway.

Chromium (Debian's, driven by playwright as in ``test_browser.py``) signs in once through
the portal as carol (globex), which binds her address; then on chatgpt.com, claude.ai
and gemini.google.com a page served by the replay backend (``webapp_replay.PAGES``)
makes its app's fetch calls in the app's order (ChatGPT: listing, requirements, prepare
and its conduit token, the conversation; Claude: create, then complete; Gemini:
batchexecute, then StreamGenerate) and shows the answer it read from the app's own
stream format. The policy redacts web-app prompts with a pseudonymizing profile and
allows the companion calls (``companion_calls``): each page shows the customer's name,
which never reached the backend.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import sync_playwright

from tests.e2e.test_browser import (
    CERTUTIL,
    CHROMIUM,
    WAIT_MS,
    signed_in_page,
)
from tests.e2e.test_identity import Bed, start_bed
from tests.e2e.webapp_replay import PAGE_PROMPT, WebAppReplay, answer_text
from tests.peers import Aimock

pytestmark = pytest.mark.e2e

NAME = "Jane Roe"
HOSTS = ("chatgpt.com", "claude.ai", "gemini.google.com")
POLICY = {
    "dlp_profiles": ["pii-basic"],
    "defaults": {
        "default_action": "block",
        "companion_calls": {host: "allow" for host in ("chatgpt-web", "claude-web", "gemini-web")},
    },
    "tenants": {
        "acme": {"rules": []},
        "globex": {
            "models": ["gpt-5*", "claude-*", "gemini-3-*"],
            "rules": [
                {
                    "id": "globex-webapps-redact",
                    "match": {"kind": "webapp"},
                    "action": "redact",
                    "dlp_profile": "pii-basic",
                }
            ],
        },
    },
}
PROFILES = {
    "pii-basic": {
        "on_error": "block",
        "custom": {"CUSTOMER": {"action": "pseudonymize", "deny_list": [NAME]}},
    }
}


@pytest.fixture
def bed(aimock: Aimock, tmp_path: Path) -> Iterator[tuple[Bed, WebAppReplay]]:
    if not CHROMIUM.exists() or CERTUTIL is None:
        pytest.fail("the browser e2e needs Debian's chromium and certutil (apt-get install)")
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(POLICY))
    (tmp_path / "profiles.yaml").write_text(yaml.safe_dump(PROFILES))
    with WebAppReplay() as replay:
        (tmp_path / "bed").mkdir()
        b = start_bed(
            tmp_path / "bed",
            aimock,
            surrogate=True,
            extra_config={
                "policy": {"file": str(tmp_path / "policy.yaml")},
                "dlp": {"profiles_file": str(tmp_path / "profiles.yaml"), "workers": 1},
            },
            routes={host: replay.url for host in HOSTS},
        )
        try:
            yield b, replay
        finally:
            b.warden.stop()
            b.idp.stop()


def test_each_app_page_converses_through_the_gateway_with_the_name_restored(
    bed: tuple[Bed, WebAppReplay], tmp_path: Path
) -> None:
    b, replay = bed
    shown: dict[str, str] = {}
    with sync_playwright() as pw, signed_in_page(pw, b, tmp_path) as page:
        for host in HOSTS:
            if page.url != f"https://{host}/":
                page.goto(f"https://{host}/", wait_until="load")
            page.click("#send")
            page.wait_for_function(
                "!['', '...'].includes(document.getElementById('answer').textContent)",
                timeout=WAIT_MS,
            )
            shown[host] = page.text_content("#answer") or ""

    expected = answer_text(NAME)
    assert shown == dict.fromkeys(HOSTS, expected), shown
    for host in HOSTS:
        posts = [r for r in replay.to(host, "/") if r.method == "POST"]
        assert len(posts) >= 2, f"{host}: the companion calls and the conversation"
        assert all(NAME.encode() not in r.body for r in posts), host
        assert any(b"CUSTOMER_1" in r.body for r in posts), host
    assert NAME in PAGE_PROMPT
