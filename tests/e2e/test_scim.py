"""SCIM deprovisioning end to end: the IdP's deactivation cuts access at once.

A person signs in with `warden login`'s device grant and uses the proxy; the IdP (here:
the test, speaking SCIM exactly as Microsoft Entra ID does) deactivates them; the very
next request on the same open connection is refused, well within a second."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.test_identity import Bed, device_login, start_bed
from tests.peers import Aimock

pytestmark = pytest.mark.e2e

CHAT = "https://api.openai.com/v1/chat/completions"
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello warden"}]}
SCIM = "application/scim+json"


@pytest.fixture(scope="module")
def bed(aimock: Aimock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    b = start_bed(
        tmp_path_factory.mktemp("scim"),
        aimock,
        surrogate=False,
        tenant_extra={"acme": {"scim": True, "scim_llm_access_groups": ["llm-users"]}},
    )
    yield b
    b.warden.stop()
    b.idp.stop()


def scim_token(bed: Bed, tenant: str) -> str:
    out = bed.warden.cli("scim", "token", "create", "--tenant", tenant)
    assert out.returncode == 0, out.stderr
    assert f"/scim/v2/{tenant}" in out.stdout
    return out.stdout.strip().rsplit(" ", 1)[1]


def test_cli_refuses_tenants_without_scim(bed: Bed) -> None:
    out = bed.warden.cli("scim", "token", "create", "--tenant", "globex")
    assert out.returncode != 0 and "has no SCIM enabled" in out.stderr


def test_deactivation_cuts_access_within_a_second(bed: Bed) -> None:
    token = scim_token(bed, "acme")
    api = httpx.Client(
        base_url=f"{bed.warden.control_url}/scim/v2/acme",
        timeout=10,
        headers={"Authorization": f"Bearer {token}", "Content-Type": SCIM},
    )
    created = api.post(
        "/Users",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "alice@acme.example",
            "externalId": "alice",
            "active": True,
            "emails": [{"value": "alice@acme.example", "type": "work", "primary": True}],
        },
    )
    assert created.status_code == 201, created.text
    uid = created.json()["id"]
    # The tenant lets only members of llm-users use LLMs.
    group = api.post(
        "/Groups",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "llm-users",
            "members": [{"value": uid}],
        },
    )
    assert group.status_code == 201, group.text

    login = device_login(bed, "alice", "dev-alice-password")
    proxy = bed.warden.proxy_url.replace("http://", f"http://device:{login['credential']}@")
    ctx = ssl.create_default_context(cafile=str(bed.warden.ca_cert))
    with httpx.Client(proxy=proxy, verify=ctx, timeout=10, trust_env=False) as client:
        assert client.post(CHAT, json=BODY).status_code == 200
        # Entra ID's deactivation: capitalised op, boolean as a string, no path.
        patch = api.patch(
            f"/Users/{uid}",
            json={
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
            },
        )
        assert patch.status_code == 200, patch.text
        t0 = time.monotonic()
        refused = client.post(CHAT, json=BODY)
        elapsed = time.monotonic() - t0
    assert refused.status_code == 407
    assert "warden login" in refused.json()["error"]["message"]
    assert elapsed < 1.0

    # A new sign-in of the deactivated person is refused.
    start = httpx.post(f"{bed.warden.control_url}/portal/device/start", json={}, timeout=10).json()
    bed.idp.approve_device(start["user_code"], "alice", "dev-alice-password")
    deadline = time.monotonic() + 20
    status: dict = {}
    while time.monotonic() < deadline:
        time.sleep(start["interval"] + 0.2)
        status = httpx.post(
            f"{bed.warden.control_url}/portal/device/poll",
            json={"handle": start["handle"]},
            timeout=10,
        ).json()
        if status["status"] not in ("pending", "slow_down"):
            break
    assert (
        status["status"] == "denied" and "removed by your company's directory" in status["message"]
    )

    # Reactivation does not revive the old credential.
    api.patch(
        f"/Users/{uid}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": True}}],
        },
    )
    with httpx.Client(proxy=proxy, verify=ctx, timeout=10, trust_env=False) as client:
        assert client.post(CHAT, json=BODY).status_code == 407
    events = bed.warden.cli("audit", "export", "--tenant", "acme").stdout
    assert '"scim.user.deactivated"' in events and '"scim.access_cut"' in events


def test_other_tenants_token_sees_nothing(bed: Bed) -> None:
    token = scim_token(bed, "acme")
    r = httpx.get(
        f"{bed.warden.control_url}/scim/v2/globex/Users",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert r.status_code == 404
