"""``warden evidence …``: investigators' keys, and opening sealed evidence.

``keygen`` makes an investigator's key pair on the investigator's machine (the private
key goes to a new 0600 file, never into a git work tree; the public key is printed);
``add-recipient`` lists a public key for a tenant on the gateway host; ``open`` decrypts
one capture to stdout after checking it against the hash chain, and records the access.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Callable
from pathlib import Path

from warden.audit import AuditLog, AuditRecord, format_ts
from warden.audit.errors import AuditStoreError
from warden.audit.evidence import (
    EvidenceError,
    generate_identity,
    parse_recipient,
    parse_recipients,
    write_identity,
)
from warden.audit.evidence_access import OpenedEvidence, open_evidence, os_user
from warden.audit.evidence_store import recipients_file
from warden.config import Config
from warden.gateway.wiring.evidence import recipients_dir


def _git_work_tree(path: Path) -> Path | None:
    for folder in (path.parent.resolve(), *path.parent.resolve().parents):
        if (folder / ".git").exists():
            return folder
    return None


def cmd_keygen(args: argparse.Namespace) -> int:
    out = Path(args.output)
    repo = _git_work_tree(out)
    if repo is not None:
        print(
            f"warden: {out} is inside the git work tree {repo}: a private key must never be "
            "committed. Write it elsewhere (e.g. ~/.config/warden/investigator.key).",
            file=sys.stderr,
        )
        return 2
    secret, public = generate_identity()
    try:
        write_identity(out, secret, public, format_ts(datetime.datetime.now(datetime.UTC)))
    except EvidenceError as exc:
        print(f"warden: {exc.diagnostics()}", file=sys.stderr)
        return 2
    print(
        f"wrote the private key to {out} (mode 0600); keep it off the gateway host", file=sys.stderr
    )
    print(public)
    return 0


def cmd_add_recipient(config: Config, args: argparse.Namespace) -> int:
    tenants = {t.id for t in config.identity.tenants}
    if args.tenant not in tenants:
        print(
            f"warden: tenant {args.tenant!r} is not in the configuration "
            f"(known: {', '.join(sorted(tenants)) or 'none'})",
            file=sys.stderr,
        )
        return 2
    try:
        parse_recipient(args.public_key)
        folder = recipients_dir(config)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = recipients_file(folder, args.tenant)
        existing = path.read_text(encoding="utf-8") if path.exists() else ""
        keys = parse_recipients(existing, str(path))
        if args.public_key.strip() in keys:
            print(f"{path}: already lists this key", file=sys.stderr)
            return 0
        parse_recipients(existing + "\n" + args.public_key, str(path))  # the limit
        note = f"# {args.name}\n" if args.name else ""
        with path.open("a", encoding="utf-8") as handle:
            if existing and not existing.endswith("\n"):
                handle.write("\n")
            handle.write(f"{note}{args.public_key.strip()}\n")
    except EvidenceError as exc:
        print(f"warden: {exc.diagnostics()}", file=sys.stderr)
        return 2
    _record_admin(config, args.tenant, args.public_key.strip(), args.name)
    print(f"{path}: added; evidence captured from now on opens with its private key")
    return 0


def _record_admin(config: Config, tenant: str, public_key: str, name: str | None) -> None:
    if not config.audit_db.exists():
        return  # the gateway has not run yet: nothing to chain to
    details: dict[str, str | int | bool] = {"recipient": public_key[:100], "os_user": os_user()}
    if name:
        details["name"] = name[:200]
    try:
        log = AuditLog.open(config.audit_db)
        try:
            log.append(
                [
                    AuditRecord.new(
                        kind="admin",
                        tenant=tenant,
                        event="evidence.recipient_added",
                        outcome="ok",
                        details=details,
                    )
                ]
            )
        finally:
            log.close()
    except AuditStoreError as exc:
        print(f"warden: the change was not recorded in the audit trail: {exc}", file=sys.stderr)


def describe(opened: OpenedEvidence) -> str:
    """The decrypted evidence as text for a reviewer."""
    env = opened.envelope
    lines = [
        f"evidence:  {env.evidence_id}",
        f"tenant:    {opened.tenant}  (record #{opened.tenant_seq}, {opened.record_id})",
        f"sha256:    {opened.sha256}  (matches the record in the chain)",
        f"captured:  {env.captured_at}",
        f"request:   {env.method} {env.host}{env.path}",
        "",
    ]
    if env.answer is not None and env.answer_note:  # a cut stream, a socket's exchange
        lines[-1:-1] = [f"note:      {env.answer_note}"]
    for title, body in (("request body", env.request), ("answer", env.answer)):
        if body is None:
            lines += [f"--- {title}: not captured ({env.answer_note or 'none'})", ""]
            continue
        cut = f", truncated to {len(body.data)}" if body.truncated else ""
        coding = f", still {body.content_encoding}-coded" if body.content_encoding else ""
        lines += [
            f"--- {title} ({body.content_type or 'no type'}, {body.size} bytes{cut}{coding})",
            body.text(),
            "",
        ]
    return "\n".join(lines)


def cmd_open(config: Config, args: argparse.Namespace) -> int:
    reviewer = args.reviewer or os_user()
    try:
        opened = open_evidence(
            config.audit_db, args.id, Path(args.key), reviewer=reviewer, via="cli"
        )
    except EvidenceError as exc:
        print(f"warden: {exc.diagnostics()}", file=sys.stderr)
        return 1
    except AuditStoreError as exc:
        print(f"warden: {exc.diagnostics()}", file=sys.stderr)
        return 1
    if args.raw is not None:
        body = opened.envelope.request if args.raw == "request" else opened.envelope.answer
        sys.stdout.buffer.write(body.data if body is not None else b"")
        return 0
    print(describe(opened))
    return 0


def register(sub: argparse._SubParsersAction, wrap: Callable[..., object]) -> None:  # type: ignore[type-arg]
    """Add ``evidence`` and its commands; ``wrap(fn)`` gives them the loaded config."""
    evidence = sub.add_parser("evidence", help="sealed evidence for investigators").add_subparsers(
        dest="sub", required=True
    )
    k = evidence.add_parser("keygen", help="make an investigator's key pair")
    k.add_argument("-o", "--output", required=True, help="the new private key file (0600)")
    k.set_defaults(func=cmd_keygen)
    a = evidence.add_parser("add-recipient", help="seal a tenant's evidence to a public key too")
    a.add_argument("--tenant", required=True)
    a.add_argument("--name", help="who holds the key (a comment in the recipients file)")
    a.add_argument("public_key", help="the age1… line `warden evidence keygen` printed")
    a.set_defaults(func=wrap(cmd_add_recipient))
    o = evidence.add_parser("open", help="decrypt one capture to stdout (the access is audited)")
    o.add_argument("id", help="the evidence id, or the record id of the flow")
    o.add_argument("--key", required=True, help="the investigator's private key file")
    o.add_argument("--reviewer", help="your name for the audit trail (default: the OS user)")
    o.add_argument("--raw", choices=["request", "answer"], help="write that body's bytes only")
    o.set_defaults(func=wrap(cmd_open))
