"""`warden doctor`'s checks of the fleet: every instance the PAC file lists answers as an
Egress Warden proxy.

Each instance of ``proxy.instances`` is asked, as a proxy, for
``http://warden.internal/.well-known/egress-warden``: a gateway answers it itself (it is
how `warden login` finds the portal), so a 200 with the portal's address proves that the
PAC's entry reaches a running warden, not merely an open port. An instance that does not
answer fails the check: clients fall back to the next one, but the operator must know.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx

from warden.config import Config

from .results import CheckResult

WELL_KNOWN = "http://warden.internal/.well-known/egress-warden"


def instance_checks(config: Config, timeout: float) -> Iterator[CheckResult]:
    for position, instance in enumerate(config.proxy.instances, start=1):
        name = f"instance {position}"
        try:
            with httpx.Client(proxy=f"http://{instance}", timeout=timeout, trust_env=False) as c:
                r = c.get(WELL_KNOWN)
        except httpx.HTTPError as exc:
            yield CheckResult(
                name,
                False,
                f"{instance} does not answer ({type(exc).__name__}: {str(exc)[:200]})",
                f"start the gateway on {instance} (systemctl status egress-warden there), "
                "open the port in its firewall, or remove it from proxy.instances; until then "
                "clients wait for it to time out before they try the next instance",
            )
            continue
        try:
            portal = r.json().get("portal") if r.status_code == 200 else None
        except ValueError:
            portal = None
        if not isinstance(portal, str):
            yield CheckResult(
                name,
                False,
                f"{instance} answers, but not as an Egress Warden proxy (HTTP {r.status_code})",
                f"check the address in proxy.instances: {instance} must be a warden's proxy port",
            )
            continue
        yield CheckResult(name, True, f"{instance} is an Egress Warden proxy (portal {portal})")
