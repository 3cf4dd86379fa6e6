"""Each identity provider: client secret, OIDC discovery, JWKS, the clock against the IdP's."""

from __future__ import annotations

import datetime
import email.utils
from collections.abc import Iterator, Mapping
from typing import Final

import httpx

from warden.config.identity import IdentityProvider

from .results import CheckResult, Clock, failure, passed, warning

#: Clock difference to an IdP beyond which tokens fail verification. JWT checks allow
#: 60 s of leeway; half of it keeps a margin for the IdP's own skew.
MAX_CLOCK_SKEW_S: Final = 30.0

_SYSTEMD_ENV: Final = "/etc/egress-warden/env"


def idp_checks(
    idp: IdentityProvider, env: Mapping[str, str], clock: Clock, timeout: float
) -> Iterator[CheckResult]:
    from warden.identity.jwks import JwksError, check_jwks_uri, parse_jwks
    from warden.identity.oidc import Discovery, IdpRefused

    prefix = f"IdP {idp.id}"
    if env.get(idp.client_secret_env):
        yield passed(f"{prefix}: client secret", f"{idp.client_secret_env} is set")
    else:
        yield failure(
            f"{prefix}: client secret",
            f"the environment has no {idp.client_secret_env} (the portal client's secret)",
            f"put {idp.client_secret_env}=<secret> in {_SYSTEMD_ENV} (mode 0600; systemd "
            "reads it as EnvironmentFile) or export it before `warden run`. To check with the "
            f"service's environment: sudo sh -c 'set -a; . {_SYSTEMD_ENV}; warden doctor'",
        )
    url = idp.issuer.rstrip("/") + "/.well-known/openid-configuration"
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        before = clock()
        try:
            r = client.get(url)
        except httpx.HTTPError as exc:
            yield failure(
                f"{prefix}: discovery",
                f"{url} is unreachable ({type(exc).__name__}: {exc})",
                "check that this host can reach the IdP (DNS, firewall, an outbound proxy "
                "the gateway must use), and that identity_providers.issuer is right",
            )
            return
        after = clock()
        yield from _clock_skew(prefix, r, before, after)
        if r.status_code != 200:
            yield failure(
                f"{prefix}: discovery",
                f"{url} answered HTTP {r.status_code}",
                "check identity_providers.issuer: it must be the issuer exactly as the "
                "IdP's discovery document names it",
            )
            return
        try:
            doc = r.json()
            if not isinstance(doc, dict):
                raise ValueError("not an object")
            discovery = Discovery.parse(doc, idp.issuer)
        except (ValueError, IdpRefused) as exc:
            yield failure(
                f"{prefix}: discovery",
                f"{url}: {getattr(exc, 'description', None) or exc}",
                "set identity_providers.issuer to the `issuer` value of the discovery "
                "document, exactly (trailing slash included)",
            )
            return
        yield passed(f"{prefix}: discovery", f"{url} names issuer {idp.issuer}")
        if idp.device_client_id and not discovery.device_authorization_endpoint:
            yield warning(
                f"{prefix}: device login",
                "device_client_id is set but the IdP announces no device authorization "
                "endpoint: `warden login` will not work",
                "enable the device authorization grant at the IdP, or remove device_client_id",
            )
        try:
            jwks_uri = check_jwks_uri(discovery.jwks_uri)
            jr = client.get(jwks_uri)
            if jr.status_code != 200:
                yield failure(
                    f"{prefix}: JWKS",
                    f"{jwks_uri} answered HTTP {jr.status_code}",
                    "check the IdP: its discovery document names a key set it does not serve",
                )
                return
            keys = parse_jwks(jr.content, source=jwks_uri)
        except httpx.HTTPError as exc:
            yield failure(
                f"{prefix}: JWKS",
                f"{discovery.jwks_uri} is unreachable ({type(exc).__name__})",
                "allow this host to reach the IdP's jwks_uri (it may be on another host name)",
            )
            return
        except JwksError as exc:
            yield failure(f"{prefix}: JWKS", str(exc), exc.fix)
            return
    wanted = set(idp.algorithms)
    if idp.service_tokens is not None:
        wanted |= set(idp.service_tokens.algorithms)
    usable = sorted(a for a in wanted if any(k.allows(a) for k in keys.values()))
    if not usable:
        yield failure(
            f"{prefix}: JWKS",
            f"{len(keys)} key(s), none usable for {', '.join(sorted(wanted))}: tokens "
            "cannot be verified",
            "set identity_providers.algorithms to what the IdP signs with (see the `alg` "
            "or `kty` of its keys)",
        )
    else:
        yield passed(
            f"{prefix}: JWKS", f"{len(keys)} signing key(s), usable for {', '.join(usable)}"
        )


def _clock_skew(
    prefix: str, response: httpx.Response, before: datetime.datetime, after: datetime.datetime
) -> Iterator[CheckResult]:
    name = f"{prefix}: clock"
    header = response.headers.get("date")
    try:
        theirs = email.utils.parsedate_to_datetime(header) if header else None
    except (TypeError, ValueError):
        theirs = None
    if theirs is None:
        yield warning(name, "the IdP sent no usable Date header; clock skew not checked")
        return
    if theirs.tzinfo is None:
        theirs = theirs.replace(tzinfo=datetime.UTC)
    ours = before + (after - before) / 2
    skew = (ours - theirs).total_seconds()
    # The header has whole seconds: up to 1 s of the difference is rounding.
    if abs(skew) > MAX_CLOCK_SKEW_S + 1:
        direction = "ahead of" if skew > 0 else "behind"
        yield failure(
            name,
            f"this host's clock is {abs(skew):.0f} s {direction} the IdP's (more than "
            f"{MAX_CLOCK_SKEW_S:.0f} s): tokens will be refused as expired or not yet valid",
            "sync the clock with NTP (timedatectl set-ntp true; chronyc tracking shows "
            "the offset); if this host is right, tell the IdP's operators",
        )
    else:
        yield passed(name, f"within {max(abs(skew), 1):.0f} s of the IdP's clock")
