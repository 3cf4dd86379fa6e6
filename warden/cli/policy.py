"""``warden policy check FILE`` and ``warden policy explain``: lint and ask the policy."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from warden.config import Config
from warden.policy import PolicyError, PolicyHolder, check, explain


def cmd_check(args: argparse.Namespace) -> int:
    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except OSError as exc:
        print(f"warden: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    findings = check(text)
    for finding in findings:
        print(finding)
    errors = sum(1 for f in findings if f.severity == "error")
    warnings = len(findings) - errors
    print(f"{args.file}: {errors} error(s), {warnings} warning(s)")
    return 1 if errors else 0


def cmd_explain(config: Config, args: argparse.Namespace) -> int:
    if config.policy is None:
        print("warden: the config names no policy file (policy.file)", file=sys.stderr)
        return 2
    try:
        holder = PolicyHolder.from_text(config.policy.file.read_text(encoding="utf-8"))
    except PolicyError as exc:
        print(exc.diagnostics(), file=sys.stderr)
        return 2
    print(
        explain(
            holder.get(),
            args.tenant,
            args.user,
            args.model,
            args.host,
            args.department,
            args.group or (),
            entities=args.entity or None,
        )
    )
    return 0


def register(sub: argparse._SubParsersAction, wrap: Callable[..., object]) -> None:  # type: ignore[type-arg]
    policy = sub.add_parser("policy", help="the policy document").add_subparsers(
        dest="sub", required=True
    )
    c = policy.add_parser("check", help="validate and lint a policy file")
    c.add_argument("file")
    c.set_defaults(func=cmd_check)
    e = policy.add_parser("explain", help="the decision for a person and a model, and why")
    e.add_argument("--tenant", required=True)
    e.add_argument("--user", help="the subject (sub)")
    e.add_argument("--model")
    e.add_argument("--host")
    e.add_argument("--department")
    e.add_argument("--group", action="append")
    e.add_argument("--entity", action="append", help="a DLP entity type found (repeatable)")
    e.set_defaults(func=wrap(cmd_explain))
