"""``warden console``: open the review console as a local administrator or as a reviewer.

Both modes are explicit. ``--admin`` sees every tenant (whoever can read the state folder
is an administrator anyway). ``--reviewer`` signs in with a device login through the
portal and opens only the tenant of that person, and only if they hold the reviewer role
there; the credential is revoked when the console closes.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from warden.config import Config
from warden.gateway.admin_api import ADMIN_TOKEN_FILE
from warden.login import Clock, LoginError, PortalClient, default_label, wait_for_approval


def _reviewer_scope(config: Config, args: argparse.Namespace) -> tuple[object, Callable[[], None]]:
    from warden.console import ReviewerScope

    portal = (args.portal or config.identity.portal.public_url or config.control_url).rstrip("/")
    client = PortalClient(portal)
    try:
        grant = client.start(args.idp, f"console {default_label()}")
        print(f"To review, sign in at {grant.verification_uri_complete or grant.verification_uri}")
        print(f"and enter the code: {grant.user_code}", flush=True)
        approval = wait_for_approval(client, grant, Clock())
        who = httpx.get(
            f"{portal}/portal/whoami",
            headers={"Authorization": f"Bearer {approval.credential}"},
            timeout=10,
            trust_env=False,
        ).json()
    except LoginError as exc:
        client.close()
        raise SystemExit(f"warden: {exc}") from None
    if "reviewer" not in who.get("roles", []):
        client.revoke(approval.credential)
        client.close()
        raise SystemExit(
            f"warden: {who.get('email') or who.get('subject')} is not a reviewer of tenant "
            f"{who.get('tenant')!r}: ask an administrator to add you to one of its reviewer groups"
        )

    def done() -> None:
        client.revoke(approval.credential)
        client.close()

    return ReviewerScope.limited(
        str(who.get("email") or who.get("subject")), {str(who["tenant"])}
    ), done


def cmd_console(config: Config, args: argparse.Namespace) -> int:
    from warden.console import ConsoleDataError, ReviewerScope, run_console
    from warden.gateway.state import StateError
    from warden.gateway.state.store import open_state_reader

    if args.admin:
        scope: object = ReviewerScope.administrator()
        done: Callable[[], None] = lambda: None  # noqa: E731
    else:
        scope, done = _reviewer_scope(config, args)
    try:
        # state.backend: postgresql: the sessions screens read it there, read-only
        state = open_state_reader(config)
    except StateError as exc:
        done()
        print(f"warden: {exc.diagnostics()}", file=sys.stderr)
        return 2
    audit_db = config.audit_db
    stop_pulling: Callable[[], None] = lambda: None  # noqa: E731
    if args.fleet:
        audit_db, stop_pulling = _fleet_copy(config)
    try:
        run_console(
            audit_db,
            config.state_db,
            config.audit_dir / "audit-signing.pub",
            config.control_url,
            config.state_dir / ADMIN_TOKEN_FILE if args.admin else None,
            scope,  # type: ignore[arg-type]
            state.connect if state is not None else None,
        )
    except ConsoleDataError as exc:
        print(f"warden: {exc}", file=sys.stderr)
        return 2
    finally:
        stop_pulling()
        if state is not None:
            state.close()
        done()
    return 0


#: How often the console's fleet copy takes in what the instances shipped since.
FLEET_PULL_EVERY_S = 5.0


def _fleet_copy(config: Config) -> tuple[Path, Callable[[], None]]:
    """Pull the fleet's records into ``state_dir/fleet-review.db`` now and then every few
    seconds while the console runs (warden/audit/fleet.py: why a copy, not a live read)."""
    import threading

    from warden.audit.errors import AuditStoreError
    from warden.audit.fleet import pull
    from warden.cli.audit_fleet import fleet_connection

    path = config.state_dir / "fleet-review.db"
    pg = fleet_connection()
    try:
        pull(pg, path)
    except AuditStoreError as exc:
        pg.close()
        raise SystemExit(f"warden: {exc.diagnostics()}") from None
    stop = threading.Event()

    def keep_pulling() -> None:
        while not stop.wait(FLEET_PULL_EVERY_S):
            try:
                pull(pg, path)
            except Exception as exc:  # the console keeps what it has; say why it stopped
                logging.getLogger("warden.console").warning("fleet pull failed: %s", exc)

    thread = threading.Thread(target=keep_pulling, name="fleet-pull", daemon=True)
    thread.start()

    def stop_pulling() -> None:
        stop.set()
        thread.join(30)
        pg.close()

    return path, stop_pulling


def register(sub: argparse._SubParsersAction, wrap: Callable[..., object]) -> None:  # type: ignore[type-arg]
    c = sub.add_parser("console", help="review flows, sessions and integrity (Textual)")
    mode = c.add_mutually_exclusive_group(required=True)
    mode.add_argument("--admin", action="store_true", help="local administrator: every tenant")
    mode.add_argument(
        "--reviewer",
        action="store_true",
        help="sign in as a reviewer (device login): your tenant only",
    )
    c.add_argument(
        "--fleet",
        action="store_true",
        help="every instance's flows: a review copy pulled from the fleet's PostgreSQL "
        "(WARDEN_STATE_DSN), kept up to date while the console runs",
    )
    c.add_argument("--portal", help="the portal URL (default: from the config)")
    c.add_argument("--idp", help="the identity provider, if there are several")
    c.set_defaults(func=wrap(cmd_console))
