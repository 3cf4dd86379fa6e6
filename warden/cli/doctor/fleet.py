"""`warden doctor`'s checks of the fleet: every instance the PAC file lists answers as an
Egress Warden proxy, and this instance's audit records reach the fleet's central copy.

Each instance of ``proxy.instances`` is asked, as a proxy, for
``http://warden.internal/.well-known/egress-warden``: a gateway answers it itself (it is
how `warden login` finds the portal), so a 200 with the portal's address proves that the
PAC's entry reaches a running warden, not merely an open port. An instance that does not
answer fails the check: clients fall back to the next one, but the operator must know.

Audit shipping (``state.backend: postgresql``): the shipper's status file
(audit/fleet_status.py) says how far it got and why it stopped; the local audit store says
how far it should get. A shipper that is stopped, cut off or refused while records wait
fails with its cause and fix; one that ships but is more than `LAG_WARN_S` behind (a
backlog after an outage, a slow database) is a warning. Records are never at risk here:
the local store keeps them until they are shipped.
"""

from __future__ import annotations

import datetime
import sqlite3
from collections.abc import Iterator
from typing import Final

import httpx

from warden.audit.errors import AuditStoreError
from warden.audit.fleet_status import STATUS_FILE, ShippingStatus, read_status
from warden.audit.schema import open_audit_db_readonly
from warden.config import Config

from .results import CheckResult, Clock, failure, passed, warning

#: A shipper this far behind (the oldest record the central copy lacks) is worth a look.
LAG_WARN_S: Final = 60.0
SHIPPING = "audit shipping"

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


def shipping_checks(config: Config, clock: Clock) -> Iterator[CheckResult]:
    if config.state.backend != "postgresql":
        return
    if not config.audit_db.exists():
        yield passed(SHIPPING, "no audit records yet: nothing to ship")
        return
    status_file = config.audit_dir / STATUS_FILE
    try:
        status = read_status(status_file)
    except OSError as exc:
        yield failure(SHIPPING, f"cannot read the shipper's status: {exc}", _READ_FIX)
        return
    except ValueError as exc:
        yield failure(
            SHIPPING,
            f"cannot read the shipper's status: {exc}",
            f"remove {status_file}: the gateway's audit writer writes it again within 5 s",
        )
        return
    now = clock().timestamp()
    shipped = status.shipped_seq if status is not None else 0
    try:
        local_end, oldest = _local_position(config, shipped)
    except (AuditStoreError, sqlite3.Error) as exc:
        yield failure(SHIPPING, f"cannot read the local audit store: {exc}", _READ_FIX)
        return
    unshipped = max(0, local_end - shipped)
    lag = max(0.0, now - oldest) if unshipped and oldest is not None else 0.0
    behind = f"{unshipped} record(s) not in the central copy yet, the oldest {lag:.0f} s old"
    cause = status.cause_now(now) if status is not None else "stopped"
    if cause is None:
        detail = f"instance {status.instance if status else '?'}: shipped up to #{shipped}"
        if lag > LAG_WARN_S:
            yield warning(
                SHIPPING,
                f"{detail}, but {behind}",
                "a backlog (after an outage) drains by itself: watch "
                "warden_audit_fleet_lag_seconds fall; if it does not, PostgreSQL is too slow "
                "for this instance's records (look at its load and disk)",
            )
        else:
            yield passed(SHIPPING, f"{detail}" + (f"; {unshipped} in flight" if unshipped else ""))
        return
    if cause == "stopped" and not unshipped:
        yield passed(SHIPPING, "no shipper runs (the gateway is stopped); nothing waits to ship")
        return
    yield failure(SHIPPING, _cause_text(cause, status, now, behind), _FIXES[cause])


def _local_position(config: Config, shipped: int) -> tuple[int, float | None]:
    local = open_audit_db_readonly(config.audit_db)
    try:
        (end,) = local.execute("SELECT COALESCE(MAX(seq), 0) FROM records").fetchone()
        row = local.execute(
            "SELECT ts FROM records WHERE seq > ? ORDER BY seq LIMIT 1", (shipped,)
        ).fetchone()
    finally:
        local.close()
    oldest = None
    if row is not None and isinstance(row[0], str):
        try:
            moment = datetime.datetime.fromisoformat(row[0].removesuffix("Z"))
            oldest = moment.replace(tzinfo=datetime.UTC).timestamp()
        except ValueError:
            oldest = None
    return int(end), oldest


def _cause_text(cause: str, status: ShippingStatus | None, now: float, behind: str) -> str:
    if status is None:
        return f"no shipper has ever run here; {behind}"
    if cause == "stopped":
        return (
            f"no shipper has reported for {now - status.updated_at:.0f} s (the gateway or its "
            f"audit writer is stopped, or the shipper hangs on PostgreSQL); {behind}"
        )
    since = f" since {now - status.problem_since:.0f} s" if status.problem_since else ""
    return f"shipping fails{since}: {(status.problem or '?')[:500]}; {behind}"


_READ_FIX = "run `warden doctor` as the gateway's user, and check the audit folder's mode"
_FIXES: Final = {
    "unreachable": "bring PostgreSQL back or fix WARDEN_STATE_DSN in the gateway's environment "
    "(`warden db status` tests it); shipping resumes by itself. Flows are not affected: "
    "records are committed locally and stay there until shipped",
    "conflict": "the central copy disagrees with this instance's store: follow the fix in the "
    "message above; shipping stays stopped until it is done (the local store keeps every "
    "record meanwhile)",
    "internal": "a bug in the shipper: see the gateway log (warden.audit.fleet) and report it; "
    "it tries again every 5 s, and a gateway restart resumes from where it stopped",
    "stopped": "start the gateway (systemctl start egress-warden); if it runs, check "
    "warden_audit_writer_up and the log for the audit writer, and whether PostgreSQL "
    "answers at all (a hung server holds the shipper). It resumes where it stopped",
}
