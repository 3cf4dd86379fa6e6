"""``warden audit … --fleet`` and ``warden audit pull``: the fleet's central audit copy in
PostgreSQL (warden/audit/fleet.py, warden/audit/fleet_retention.py)."""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path
from typing import Any

from warden.audit import AuditStoreError
from warden.audit.errors import SigningKeyError
from warden.config import Config


def fleet_connection() -> Any:
    """A connection to the fleet's PostgreSQL (``WARDEN_STATE_DSN``), or exit naming why."""
    import psycopg

    from warden.gateway.state import StateError, store
    from warden.gateway.state.postgres import redact
    from warden.pgbounds import bounded_conninfo

    try:
        dsn = store._dsn(os.environ)
    except StateError as exc:
        raise SystemExit(f"warden: {exc.diagnostics()}") from None
    try:
        # keepalives and a connect timeout (a frozen server or a cut path is found out);
        # no statement timeout: a fleet's verify or pull reads for as long as it needs
        return psycopg.connect(
            bounded_conninfo(dsn, statement_timeout_s=None), autocommit=True, connect_timeout=10
        )
    except psycopg.Error as exc:
        raise SystemExit(
            f"warden: cannot connect to the fleet's database ({redact(dsn)}): {exc}"
        ) from None


def cmd_verify_fleet(config: Config, args: argparse.Namespace) -> int:
    """Every instance's chains and checkpoints, as the fleet's PostgreSQL holds them."""
    import psycopg

    from warden.audit.fleet import load_pinned_keys, verify_fleet

    pinned = None
    if args.key_dir is not None:
        try:
            pinned = load_pinned_keys(Path(args.key_dir))
        except SigningKeyError as exc:
            print(f"warden: {exc}", file=sys.stderr)
            return 2
    with fleet_connection() as pg:
        try:
            report = verify_fleet(pg, pinned, instance=args.instance, tenant=args.tenant)
        except psycopg.errors.UndefinedTable:
            print(
                "warden: the fleet's database has no central audit copy, or not this "
                "release's: run `warden db migrate` (it adds the audit.fleet domain's steps)",
                file=sys.stderr,
            )
            return 2
    print(report.describe())
    if report.ok and pinned is None:
        print(
            "note: checkpoints were checked against the keys registered in the database; "
            "pin each instance's audit-signing.pub with --key-dir to catch a replaced key"
        )
    return 0 if report.ok else 1


def cmd_pull(config: Config, args: argparse.Namespace) -> int:
    """The fleet's records into a local review copy the console opens (--audit-db)."""
    from warden.audit.fleet import pull

    with fleet_connection() as pg:
        try:
            added = pull(pg, Path(args.output))
        except AuditStoreError as exc:
            print(f"warden: {exc.diagnostics()}", file=sys.stderr)
            return 2
    for name, count in added.items():
        print(f"{name}: {count} new record(s)")
    print(f"{args.output}: review copy of {len(added)} instance(s)")
    return 0


def cmd_purge_fleet(config: Config, args: argparse.Namespace) -> int:
    """Retention on the central copy, for instances that no longer purge themselves."""
    import psycopg

    from warden.audit.fleet import instance_keys, load_pinned_keys
    from warden.audit.fleet_retention import purge_central

    if args.older_than_days is None:
        print(
            "warden: purge --fleet needs --older-than-days N: the retention of the tenants "
            "of the instances it purges (the central copy does not know their config)",
            file=sys.stderr,
        )
        return 2
    try:
        pinned = load_pinned_keys(Path(args.key_dir)) if args.key_dir else None
    except SigningKeyError as exc:
        print(f"warden: {exc}", file=sys.stderr)
        return 2
    with fleet_connection() as pg:
        try:
            keys = instance_keys(pg, pinned, args.instance)
            if args.instance is not None and not keys:
                print(
                    f"warden: instance {args.instance} is not in the central audit copy: it "
                    "never shipped, or the name is wrong (`warden audit verify --fleet` lists "
                    "every instance)",
                    file=sys.stderr,
                )
                return 2
            results = purge_central(
                pg,
                keys,
                args.older_than_days,
                datetime.datetime.now(datetime.UTC),
                tenant=args.tenant,
            )
        except psycopg.errors.UndefinedTable:
            print(
                "warden: the fleet's database lacks the central audit copy's retention "
                "tables: run `warden db migrate` (this release adds step 2 of audit.fleet)",
                file=sys.stderr,
            )
            return 2
        except SigningKeyError as exc:
            print(f"warden: {exc}", file=sys.stderr)
            return 2
    for result in results:
        print(result.describe())
    if not results:
        which = f"tenant {args.tenant}" if args.tenant else "any tenant"
        print(f"no checkpoint of {which} in the central audit copy: nothing to purge")
    refused = [r for r in results if r.refused is not None]
    if refused:
        print(f"FAILED: {len(refused)} tenant(s) refused, see above", file=sys.stderr)
        return 1
    return 0
