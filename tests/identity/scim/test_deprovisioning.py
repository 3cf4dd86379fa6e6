"""The deprovisioning hook: when it runs, when it must not, and that it is never lost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from warden.identity.scim import ProvisionedUser

from .conftest import LLM_GROUP, PILOT_GROUP, Recorder, Scim, build_app, build_service

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": list(operations)}


async def person(scim: Scim, name: str = "dana") -> dict[str, Any]:
    return await scim.user(
        f"{name}@acme.example",
        externalId=f"00u-{name}",
        emails=[{"value": f"{name}@acme.example", "type": "work"}],
        active=True,
    )


def deprovisioned_ids(scim: Scim) -> list[str]:
    return [u.id for _, u in scim.rec.deprovisioned]


async def test_patch_active_string_false_deprovisions(scim: Scim) -> None:
    user = await person(scim)
    body = patch({"op": "Replace", "path": "active", "value": "False"})
    await scim.call("PATCH", f"Users/{user['id']}", body, expect=200)
    assert scim.rec.deprovisioned == [
        (
            "acme",
            ProvisionedUser(
                id=user["id"],
                user_name="dana@acme.example",
                external_id="00u-dana",
                emails=("dana@acme.example",),
                active=False,
            ),
        )
    ]
    names = scim.rec.names()
    assert names[-3:] == ["scim.user.updated", "scim.user.deactivated", "scim.user.deprovisioned"]
    assert scim.service.is_active("acme", "00u-dana") is False
    assert scim.service.has_llm_access("acme", "dana@acme.example") is False


async def test_put_active_false_deprovisions(scim: Scim) -> None:
    user = await person(scim)
    put = {"schemas": [USER], "userName": "dana@acme.example", "active": False}
    await scim.call("PUT", f"Users/{user['id']}", put, expect=200)
    assert deprovisioned_ids(scim) == [user["id"]]


async def test_delete_deprovisions(scim: Scim) -> None:
    user = await person(scim)
    await scim.call("DELETE", f"Users/{user['id']}", expect=204)
    assert deprovisioned_ids(scim) == [user["id"]]
    deleted = [e for e in scim.rec.events if e[0] == "scim.user.deprovisioned"]
    assert deleted[0][2]["reason"] == "deleted"


async def test_put_without_active_does_not_deprovision(scim: Scim) -> None:
    user = await person(scim)
    put = {"schemas": [USER], "userName": "dana@acme.example", "displayName": "Dana"}
    _, got, _ = await scim.call("PUT", f"Users/{user['id']}", put, expect=200)
    assert got["active"] is True
    assert scim.rec.deprovisioned == []


async def test_other_changes_do_not_deprovision(scim: Scim) -> None:
    user = await person(scim)
    await scim.call(
        "PATCH", f"Users/{user['id']}", patch({"op": "replace", "path": "title", "value": "CTO"})
    )
    await scim.call(
        "PATCH", f"Users/{user['id']}", patch({"op": "replace", "path": "active", "value": True})
    )
    assert scim.rec.deprovisioned == []


async def test_explicit_false_again_retries_the_revocation(scim: Scim) -> None:
    """An IdP retrying its deactivation also retries the revocation (idempotent hook)."""
    user = await person(scim)
    body = patch({"op": "replace", "path": "active", "value": False})
    await scim.call("PATCH", f"Users/{user['id']}", body, expect=200)
    await scim.call("PATCH", f"Users/{user['id']}", body, expect=200)
    assert deprovisioned_ids(scim) == [user["id"], user["id"]]


async def test_reactivation_does_not_call_the_hook(scim: Scim) -> None:
    user = await person(scim)
    off = patch({"op": "replace", "path": "active", "value": False})
    on = patch({"op": "replace", "path": "active", "value": True})
    await scim.call("PATCH", f"Users/{user['id']}", off, expect=200)
    await scim.call("PATCH", f"Users/{user['id']}", on, expect=200)
    assert deprovisioned_ids(scim) == [user["id"]]
    assert "scim.user.reactivated" in scim.rec.names()
    assert scim.service.is_active("acme", "00u-dana") is True


async def test_created_inactive_is_deprovisioned(scim: Scim) -> None:
    """Someone who signed in before the IdP provisioned them as inactive loses access."""
    user = await scim.user("late@acme.example", active=False)
    assert deprovisioned_ids(scim) == [user["id"]]


async def test_removal_from_the_last_llm_group(scim: Scim) -> None:
    user = await person(scim)
    other = await person(scim, "eve")
    llm = await scim.group(LLM_GROUP, [user["id"], other["id"]])
    pilots = await scim.group(PILOT_GROUP, [user["id"]])
    misc = await scim.group("Finance", [user["id"]])
    assert scim.service.has_llm_access("acme", "00u-dana") is True

    remove = patch({"op": "remove", "path": f'members[value eq "{user["id"]}"]'})
    await scim.call("PATCH", f"Groups/{misc['id']}", remove, expect=200)
    await scim.call("PATCH", f"Groups/{llm['id']}", remove, expect=200)
    assert scim.rec.deprovisioned == []  # still in AI Pilots
    await scim.call("PATCH", f"Groups/{pilots['id']}", remove, expect=200)
    assert deprovisioned_ids(scim) == [user["id"]]  # the last one: out
    assert scim.service.has_llm_access("acme", "00u-dana") is False
    assert scim.service.is_active("acme", "00u-dana") is True  # the record stays
    assert "scim.user.llm_access_lost" in scim.rec.names()


async def test_llm_group_put_delete_and_rename(scim: Scim) -> None:
    a, b, c = [await person(scim, n) for n in ("ann", "ben", "cal")]
    group = await scim.group(LLM_GROUP, [a["id"], b["id"], c["id"]])
    put = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": LLM_GROUP,
        "members": [{"value": b["id"]}, {"value": c["id"]}],
    }
    await scim.call("PUT", f"Groups/{group['id']}", put, expect=200)
    assert deprovisioned_ids(scim) == [a["id"]]
    rename = patch({"op": "replace", "path": "displayName", "value": "llm users (old)"})
    await scim.call("PATCH", f"Groups/{group['id']}", rename, expect=200)
    assert sorted(deprovisioned_ids(scim)) == sorted([a["id"], b["id"], c["id"]])

    scim.rec.deprovisioned.clear()
    second = await scim.group(PILOT_GROUP.upper(), [b["id"]])  # names compare case-insensitively
    await scim.call("DELETE", f"Groups/{second['id']}", expect=204)
    assert deprovisioned_ids(scim) == [b["id"]]


async def test_tenant_without_group_gating_ignores_groups(scim: Scim) -> None:
    user = await scim.user("gus@globex.example", tenant="globex")
    group = await scim.group(LLM_GROUP, [user["id"]], tenant="globex")
    await scim.call("DELETE", f"Groups/{group['id']}", tenant="globex", expect=204)
    assert scim.rec.deprovisioned == []
    assert scim.service.has_llm_access("globex", "gus@globex.example") is True


async def test_a_failing_hook_is_retried_not_lost(tmp_path: Path) -> None:
    rec = Recorder()
    failures = [RuntimeError("session store is down")]

    def flaky(tenant: str, user: ProvisionedUser) -> None:
        if failures:
            raise failures.pop()
        rec.deprovision(tenant, user)

    service, tokens = build_service(tmp_path / "state.db", rec)
    service._on_deprovision = flaky
    async with TestClient(TestServer(build_app(service))) as client:
        scim = Scim(client, tokens, rec, service)
        user = await person(scim)
        await scim.call("DELETE", f"Users/{user['id']}", expect=204)  # the change stands
        assert rec.deprovisioned == []
        assert len(service.store.pending_deprovisions()) == 1
        assert service.retry_deprovisioning() == 0
        assert deprovisioned_ids(scim) == [user["id"]]
        assert service.store.pending_deprovisions() == []
        assert service.retry_deprovisioning() == 0
        assert deprovisioned_ids(scim) == [user["id"]]  # exactly once


async def test_events_name_the_client_and_hold_no_secrets(scim: Scim) -> None:
    user = await scim.user("hal@acme.example", password="Pa55w0rd!")
    group = await scim.group("Ops", [user["id"]])
    await scim.call("DELETE", f"Groups/{group['id']}", expect=204)
    token_ids = {t.id for t in scim.service.credentials.tokens("acme")}
    for name, tenant, details in scim.rec.events:
        assert name.startswith("scim.")
        assert tenant == "acme"
        assert all(isinstance(v, str | int | bool) for v in details.values())
        assert "Pa55w0rd!" not in repr(details)
        assert not any(t in repr(details) for t in scim.tokens.values())
        if name != "scim.user.deprovisioned":
            assert details["actor"] == "scim-client" and details["token_id"] in token_ids
    assert scim.rec.names()[:2] == ["scim.user.created", "scim.group.created"]
