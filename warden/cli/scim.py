"""``warden scim token create|list|revoke``: the bearer tokens an IdP provisions with.

A token is shown once, when it is made; the gateway keeps only its hash. Two may be valid
at once per tenant, so an IdP can be moved to a new token before the old one is revoked.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Callable

from warden.config import Config
from warden.gateway.state import store
from warden.identity.scim import ScimCredentials, TooManyTokens, create_token


def _tenant(config: Config, tenant: str) -> None:
    known = {t.id for t in config.identity.tenants if t.scim}
    if tenant not in known:
        raise SystemExit(
            f"warden: tenant {tenant!r} has no SCIM enabled in the config "
            f"(tenants with scim: true: {', '.join(sorted(known)) or 'none'})"
        )


def cmd_create(config: Config, args: argparse.Namespace) -> int:
    _tenant(config, args.tenant)
    conn = store.open_database(config).conn
    try:
        token = create_token(conn, args.tenant)
    except TooManyTokens as exc:
        print(f"warden: {exc}", file=sys.stderr)
        return 1
    base = config.identity.portal.public_url or config.control_url
    print(f"SCIM base URL: {base}/scim/v2/{args.tenant}")
    print(f"Bearer token (shown once, store it in your IdP now): {token}")
    return 0


def cmd_list(config: Config, args: argparse.Namespace) -> int:
    _tenant(config, args.tenant)
    conn = store.open_database(config).conn
    for info in ScimCredentials(conn).tokens(args.tenant):
        made = datetime.datetime.fromtimestamp(info.created_at, datetime.UTC).isoformat(
            timespec="seconds"
        )
        state = "revoked" if info.revoked_at else "valid"
        print(f"{info.id}  created {made}  {state}")
    return 0


def cmd_revoke(config: Config, args: argparse.Namespace) -> int:
    _tenant(config, args.tenant)
    conn = store.open_database(config).conn
    if not ScimCredentials(conn).revoke(args.tenant, args.id):
        print(f"warden: no valid token {args.id!r} for {args.tenant}", file=sys.stderr)
        return 1
    print(f"revoked {args.id}")
    return 0


def register(sub: argparse._SubParsersAction, wrap: Callable[..., object]) -> None:  # type: ignore[type-arg]
    scim = sub.add_parser("scim", help="SCIM provisioning").add_subparsers(
        dest="sub", required=True
    )
    tok = scim.add_parser("token", help="provisioning tokens").add_subparsers(
        dest="op", required=True
    )
    c = tok.add_parser("create", help="make a token (printed once)")
    c.add_argument("--tenant", required=True)
    c.set_defaults(func=wrap(cmd_create))
    ls = tok.add_parser("list", help="token ids and state (never the tokens)")
    ls.add_argument("--tenant", required=True)
    ls.set_defaults(func=wrap(cmd_list))
    rv = tok.add_parser("revoke", help="revoke a token by id")
    rv.add_argument("--tenant", required=True)
    rv.add_argument("--id", required=True)
    rv.set_defaults(func=wrap(cmd_revoke))
