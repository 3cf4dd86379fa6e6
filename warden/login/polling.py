"""Waiting for the user's approval: the RFC 8628 polling loop, its slow-downs and expiry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from .base import (
    DEFAULT_INTERVAL_S,
    MAX_BACKOFF_S,
    MIN_INTERVAL_S,
    SLOW_DOWN_S,
    Clock,
    LoginError,
)
from .portal import (
    Approval,
    DeviceGrant,
    PortalClient,
    _number,
    _reason,
    _text,
)


def _expired_message(grant: DeviceGrant, network: str | None) -> str:
    minutes = max(1, round(grant.expires_in / 60))
    if network:
        return (
            f"the portal could not be reached ({network}) until the sign-in code expired: "
            "check your network or VPN and run `warden login` again"
        )
    return (
        f"the sign-in code expired before it was approved (it is valid for {minutes} min, and "
        "a gateway restart also ends it): run `warden login` again and approve it in the browser"
    )


def wait_for_approval(
    client: PortalClient,
    grant: DeviceGrant,
    clock: Clock,
    notify: Callable[[str], None] = lambda _msg: None,
) -> Approval:
    """Poll until the user approves (the credential), denies, or the grant expires.

    Waits ``interval`` before each poll (5 s when the portal gave none); ``slow_down`` adds
    5 s for this and every later poll, or takes the portal's new interval if that is larger;
    ``pending`` takes the interval the portal names. Network errors and 5xx answers back off
    (doubling, at most 60 s) until the grant's ``expires_in`` has passed.
    """
    interval = grant.interval or DEFAULT_INTERVAL_S
    deadline = clock.monotonic() + grant.expires_in
    wait = interval
    failures = 0
    network: str | None = None
    while True:
        remaining = deadline - clock.monotonic()
        if remaining <= 0:
            raise LoginError(_expired_message(grant, network))
        clock.sleep(min(wait, remaining))
        if clock.monotonic() >= deadline:
            raise LoginError(_expired_message(grant, network))
        try:
            status_code, body = client.poll(grant.handle)
        except httpx.TransportError as exc:
            status_code, body, network = 0, None, _reason(exc)
        status = _text((body or {}).get("status"))
        if status_code == 0 or (status_code >= 500 and not status):
            failures += 1
            network = network if status_code == 0 else f"HTTP {status_code} from the portal"
            wait = min(interval * 2**failures, MAX_BACKOFF_S)
            notify(f"the portal did not answer ({network}); trying again in {wait:.0f} s")
            continue
        if failures:
            notify("the portal answers again")
        failures, network = 0, None
        server_interval = _number((body or {}).get("interval"))
        message = _text((body or {}).get("message"))
        if status == "pending":
            if server_interval:
                interval = max(server_interval, MIN_INTERVAL_S)
            wait = interval
        elif status == "slow_down":
            interval = max(server_interval or 0.0, interval + SLOW_DOWN_S)
            wait = interval
        elif status == "ok" and body is not None:
            return _approval(body, client)
        elif status == "denied":
            raise LoginError(
                "the sign-in was denied"
                + (f" ({message})" if message else "")
                + ": if you did not cancel it yourself, your account may not be allowed to use "
                "AI services through the gateway; ask IT. Otherwise run `warden login` again"
            )
        elif status == "expired":
            raise LoginError(_expired_message(grant, None))
        else:
            raise LoginError(
                f"unexpected answer while waiting for approval (HTTP {status_code}, "
                f"status {status or '-'!r}): run `warden login` again; if it persists, tell IT"
            )


def _approval(body: dict[str, Any], client: PortalClient) -> Approval:
    credential = _text(body.get("credential"))
    if not credential:
        raise LoginError(
            f"the portal at {client.portal} approved the sign-in but sent no credential: tell IT"
        )
    user = body.get("user")
    if not isinstance(user, dict):
        user = {}
    return Approval(
        credential=credential,
        expires_at=_number(body.get("expires_at")) or 0.0,
        email=_text(user.get("email")),
        tenant=_text(user.get("tenant")),
        department=_text(user.get("department")),
        proxy_url=_text(body.get("proxy_url")) or None,
    )
