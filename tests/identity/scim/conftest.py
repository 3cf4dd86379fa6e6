"""A SCIM service on a fresh state database, two tenants, recorders for its hooks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from warden.gateway.state.store import open_state
from warden.identity.scim import (
    ProvisionedUser,
    ScimCredentials,
    ScimService,
    ScimStore,
    scim_routes,
)

SCIM = "application/scim+json"
TENANTS = ("acme", "globex")
LLM_GROUP = "LLM Users"
PILOT_GROUP = "AI Pilots"  # a second group granting LLM access in tenant acme


@dataclass
class Recorder:
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    deprovisioned: list[tuple[str, ProvisionedUser]] = field(default_factory=list)

    def event(self, name: str, tenant: str, details: Any) -> None:
        self.events.append((name, tenant, dict(details)))

    def deprovision(self, tenant: str, user: ProvisionedUser) -> None:
        self.deprovisioned.append((tenant, user))

    def names(self) -> list[str]:
        return [e[0] for e in self.events]


@dataclass
class Scim:
    """A test client bound to one tenant's token, plus what the service recorded."""

    client: TestClient[Any, Any]
    tokens: dict[str, str]
    rec: Recorder
    service: ScimService

    def url(self, tenant: str, path: str) -> str:
        return f"/scim/v2/{tenant}/{path.lstrip('/')}"

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        tenant: str = "acme",
        as_tenant: str | None = None,
        headers: dict[str, str] | None = None,
        expect: int | None = None,
    ) -> tuple[int, Any, Any]:
        hdrs = {"Authorization": f"Bearer {self.tokens[as_tenant or tenant]}"}
        if body is not None:
            hdrs["Content-Type"] = SCIM
        hdrs.update(headers or {})
        resp = await self.client.request(method, self.url(tenant, path), json=body, headers=hdrs)
        text = await resp.text()
        data = None
        if text:
            assert resp.content_type == SCIM, (resp.status, resp.content_type, text)
            data = json.loads(text)
        if expect is not None:
            assert resp.status == expect, (method, path, resp.status, data)
        return resp.status, data, resp.headers

    async def user(self, user_name: str, tenant: str = "acme", **attrs: Any) -> dict[str, Any]:
        body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name}
        body.update(attrs)
        _, data, _ = await self.call("POST", "Users", body, tenant=tenant, expect=201)
        return data  # type: ignore[no-any-return]

    async def group(
        self, name: str, members: Sequence[str] = (), tenant: str = "acme"
    ) -> dict[str, Any]:
        body = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": name,
            "members": [{"value": m} for m in members],
        }
        _, data, _ = await self.call("POST", "Groups", body, tenant=tenant, expect=201)
        return data  # type: ignore[no-any-return]


def build_service(db: Path, rec: Recorder, **kw: Any) -> tuple[ScimService, dict[str, str]]:
    conn = open_state(db)
    creds = ScimCredentials(conn)
    tokens = {t: creds.add_token(t) for t in TENANTS}
    service = ScimService(
        ScimStore(conn),
        creds,
        rec.event,
        rec.deprovision,
        llm_access_groups=kw.pop("llm_access_groups", {"acme": {LLM_GROUP, PILOT_GROUP}}),
        tenants=TENANTS,
        **kw,
    )
    return service, tokens


def build_app(service: ScimService) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    app.add_routes(scim_routes(service))
    return app


@pytest.fixture
async def scim(tmp_path: Path) -> AsyncIterator[Scim]:
    rec = Recorder()
    service, tokens = build_service(tmp_path / "state.db", rec)
    async with TestClient(TestServer(build_app(service))) as client:
        yield Scim(client, tokens, rec, service)
