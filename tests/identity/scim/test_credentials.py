"""SCIM tokens: shown once, stored as SHA-256, two live during a rotation, revocable."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from warden.gateway.state.store import open_state
from warden.identity.scim import ScimCredentials, TooManyTokens, create_token
from warden.identity.scim.credentials import TOKEN_PREFIX

from .conftest import Recorder, Scim, build_app, build_service


def test_token_is_stored_only_as_its_hash(tmp_path: Path) -> None:
    conn = open_state(tmp_path / "state.db")
    token = create_token(conn, "acme")
    assert token.startswith(TOKEN_PREFIX) and len(token) > 40
    rows = conn.execute("SELECT tenant, token_hash FROM scim_tokens").fetchall()
    assert rows == [("acme", hashlib.sha256(token.encode()).hexdigest())]
    assert token not in "\n".join(conn.iterdump())
    assert (tmp_path / "state.db").stat().st_mode & 0o777 == 0o600  # open_state's doing


def test_rotation_two_live_then_revoke(tmp_path: Path) -> None:
    creds = ScimCredentials(open_state(tmp_path / "state.db"))
    old = creds.add_token("acme")
    new = creds.add_token("acme")
    assert creds.authenticate(old) is not None and creds.authenticate(new) is not None
    with pytest.raises(TooManyTokens, match="revoke the older one first"):
        creds.add_token("acme")
    creds.add_token("globex")  # the limit is per tenant
    old_id = creds.authenticate(old).token_id  # type: ignore[union-attr]
    assert creds.revoke("acme", old_id) is True
    assert creds.revoke("acme", old_id) is False
    assert creds.authenticate(old) is None
    assert creds.authenticate(new) is not None
    assert creds.revoke("globex", creds.authenticate(new).token_id) is False  # type: ignore[union-attr]
    third = creds.add_token("acme")
    assert creds.authenticate(third) is not None
    assert creds.revoke_all("acme") == 2
    assert creds.authenticate(new) is None and creds.authenticate(third) is None


@pytest.mark.parametrize(
    "token", ["", "wst_", "Bearer", "wst_" + "A" * 43, "x" * 300, "wst_\udcff"]
)
def test_unknown_tokens(tmp_path: Path, token: str) -> None:
    creds = ScimCredentials(open_state(tmp_path / "state.db"))
    creds.add_token("acme")
    assert creds.authenticate(token) is None


async def test_revoked_token_is_refused_on_the_next_request(scim: Scim) -> None:
    await scim.call("GET", "Users", expect=200)
    creds = scim.service.credentials
    (info,) = creds.tokens("acme")
    creds.revoke("acme", info.id)
    status, _, headers = await scim.call("GET", "Users")
    assert status == 401 and "WWW-Authenticate" in headers


async def test_a_token_created_elsewhere_works_at_once(tmp_path: Path) -> None:
    """The CLI writes through its own connection while the gateway runs."""
    from aiohttp.test_utils import TestClient, TestServer

    service, _ = build_service(tmp_path / "state.db", Recorder())
    token = create_token(open_state(tmp_path / "state.db"), "acme")
    async with TestClient(TestServer(build_app(service))) as client:
        resp = await client.get(
            "/scim/v2/acme/ServiceProviderConfig", headers={"Authorization": f"Bearer {token}"}
        )
        assert resp.status == 200
