"""The identity part of the configuration: the portal, identity providers and tenants."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from warden.providers.hostnames import is_loopback

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_ENV = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
_CLAIM = re.compile(r"^[A-Za-z0-9_.:/-]{1,128}$")

# Asymmetric algorithms only: `none` proves nothing, and HS* would let anyone who holds
# the (public) verification key sign tokens.
ALLOWED_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "EdDSA",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _identifier(v: str) -> str:
    if not _ID.match(v):
        raise ValueError("must be lowercase letters, digits, '-' or '_' (at most 63)")
    return v


def _check_algorithms(v: tuple[str, ...]) -> tuple[str, ...]:
    bad = [a for a in v if a not in ALLOWED_ALGORITHMS]
    if bad or not v:
        raise ValueError(
            f"{bad or 'empty list'} not allowed; use asymmetric algorithms: "
            + ", ".join(ALLOWED_ALGORITHMS)
        )
    return v


Identifier = Annotated[str, Field(min_length=1, max_length=63)]


class SurrogateSettings(_Strict):
    """Binding a browser's source address to its session after a portal login."""

    ttl_minutes: int = Field(480, ge=1, le=7 * 24 * 60)
    #: Source networks whose addresses may be bound (one person per address).
    networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    #: Shared networks (terminal servers, NAT): never bound; only proxy credentials count.
    shared_networks: tuple[str, ...] = ()

    @field_validator("networks", "shared_networks")
    @classmethod
    def _cidrs(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in v:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not a network such as '10.0.0.0/8'") from None
        return v


class PortalSettings(_Strict):
    #: The portal's address as browsers, terminals and IdPs reach it (the control plane).
    #: https, except http on a loopback address for development. Default: the control
    #: plane's own listen address over http (development only).
    public_url: str | None = None
    session_hours: float = Field(12, gt=0, le=24 * 30)
    #: How often a signed-in user is re-checked at the IdP with the session's refresh
    #: token (a user disabled at the IdP loses access within this time at the latest).
    recheck_seconds: int = Field(900, ge=1, le=86400)
    surrogate: SurrogateSettings = SurrogateSettings()
    #: Company name and contact shown on portal and block pages.
    company: str = Field("your company", min_length=1, max_length=100)
    help_contact: str = Field("your IT service desk", min_length=1, max_length=200)

    @field_validator("public_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return None
        parts = urlsplit(v)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path
            not in (
                "",
                "/",
            )
            or parts.query
            or parts.fragment
            or parts.username
        ):
            raise ValueError("must be a base URL such as 'https://warden.example.com'")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ValueError(
                "must use https (plain http is allowed only on a loopback address, for development)"
            )
        return v.rstrip("/")


class ServiceTokens(_Strict):
    """`Proxy-Authorization: Bearer <JWT>` from this IdP, for services and agents."""

    audience: str = Field(min_length=1, max_length=256)
    algorithms: tuple[str, ...] = ("RS256",)
    accept_id_tokens: bool = False
    #: The JWT `typ` headers accepted. RFC 9068 access tokens say at+jwt; Entra ID and
    #: Keycloak send JWT and Okta none (""): list what your IdP really sends.
    accepted_typ: tuple[str, ...] = ("at+jwt", "application/at+jwt")

    @field_validator("algorithms")
    @classmethod
    def _algs(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return _check_algorithms(v)


class IdentityProvider(_Strict):
    id: Identifier
    issuer: str
    client_id: str = Field(min_length=1, max_length=256)
    #: Name of the environment variable holding the portal client's secret (never the
    #: secret itself: config files are copied, mailed and committed).
    client_secret_env: str
    #: A public client (PKCE, no secret) for `warden login` (device authorization grant).
    device_client_id: str | None = Field(None, min_length=1, max_length=256)
    scopes: tuple[str, ...] = ("openid", "email", "profile", "offline_access")
    algorithms: tuple[str, ...] = ("RS256",)
    #: Where the tenant comes from: a fixed tenant id, or a claim naming one.
    tenant: str | None = None
    tenant_claim: str | None = None
    department_claim: str = "department"
    groups_claim: str = "groups"
    service_tokens: ServiceTokens | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        return _identifier(v)

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, v: str) -> str:
        parts = urlsplit(v)
        if not parts.hostname or parts.scheme not in ("http", "https") or parts.query:
            raise ValueError("must be the IdP's issuer URL, exactly as in its discovery document")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ValueError("must use https (http is allowed only on loopback, for development)")
        return v

    @field_validator("client_secret_env")
    @classmethod
    def _env(cls, v: str) -> str:
        if not _ENV.match(v):
            raise ValueError("must be the NAME of an environment variable, e.g. ACME_OIDC_SECRET")
        return v

    @field_validator("tenant_claim", "department_claim", "groups_claim")
    @classmethod
    def _claim(cls, v: str | None) -> str | None:
        if v is not None and not _CLAIM.match(v):
            raise ValueError("must be a claim name")
        return v

    @field_validator("algorithms")
    @classmethod
    def _algs(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return _check_algorithms(v)

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if "openid" not in v:
            raise ValueError("must include 'openid'")
        return v

    @model_validator(mode="after")
    def _one_tenant_source(self) -> IdentityProvider:
        if (self.tenant is None) == (self.tenant_claim is None):
            raise ValueError("set exactly one of 'tenant' (fixed) or 'tenant_claim'")
        return self


class Tenant(_Strict):
    id: Identifier
    display_name: str = Field(min_length=1, max_length=100)
    identity_providers: tuple[str, ...] = Field(min_length=1)
    #: Let flows without a signed-in person through (recorded as anonymous). Off by default.
    allow_anonymous: bool = False
    #: Members of these IdP groups may review this tenant's audit in `warden console`.
    reviewer_groups: tuple[str, ...] = ()
    #: SCIM 2.0 provisioning at <control>/scim/v2/<tenant> (tokens: `warden scim token create`).
    scim: bool = False
    #: SCIM groups whose members may use LLMs; leaving the last one cuts access. None: any.
    scim_llm_access_groups: tuple[str, ...] | None = None
    #: Overrides of the global audit settings for this tenant.
    audit_retention_days: int | None = Field(None, ge=1, le=36500)
    audit_on_failure: Literal["fail_closed", "fail_open"] | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        return _identifier(v)


class IdentitySettings(_Strict):
    portal: PortalSettings = PortalSettings()
    identity_providers: tuple[IdentityProvider, ...] = ()
    tenants: tuple[Tenant, ...] = ()
    #: What happens to flows when no tenant is configured at all: the gateway then only
    #: scopes and records; a production config declares tenants.
    mode: Literal["enforce", "off"] = "enforce"

    @model_validator(mode="after")
    def _references(self) -> IdentitySettings:
        problems = []
        idps = [p.id for p in self.identity_providers]
        tenants = [t.id for t in self.tenants]
        for kind, ids in (("identity provider", idps), ("tenant", tenants)):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                problems.append(f"duplicate {kind} id(s): {', '.join(dupes)}")
        for t in self.tenants:
            for ref in t.identity_providers:
                if ref not in idps:
                    problems.append(f"tenant {t.id!r} names unknown identity provider {ref!r}")
        for p in self.identity_providers:
            if p.tenant is not None and p.tenant not in tenants:
                problems.append(f"identity provider {p.id!r} names unknown tenant {p.tenant!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self
