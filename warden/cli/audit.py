"""``warden audit …``: verify the chain, export, tail, purge, reindex, and export the public key."""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from warden.audit import (
    AuditLog,
    AuditStoreError,
    CheckpointSigner,
    export,
    export_public_key,
    load_public_key,
    purge,
    tail,
    verify,
)
from warden.audit.bundle import (
    MAX_BUNDLE_BYTES,
    BundleError,
    Selection,
    build_bundle,
    sign_checkpoint_now,
    verify_bundle,
)
from warden.audit.checkpoint import load_signing_key
from warden.audit.errors import SigningKeyError
from warden.audit.evidence_access import os_user
from warden.cli import audit_fleet
from warden.config import Config


def _db(config: Config) -> Path:
    db = config.audit_db
    if not db.exists():
        raise SystemExit(
            f"warden: no audit database at {db}: has the gateway run with this config?"
        )
    return db


def _when(value: str | None) -> datetime.datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SystemExit(
            f"warden: {value!r} is not a time; use e.g. 2026-11-23 or 2026-11-23T10:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def _days(value: str) -> int:
    """``--older-than-days``: a whole number of days, 0 or more (for both purges)."""
    try:
        days = int(value)
    except ValueError:
        days = -1
    if days < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of days, 0 or more")
    return days


def cmd_verify(config: Config, args: argparse.Namespace) -> int:
    if args.fleet:
        return audit_fleet.cmd_verify_fleet(config, args)
    key = load_public_key(config.audit_dir / "audit-signing.pub")

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\rverifying {done}/{total}", end="", file=sys.stderr)

    report = verify(_db(config), key, args.tenant, progress)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(report.describe())
    return 0 if report.ok else 1


def cmd_verify_bundle(args: argparse.Namespace) -> int:
    """Check a bundle on its own: no config, no store (another machine)."""
    trusted = load_public_key(Path(args.key)) if args.key else None
    try:
        if Path(args.bundle).stat().st_size > MAX_BUNDLE_BYTES:
            print(f"warden: {args.bundle} is larger than any bundle", file=sys.stderr)
            return 1
        raw = Path(args.bundle).read_bytes()
    except OSError as exc:
        print(f"warden: cannot read {args.bundle}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    report = verify_bundle(raw, trusted_key=trusted, trusted_key_id=args.key_id)
    print(report.describe())
    if not report.ok:
        return 1
    return 0 if report.pinned else 3


def _verify_dispatch(wrap: Callable[..., object]) -> Callable[[argparse.Namespace], int]:
    with_config = wrap(cmd_verify)

    def run(args: argparse.Namespace) -> int:
        if args.bundle is not None:
            return cmd_verify_bundle(args)
        return int(with_config(args))  # type: ignore[operator]

    return run


def cmd_export_bundle(config: Config, args: argparse.Namespace) -> int:
    if args.conversation:
        selection = Selection("conversation", args.tenant, conversation=args.conversation)
    elif args.flow:
        selection = Selection("flows", args.tenant, flows=tuple(args.flow))
    elif args.subject and args.date and args.tenant:
        selection = Selection("day", args.tenant, subject=args.subject, date=args.date)
    else:
        print(
            "warden: choose what to export: --conversation ID, --flow RECORD_ID (repeatable), "
            "or --tenant T --subject SUB --date YYYY-MM-DD",
            file=sys.stderr,
        )
        return 2
    db = _db(config)
    try:
        private_key = load_signing_key(config.audit_dir)
    except SigningKeyError as exc:
        print(f"warden: {exc}", file=sys.stderr)
        return 2
    now = datetime.datetime.now(datetime.UTC)
    log = AuditLog.open(db)
    try:
        bundle = build_bundle(
            log.connection,
            private_key,
            selection,
            exported_by=os_user(),
            now=now,
            make_checkpoint=lambda tenant: sign_checkpoint_now(
                log, CheckpointSigner(private_key), tenant, now
            ),
        )
    except (BundleError, AuditStoreError) as exc:
        print(f"warden: {exc.diagnostics()}", file=sys.stderr)
        return 1
    finally:
        log.close()
    out = Path(args.output)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(bundle, handle, ensure_ascii=False, separators=(",", ":"))
    print(
        f"wrote {out}: {len(bundle['records'])} record(s), {len(bundle['links'])} link(s), "
        f"{len(bundle['evidence'])} evidence blob(s), signed by key {bundle['manifest']['key_id']}",
        file=sys.stderr,
    )
    return 0


def cmd_export(config: Config, args: argparse.Namespace) -> int:
    out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8", newline="")  # noqa: SIM115
    try:
        count = export(
            _db(config), args.tenant, _when(args.since), _when(args.until), args.format, out
        )
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"exported {count} record(s)", file=sys.stderr)
    return 0


def cmd_tail(config: Config, args: argparse.Namespace) -> int:
    try:
        for stored in tail(_db(config), args.tenant, args.follow, last=args.last):
            print(json.dumps(stored.record.to_dict(), ensure_ascii=False), flush=True)
    except KeyboardInterrupt:
        return 130
    return 0


def cmd_purge(config: Config, args: argparse.Namespace) -> int:
    if args.fleet:
        return audit_fleet.cmd_purge_fleet(config, args)
    if args.tenant is None:
        print(
            "warden: purge needs --tenant T (or --fleet for the fleet's central copy)",
            file=sys.stderr,
        )
        return 2
    days = args.older_than_days
    if days is None:  # 0 is a retention too (everything signed until now)
        days = config.audit.retention_days
    log = AuditLog.open(_db(config))
    try:
        result = purge(log, args.tenant, days, datetime.datetime.now(datetime.UTC))
    finally:
        log.close()
    print(result)
    return 0


def cmd_reindex(config: Config, args: argparse.Namespace) -> int:
    """Build now what the writer would build between batches on a store written before
    the review indexes (and the text index's backlog). Holds the write lock for seconds
    at a time: run it while the gateway is stopped."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    log = AuditLog.open(_db(config), progress=lambda text: print(text, file=sys.stderr))
    started = time.monotonic()
    said = started
    try:
        if not log.index_backlog:
            print("audit store: the review indexes are complete", file=sys.stderr)
            return 0
        while log.index_text(5_000) or log.index_backlog:
            if time.monotonic() - said > 10:
                said = time.monotonic()
                what = "older records" if log.backfilling else "text"
                print(f"audit store: indexing {what} …", file=sys.stderr)
    except AuditStoreError as exc:
        print(f"warden: {exc.diagnostics()}", file=sys.stderr)
        return 1
    finally:
        log.close()
    print(
        f"audit store: review indexes complete in {time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )
    return 0


def cmd_public_key(config: Config, args: argparse.Namespace) -> int:
    key = load_public_key(config.audit_dir / "audit-signing.pub")
    sys.stdout.buffer.write(export_public_key(key))
    return 0


def register(sub: argparse._SubParsersAction, wrap: Callable[..., object]) -> None:  # type: ignore[type-arg]
    """Add ``audit`` and its commands; ``wrap(fn)`` gives them the loaded config."""
    audit = sub.add_parser("audit", help="the audit trail").add_subparsers(
        dest="sub", required=True
    )
    v = audit.add_parser("verify", help="check the hash chain and signed checkpoints")
    v.add_argument("--tenant")
    v.add_argument("--bundle", help="check an investigator's bundle instead (no store needed)")
    v.add_argument("--key", help="with --bundle: the gateway's public key (PEM) to trust")
    v.add_argument("--key-id", help="with --bundle: the gateway's key id to trust")
    v.add_argument(
        "--fleet",
        action="store_true",
        help="every instance's chains in the fleet's PostgreSQL (WARDEN_STATE_DSN)",
    )
    v.add_argument("--instance", help="with --fleet: only this instance")
    v.add_argument(
        "--key-dir",
        help="with --fleet: a folder of <instance>.pub files (each instance's "
        "audit-signing.pub) to check against instead of the registered keys",
    )
    v.set_defaults(func=_verify_dispatch(wrap))
    pl = audit.add_parser(
        "pull", help="copy the fleet's records from PostgreSQL into a review copy for the console"
    )
    pl.add_argument("-o", "--output", required=True, help="the review copy (a SQLite file)")
    pl.set_defaults(func=wrap(audit_fleet.cmd_pull))
    b = audit.add_parser(
        "export-bundle", help="a signed bundle of one conversation, flows or a person's day"
    )
    b.add_argument("--conversation")
    b.add_argument("--flow", action="append", help="a flow's record id (repeatable)")
    b.add_argument("--tenant")
    b.add_argument("--subject")
    b.add_argument("--date", help="YYYY-MM-DD, UTC")
    b.add_argument("-o", "--output", required=True)
    b.set_defaults(func=wrap(cmd_export_bundle))
    e = audit.add_parser("export", help="records as JSON lines or CSV")
    e.add_argument("--tenant")
    e.add_argument("--since")
    e.add_argument("--until")
    e.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    e.add_argument("-o", "--output", default="-")
    e.set_defaults(func=wrap(cmd_export))
    t = audit.add_parser("tail", help="the last records, and new ones with --follow")
    t.add_argument("--tenant")
    t.add_argument("-f", "--follow", action="store_true")
    t.add_argument("-n", "--last", type=int, default=10)
    t.set_defaults(func=wrap(cmd_tail))
    p = audit.add_parser(
        "purge", help="apply retention to one tenant (--fleet: to the fleet's central copy)"
    )
    p.add_argument("--tenant", help="the tenant (required without --fleet)")
    p.add_argument("--older-than-days", type=_days, metavar="N")
    p.add_argument(
        "--fleet",
        action="store_true",
        help="the central copy in the fleet's PostgreSQL (WARDEN_STATE_DSN), for instances "
        "that no longer purge themselves (dead or retired)",
    )
    p.add_argument("--instance", help="with --fleet: only this instance")
    p.add_argument(
        "--key-dir",
        help="with --fleet: a folder of <instance>.pub files to check checkpoints against",
    )
    p.set_defaults(func=wrap(cmd_purge))
    r = audit.add_parser(
        "reindex",
        help="build the review indexes of an older store now (the writer otherwise builds "
        "them in the background; run with the gateway stopped)",
    )
    r.set_defaults(func=wrap(cmd_reindex))
    k = audit.add_parser("public-key", help="the checkpoint signing key's public half (PEM)")
    k.set_defaults(func=wrap(cmd_public_key))
