"""IdentityResolver and service tokens right after start: a token of a configured issuer
whose IdP is still being discovered waits for it instead of being refused as unknown."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from warden.gateway.state.store import open_state
from warden.identity import resolver as resolver_module
from warden.identity.claims import ClaimMapping
from warden.identity.jwt import ServiceTokenVerifier
from warden.identity.resolver import CredentialRejected, IdentityResolver, ServiceIssuer
from warden.identity.sessions import SessionStore

from .test_jwks import Key
from .test_jwt import (  # noqa: F401 - fixtures
    ISSUER,
    claims,
    clock,
    idp,
    idp_keys,
    make_verifier,
    session,
    sign,
)

MAPPING = ClaimMapping(ISSUER, "acme", None, "department", "groups", ("acme",))


def _resolver(tmp_path: Path) -> IdentityResolver:
    return IdentityResolver(SessionStore(open_state(tmp_path / "s.db")), {})


async def test_a_token_waits_for_its_idp_then_passes(
    tmp_path: Path,
    make_verifier: Callable[..., ServiceTokenVerifier],  # noqa: F811 - test_jwt's fixture
    idp_keys: dict[str, Key],  # noqa: F811
) -> None:
    resolver = _resolver(tmp_path)
    resolver.expect(ISSUER)
    token = sign(idp_keys["rsa"], claims())
    pending = asyncio.ensure_future(resolver.bearer(token))
    await asyncio.sleep(0.05)
    assert not pending.done()  # not refused while discovery runs
    resolver.arm(ISSUER, ServiceIssuer(make_verifier(), MAPPING))
    resolved = await asyncio.wait_for(pending, 10)
    assert (resolved.user.tenant, resolved.auth_method) == ("acme", "jwt")


async def test_an_idp_still_unreachable_is_named_not_called_unknown(
    tmp_path: Path,
    idp_keys: dict[str, Key],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(resolver_module, "ARMING_WAIT_S", 0.05)
    resolver = _resolver(tmp_path)
    resolver.expect(ISSUER)
    with pytest.raises(CredentialRejected) as caught:
        await resolver.bearer(sign(idp_keys["rsa"], claims()))
    assert caught.value.reason == "idp_not_ready"


async def test_an_issuer_nobody_configured_is_refused_at_once(
    tmp_path: Path,
    idp_keys: dict[str, Key],  # noqa: F811
) -> None:
    resolver = _resolver(tmp_path)
    resolver.expect(ISSUER)
    token = sign(idp_keys["rsa"], claims(iss="https://evil.example.test"))
    with pytest.raises(CredentialRejected) as caught:
        await asyncio.wait_for(resolver.bearer(token), 1)  # no waiting for a stranger
    assert caught.value.reason == "wrong_issuer"


async def test_a_revoked_device_credential_is_refused_with_its_owner(tmp_path: Path) -> None:
    from warden.identity.resolver import ProxyCredential
    from warden.identity.sessions import UserIdentity

    resolver = _resolver(tmp_path)
    bob = UserIdentity("acme", ISSUER, "bob", "bob@acme.example")
    credential = resolver.sessions.issue_device_credential(
        resolver.sessions.create_session(bob, "device", 3600).session
    )
    resolver.sessions.revoke_person("acme", ["bob"], "deprovisioned by SCIM")
    with pytest.raises(CredentialRejected) as refused:
        await resolver.resolve(ProxyCredential("device", credential))
    assert (refused.value.owner, refused.value.reason) == (bob, "deprovisioned")
    assert refused.value.auth_method == "device"
    with pytest.raises(CredentialRejected) as forged:
        await resolver.resolve(ProxyCredential("device", "wdc_forged"))
    assert forged.value.owner is None and forged.value.reason == "device_credential_invalid"


async def test_the_still_allowed_rule_runs_off_the_loop_and_is_remembered_until_a_change(
    tmp_path: Path,
    make_verifier: Callable[..., ServiceTokenVerifier],  # noqa: F811 - test_jwt's fixture
    idp_keys: dict[str, Key],  # noqa: F811
) -> None:
    """SCIM's rule reads the state database (PostgreSQL: a round trip, or a stalled
    server's bound): never on the event loop. Known answers come from memory; a
    revocation, a push or a notification (the store's count moves) voids them."""
    import threading

    from warden.identity.scim.access import RememberedAnswers

    resolver = _resolver(tmp_path)
    resolver.arm(ISSUER, ServiceIssuer(make_verifier(), MAPPING))
    asked: list[threading.Thread] = []
    verdict = [True]

    def rule(user: object) -> bool:
        asked.append(threading.current_thread())
        return verdict[0]

    remembered = RememberedAnswers(rule, lambda: resolver.sessions.revocations)
    resolver.user_allowed, resolver.user_allowed_cached = remembered, remembered.cached
    token = sign(idp_keys["rsa"], claims())
    assert (await resolver.bearer(token)).user.tenant == "acme"
    assert len(asked) == 1 and asked[0] is not threading.current_thread()  # a thread's
    await resolver.bearer(token)
    assert len(asked) == 1  # from memory
    verdict[0] = False  # SCIM deactivates the person ...
    resolver.sessions.access_changed()  # ... and says so (here, or by push/notification)
    with pytest.raises(CredentialRejected) as caught:
        await resolver.bearer(token)
    assert caught.value.reason == "deprovisioned" and len(asked) == 2
    with pytest.raises(CredentialRejected):  # the refusal is remembered too
        await resolver.bearer(token)
    assert len(asked) == 2
