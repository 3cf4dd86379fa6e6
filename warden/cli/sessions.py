"""``warden sessions list|revoke``: who is signed in, and ending it.

A revocation goes through the running gateway's admin API, so it takes effect at once and
is audited there; when no gateway runs, it is written to the state database directly.
"""

from __future__ import annotations

import argparse
import datetime
import ssl
from collections.abc import Callable

import httpx

from warden.config import Config
from warden.gateway.admin_api import ADMIN_TOKEN_FILE
from warden.gateway.state.store import open_database
from warden.identity.sessions import SessionStore


def _store(config: Config) -> SessionStore:
    if config.state.backend == "sqlite" and not config.state_db.exists():
        raise SystemExit(f"warden: no state database at {config.state_db}: has the gateway run?")
    return SessionStore(open_database(config).conn)


def _ts(value: float) -> str:
    return datetime.datetime.fromtimestamp(value, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def cmd_list(config: Config, args: argparse.Namespace) -> int:
    sessions = _store(config).active_sessions(args.tenant)
    print(f"{'tenant':12} {'user':32} {'method':9} {'department':14} {'expires':20} session")
    for s in sessions:
        u = s.user
        print(
            f"{u.tenant:12} {(u.email or u.subject)[:32]:32} {s.auth_method:9} "
            f"{(u.department or '-')[:14]:14} {_ts(s.expires_at):20} {s.id[:16]}"
        )
    print(f"{len(sessions)} active session(s)")
    return 0


def cmd_revoke(config: Config, args: argparse.Namespace) -> int:
    body: dict[str, str] = {"tenant": args.tenant}
    if args.session:
        store = _store(config)
        full = [s.id for s in store.active_sessions(args.tenant) if s.id.startswith(args.session)]
        if len(full) != 1:
            raise SystemExit(
                f"warden: {len(full)} sessions of {args.tenant} start with {args.session!r}"
            )
        body["session_id"] = full[0]
    else:
        body["subject"] = args.user
    token_file = config.state_dir / ADMIN_TOKEN_FILE
    verify: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=str(config.ca_dir / "mitmproxy-ca-cert.pem"))
        if config.control.tls
        else True
    )
    try:
        r = httpx.post(
            f"{config.control_url}/admin/sessions/revoke",
            json=body,
            timeout=10,
            trust_env=False,
            headers={"Authorization": f"Bearer {token_file.read_text().strip()}"},
            verify=verify,
        )
        r.raise_for_status()
        count = int(r.json()["revoked"])
        where = "in the running gateway"
    except (httpx.HTTPError, OSError, KeyError, ValueError):
        store = _store(config)
        if "session_id" in body:
            count = store.revoke_sessions([body["session_id"]], "revoked by an administrator")
        else:
            count = store.revoke_user(args.tenant, None, args.user, "revoked by an administrator")
        where = (
            "in the state database (the gateway did not answer; it reads them at its next start)"
        )
    print(f"revoked {count} session(s) {where}")
    return 0 if count else 1


def register(sub: argparse._SubParsersAction, wrap: Callable[..., object]) -> None:  # type: ignore[type-arg]
    sessions = sub.add_parser("sessions", help="signed-in users").add_subparsers(
        dest="sub", required=True
    )
    ls = sessions.add_parser("list", help="active sessions")
    ls.add_argument("--tenant")
    ls.set_defaults(func=wrap(cmd_list))
    rv = sessions.add_parser("revoke", help="end a session, or every session of a user")
    rv.add_argument("--tenant", required=True)
    who = rv.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="the user's subject (sub) at the IdP")
    who.add_argument("--session", help="a session id (or its first characters, as listed)")
    rv.set_defaults(func=wrap(cmd_revoke))
