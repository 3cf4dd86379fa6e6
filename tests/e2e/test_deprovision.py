"""Deprovisioning cuts open connections, whatever credential they signed in with.

One keep-alive connection through the proxy (one httpx client, and the test checks it is
the same TCP connection throughout) gets an answer; then the directory (SCIM, spoken as
Entra ID speaks it) deactivates the person, deletes them or removes them from the last
LLM access group, or the person logs out; the very next request on that connection is
refused with a readable reason and nothing of it reaches the upstream. The same holds when
a security reviewer revokes the person (the admin API the console uses). The table covers
device credentials (`warden login`), portal sessions (a browser's address bound to its
session) and service JWTs from the IdP; logout applies to the first two only (a service
token has no sign-out at the gateway: its IdP ends it by expiry).
"""

from __future__ import annotations

import json
import ssl
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.test_identity import SERVICE_ID, SERVICE_SECRET, Bed, device_login, start_bed
from tests.e2e.test_scim import scim_token
from tests.peers import Aimock

pytestmark = pytest.mark.e2e

CHAT = "https://api.openai.com/v1/chat/completions"
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello warden"}]}
SCIM = "application/scim+json"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@dataclass
class Directory:
    """The tenant's directory as the IdP drives it over SCIM."""

    api: httpx.Client
    group_id: str

    def provision(self, subject: str, email: str) -> str:
        created = self.api.post(
            "/Users",
            json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": email,
                "externalId": subject,
                "active": True,
                "emails": [{"value": email, "type": "work", "primary": True}],
            },
        )
        assert created.status_code == 201, created.text
        uid = str(created.json()["id"])
        added = self.api.patch(
            f"/Groups/{self.group_id}",
            json={
                "schemas": [PATCH],
                "Operations": [{"op": "Add", "path": "members", "value": [{"value": uid}]}],
            },
        )
        assert added.status_code in (200, 204), added.text
        return uid

    def deactivate(self, uid: str) -> None:
        r = self.api.patch(
            f"/Users/{uid}",
            json={
                "schemas": [PATCH],
                "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
            },
        )
        assert r.status_code == 200, r.text

    def delete(self, uid: str) -> None:
        r = self.api.delete(f"/Users/{uid}")
        assert r.status_code in (204, 404), r.text

    def remove_from_group(self, uid: str) -> None:
        r = self.api.patch(
            f"/Groups/{self.group_id}",
            json={
                "schemas": [PATCH],
                "Operations": [{"op": "Remove", "path": f'members[value eq "{uid}"]'}],
            },
        )
        assert r.status_code in (200, 204), r.text


@pytest.fixture(scope="module")
def bed(aimock: Aimock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    b = start_bed(
        tmp_path_factory.mktemp("deprovision"),
        aimock,
        surrogate=True,
        tenant_extra={"acme": {"scim": True, "scim_llm_access_groups": ["llm-users"]}},
    )
    yield b
    b.warden.stop()
    b.idp.stop()


def scim_directory(bed: Bed, timeout: float = 10) -> Iterator[Directory]:
    """acme's directory as its IdP drives it, with its ``llm-users`` group made (a fixture's
    body: yields the directory, closes its client after)."""
    api = httpx.Client(
        base_url=f"{bed.warden.control_url}/scim/v2/acme",
        timeout=timeout,
        headers={"Authorization": f"Bearer {scim_token(bed, 'acme')}", "Content-Type": SCIM},
    )
    group = api.post(
        "/Groups",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "llm-users",
        },
    )
    assert group.status_code == 201, group.text
    yield Directory(api, str(group.json()["id"]))
    api.close()


@pytest.fixture(scope="module")
def directory(bed: Bed) -> Iterator[Directory]:
    yield from scim_directory(bed)


@dataclass
class SignedIn:
    """A client signed in one way; ``logout`` ends that sign-in as the person would."""

    client: httpx.Client
    logout: Callable[[], None] | None


def _tls(bed: Bed) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(bed.warden.ca_cert))


def sign_in_device(bed: Bed) -> SignedIn:
    login = device_login(bed, "bob", "dev-bob-password")
    proxy = bed.warden.proxy_url.replace("http://", f"http://device:{login['credential']}@")
    client = httpx.Client(proxy=proxy, verify=_tls(bed), timeout=10, trust_env=False)

    def logout() -> None:  # `warden logout`
        r = httpx.post(
            f"{bed.warden.control_url}/portal/device/revoke",
            json={"credential": login["credential"]},
            timeout=10,
        )
        assert r.json() == {"revoked": True}

    return SignedIn(client, logout)


def sign_in_browser(bed: Bed) -> SignedIn:
    """The portal login binds this (loopback) address to bob's session; the proxy client
    itself sends no credentials."""
    portal = httpx.Client(timeout=10)
    start = portal.get(f"{bed.warden.control_url}/portal/login", params={"next": "/portal/"})
    done = portal.get(
        bed.idp.password_login(portal, start.headers["location"], "bob", "dev-bob-password")
    )
    assert done.status_code == 302, done.text
    client = httpx.Client(proxy=bed.warden.proxy_url, verify=_tls(bed), timeout=10, trust_env=False)

    def logout() -> None:  # the portal's "Sign out" button
        r = portal.post(f"{bed.warden.control_url}/portal/logout")
        assert r.status_code == 200 and "signed out" in r.text
        portal.close()

    return SignedIn(client, logout)


def sign_in_jwt(bed: Bed) -> SignedIn:
    token = bed.idp.client_credentials_token(SERVICE_ID, SERVICE_SECRET, "urn:egress-warden:proxy")
    transport = httpx.HTTPTransport(
        proxy=httpx.Proxy(bed.warden.proxy_url, headers={"Proxy-Authorization": f"Bearer {token}"}),
        verify=_tls(bed),
    )
    return SignedIn(httpx.Client(transport=transport, timeout=10, trust_env=False), None)


KINDS: dict[str, tuple[Callable[[Bed], SignedIn], str, str]] = {
    # kind: (sign in, the directory's subject, e-mail)
    "device": (sign_in_device, "bob", "bob@acme.example"),
    "session": (sign_in_browser, "bob", "bob@acme.example"),
    "jwt": (sign_in_jwt, SERVICE_ID, f"{SERVICE_ID}@acme.example"),
}
ACTIONS = ["deactivate", "delete", "group_removal", "logout", "reviewer_revoke"]


def reviewer_revoke(bed: Bed, subject: str) -> None:
    """A security reviewer revokes the person (the console's path: the admin API)."""
    token = (bed.warden.workdir / "state" / "admin.token").read_text().strip()
    r = httpx.post(
        f"{bed.warden.control_url}/admin/sessions/revoke",
        json={"tenant": "acme", "subject": subject},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text


def local_port(response: httpx.Response) -> int:
    """The client side's port of the TCP connection that carried ``response``."""
    stream = response.extensions["network_stream"]
    return int(stream.get_extra_info("client_addr")[1])


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("kind", list(KINDS))
def test_the_next_request_on_an_open_connection_is_refused(
    bed: Bed, directory: Directory, kind: str, action: str
) -> None:
    sign_in, subject, email = KINDS[kind]
    uid = directory.provision(subject, email)
    signed = sign_in(bed)
    if action == "logout" and signed.logout is None:
        signed.client.close()
        directory.delete(uid)
        pytest.skip("a service JWT has no sign-out at the gateway; its IdP ends it")
    try:
        with signed.client as client:
            first = client.post(CHAT, json=BODY)
            assert first.status_code == 200, first.text
            again = client.post(CHAT, json=BODY)
            assert again.status_code == 200, again.text
            port = local_port(first)
            assert local_port(again) == port
            if action == "deactivate":
                directory.deactivate(uid)
            elif action == "delete":
                directory.delete(uid)
            elif action == "group_removal":
                directory.remove_from_group(uid)
            elif action == "reviewer_revoke":
                reviewer_revoke(bed, subject)
            else:
                assert signed.logout is not None
                signed.logout()
            mark = f"gpt-4o-mini-{uuid.uuid4().hex}"  # finds it in aimock's journal
            t0 = time.monotonic()
            refused = client.post(CHAT, json={**BODY, "model": mark})
            elapsed = time.monotonic() - t0
            assert local_port(refused) == port, "the request must use the same connection"
        assert refused.status_code == 407, refused.text
        error = refused.json()["error"]
        assert error["code"] == "warden_unauthenticated"
        assert "sign in" in error["message"].lower() or "warden login" in error["message"]
        assert mark not in json.dumps(bed.aimock.journal())  # nothing of it went upstream
        # Generous for a busy 2-core CI: the cut happens before the SCIM answer, so the
        # very next request is refused; the bound is the one sessions promise.
        assert elapsed < 1.0
    finally:
        directory.delete(uid)


def test_reprovisioned_service_token_works_on_a_new_connection(
    bed: Bed, directory: Directory
) -> None:
    """Control: a JWT connection is refused only because of the directory or a reviewer's
    revocation, not forever: a token issued after the revocation works."""
    uid = directory.provision(SERVICE_ID, f"{SERVICE_ID}@acme.example")
    try:
        reviewer_revoke(bed, SERVICE_ID)
        time.sleep(1.1)  # JWT `iat` has whole seconds: the next token must be newer
        with sign_in_jwt(bed).client as client:
            assert client.post(CHAT, json=BODY).status_code == 200
    finally:
        directory.delete(uid)


def test_a_deactivated_persons_next_attempt_is_recorded_under_their_name(
    bed: Bed, directory: Directory
) -> None:
    """The directory deactivates bob; he tries again with the same device credential on a
    new connection. The refused attempt is in the audit store under his tenant and subject
    with the reason, as are the credential.rejected event and the SCIM deactivation; a
    credential the gateway never issued stays anonymous (negative)."""
    uid = directory.provision("bob", "bob@acme.example")
    login = device_login(bed, "bob", "dev-bob-password")
    proxy = bed.warden.proxy_url.replace("http://", f"http://device:{login['credential']}@")
    try:
        with httpx.Client(proxy=proxy, verify=_tls(bed), timeout=10, trust_env=False) as c:
            assert c.post(CHAT, json=BODY).status_code == 200
        directory.deactivate(uid)
        mark = f"gpt-4o-mini-{uuid.uuid4().hex}"
        with httpx.Client(proxy=proxy, verify=_tls(bed), timeout=10, trust_env=False) as c:
            again = c.post(CHAT, json={**BODY, "model": mark})
        assert again.status_code == 407, again.text
        forged = bed.warden.proxy_url.replace("http://", "http://device:wdc_forged-credential@")
        with httpx.Client(proxy=forged, verify=_tls(bed), timeout=10, trust_env=False) as c:
            # another path than bob's, so that its record is told apart
            responses = "https://api.openai.com/v1/responses"
            assert c.post(responses, json={"model": "m", "input": "hi"}).status_code == 407
        records = bed.warden.audit_records()
        refused = [
            r
            for r in records
            if r["kind"] == "flow"
            and r["outcome"] == "unauthenticated"
            and (r["request"] or {}).get("path") == "/v1/chat/completions"
        ]
        bobs = [r for r in refused if (r["principal"] or {}).get("subject") == "bob"]
        assert bobs, refused
        attempt = bobs[-1]
        assert attempt["tenant"] == "acme"
        assert attempt["principal"]["email"] == "bob@acme.example"
        assert attempt["principal"]["auth_method"] == "device"
        assert attempt["details"]["refused"] == "deprovisioned"
        assert attempt["status"] == 407
        rejected = [
            r
            for r in records
            if r["event"] == "credential.rejected" and (r["principal"] or {}).get("subject")
        ]
        assert rejected and rejected[-1]["tenant"] == "acme"
        assert rejected[-1]["details"]["reason"] == "deprovisioned"
        assert rejected[-1]["details"]["revoked_reason"] == "deprovisioned by SCIM"
        # the SCIM event names the person it changed
        (deactivated,) = [
            r
            for r in records
            if r["event"] == "scim.user.deactivated" and r["details"]["user_id"] == uid
        ]
        assert deactivated["tenant"] == "acme"
        assert deactivated["principal"]["subject"] == "bob"
        assert deactivated["principal"]["email"] == "bob@acme.example"
        # negative: the forged credential is nobody's
        (anonymous,) = [
            r
            for r in records
            if r["kind"] == "flow" and (r["request"] or {}).get("path") == "/v1/responses"
        ]
        assert anonymous["outcome"] == "unauthenticated" and anonymous["tenant"] == "_system"
        assert anonymous["principal"]["subject"] is None
        assert "refused" not in anonymous["details"]
    finally:
        directory.delete(uid)
