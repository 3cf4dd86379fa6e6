"""``warden db status|migrate``: the state database's schema, per domain, and bringing it up.

``status`` changes nothing and exits 0 when every domain is current, 1 when steps are
pending, 2 when the database was written by a newer warden. ``migrate`` applies every
pending step in one transaction (or none) and refuses a newer schema.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from warden.config import Config
from warden.gateway.state import SchemaTooNew, store
from warden.gateway.state.migrate import DomainStatus


def _describe(s: DomainStatus) -> str:
    if not s.known:
        return "unknown to this warden (written by a newer one)"
    if s.too_new:
        return f"newer than this warden (knows up to {s.known})"
    if s.pending:
        return f"{s.pending} step(s) pending"
    return "up to date"


def _print(where: str, states: Sequence[DomainStatus]) -> None:
    print(f"state database: {where}")
    print(f"{'domain':24} {'version':>7} {'known':>5}  state")
    for s in states:
        print(f"{s.name:24} {s.current:>7} {s.known:>5}  {_describe(s)}")


def cmd_status(config: Config, args: argparse.Namespace) -> int:
    where, states = store.describe_state(config)
    _print(where, states)
    if any(s.too_new for s in states):
        return 2
    if any(s.pending for s in states):
        print("run `warden db migrate` to apply the pending steps")
        return 1
    return 0


def cmd_migrate(config: Config, args: argparse.Namespace) -> int:
    try:
        where, applied = store.migrate_state(config)
    except SchemaTooNew as exc:
        print(f"warden: {exc.diagnostics()}")
        return 2
    for step in applied:
        print(f"applied {step.domain} {step.version}: {step.summary}")
    print(f"{where}: up to date" if not applied else f"{where}: {len(applied)} step(s) applied")
    return 0


def register(sub: argparse._SubParsersAction, wrap: Callable[..., object]) -> None:  # type: ignore[type-arg]
    db = sub.add_parser("db", help="the state database's schema").add_subparsers(
        dest="op", required=True
    )
    db.add_parser("status", help="each domain's schema version; changes nothing").set_defaults(
        func=wrap(cmd_status)
    )
    db.add_parser("migrate", help="apply every pending schema step").set_defaults(
        func=wrap(cmd_migrate)
    )
