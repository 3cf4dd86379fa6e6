"""Builds the identity side of the gateway from config: IdP clients, portal, resolver.

IdP discovery runs in the background with retries: a gateway whose IdP is down still
starts, existing sessions keep working, and new logins say the IdP is unreachable.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from warden.config import Config, ConfigError
from warden.config.identity import IdentityProvider
from warden.identity.claims import ClaimMapping
from warden.identity.events import AuthEvents
from warden.identity.jwt import ServiceTokenVerifier
from warden.identity.oidc import IdpRefused, IdpUnreachable, OidcClient
from warden.identity.portal import ConfiguredIdp, Portal, PortalSettings
from warden.identity.refresh import RefreshCipher, SessionRefresher
from warden.identity.resolver import IdentityResolver, ServiceIssuer
from warden.identity.sessions import SessionStore

logger = logging.getLogger("warden.identity")


@dataclass
class IdentityParts:
    sessions: SessionStore
    portal: Portal
    resolver: IdentityResolver
    settings: PortalSettings
    enforce: bool
    refresher: SessionRefresher
    recheck_s: float
    _idps: dict[str, tuple[IdentityProvider, ConfiguredIdp]]

    async def keep_checking(self) -> None:
        """Re-check signed-in users at their IdP, forever (a task of the gateway)."""
        while True:
            await asyncio.sleep(min(self.recheck_s, 60.0))
            try:
                await self.refresher.run_once()
            except Exception:  # one bad answer must not stop the re-checks
                logger.exception("re-checking sessions at the IdP failed; trying again later")

    async def discover(self, retry_s: float = 5.0) -> None:
        """Discover every IdP (retrying while one is down) and arm its service tokens."""

        async def one(cfg: IdentityProvider, idp: ConfiguredIdp) -> None:
            delay = retry_s
            while True:
                try:
                    await idp.client.discovery()
                    break
                except IdpUnreachable as exc:
                    logger.warning("identity provider %s unreachable (%s); retrying", cfg.id, exc)
                except IdpRefused as exc:
                    logger.error("identity provider %s: %s; retrying", cfg.id, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 300)
            if cfg.service_tokens is not None and idp.client.jwks is not None:
                verifier = ServiceTokenVerifier(
                    cfg.issuer,
                    cfg.service_tokens.audience,
                    cfg.service_tokens.algorithms,
                    idp.client.jwks,
                    accept_id_tokens=cfg.service_tokens.accept_id_tokens,
                    accepted_typ=cfg.service_tokens.accepted_typ,
                    id_token_client_ids=[cfg.client_id],
                )
                self.resolver.arm(cfg.issuer, ServiceIssuer(verifier, idp.mapping))
            logger.info("identity provider %s ready (%s)", cfg.id, cfg.issuer)

        for cfg, _ in self._idps.values():
            if cfg.service_tokens is not None:
                self.resolver.expect(cfg.issuer)
        await asyncio.gather(*(one(cfg, idp) for cfg, idp in self._idps.values()))

    async def aclose(self) -> None:
        for _, idp in self._idps.values():
            await idp.client.aclose()


def build_identity(
    config: Config,
    conn: sqlite3.Connection,
    events: AuthEvents,
    is_catalog_host: Callable[[str], bool],
    env: dict[str, str] | None = None,
) -> IdentityParts:
    env = dict(os.environ) if env is None else env
    ident = config.identity
    problems = [
        f"identity.identity_providers.{p.id}.client_secret_env: the environment has no "
        f"{p.client_secret_env}; set it to the portal client's secret"
        for p in ident.identity_providers
        if not env.get(p.client_secret_env)
    ]
    if problems:
        raise ConfigError("config", problems)
    trusting: dict[str, list[str]] = {}
    for tenant in ident.tenants:
        for ref in tenant.identity_providers:
            trusting.setdefault(ref, []).append(tenant.id)
    idps: dict[str, tuple[IdentityProvider, ConfiguredIdp]] = {}
    for p in ident.identity_providers:
        client = OidcClient(
            p.issuer,
            p.client_id,
            env[p.client_secret_env],
            device_client_id=p.device_client_id,
            scopes=p.scopes,
            algorithms=p.algorithms,
        )
        mapping = ClaimMapping(
            p.issuer,
            p.tenant,
            p.tenant_claim,
            p.department_claim,
            p.groups_claim,
            frozenset(trusting.get(p.id, ())),
        )
        idps[p.id] = (p, ConfiguredIdp(p.id, client, mapping))
    listen = config.proxy.listen
    settings = PortalSettings(
        public_url=ident.portal.public_url or config.control_url,
        session_lifetime_s=ident.portal.session_hours * 3600,
        surrogate_ttl_s=ident.portal.surrogate.ttl_minutes * 60,
        surrogate_networks=tuple(
            ipaddress.ip_network(n, strict=False) for n in ident.portal.surrogate.networks
        ),
        shared_networks=tuple(
            ipaddress.ip_network(n, strict=False) for n in ident.portal.surrogate.shared_networks
        ),
        company=ident.portal.company,
        help_contact=ident.portal.help_contact,
        proxy_url=f"http://{listen.host}:{listen.port}",
    )
    sessions = SessionStore(conn)
    cipher = RefreshCipher.in_folder(config.state_dir)
    portal = Portal(
        settings,
        {k: v[1] for k, v in idps.items()},
        sessions,
        events,
        is_catalog_host,
        seal=cipher.seal,
    )
    refresher = SessionRefresher(
        sessions,
        {cfg.issuer: idp for cfg, idp in idps.values()},
        cipher,
        events,
        ident.portal.recheck_seconds,
    )
    return IdentityParts(
        sessions,
        portal,
        IdentityResolver(sessions, {}),
        settings,
        ident.mode == "enforce",
        refresher,
        float(ident.portal.recheck_seconds),
        idps,
    )
