"""The doctor's report as text (one line per check, fixes under failures) or JSON."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Final

from warden import __version__

from .results import CheckResult, Status

_MARK: Final[Mapping[Status, str]] = {"pass": "PASS", "warn": "WARN", "fail": "FAIL"}
_COLOUR: Final[Mapping[Status, str]] = {"pass": "32", "warn": "33", "fail": "31"}


def render(results: list[CheckResult], *, colour: bool = False) -> str:
    """The report as text: one line per check, detail and fix indented under failures."""
    lines = [f"Egress Warden doctor (warden {__version__})", ""]
    for r in results:
        mark = _MARK[r.status]
        if colour:
            mark = f"\x1b[{_COLOUR[r.status]}m{mark}\x1b[0m"
        detail = r.detail.splitlines() or [""]
        lines.append(f"[{mark}] {r.name}: {detail[0]}")
        lines.extend(f"         {more}" for more in detail[1:])
        if r.fix and r.status != "pass":
            lines.append(f"         fix: {r.fix}")
    failed = sum(1 for r in results if r.status == "fail")
    warned = sum(1 for r in results if r.status == "warn")
    lines.append("")
    if failed:
        lines.append(f"{failed} check(s) failed, {warned} warning(s). Fix the failures above.")
    else:
        lines.append(f"All {len(results)} checks passed ({warned} warning(s)).")
    return "\n".join(lines) + "\n"


def render_json(results: list[CheckResult]) -> str:
    """The report as JSON (for automation): a list of {name, status, ok, detail, fix}."""
    return json.dumps([{"status": r.status, **dataclasses.asdict(r)} for r in results], indent=2)


def exit_code(results: list[CheckResult]) -> int:
    """0 when nothing failed (warnings allowed), 1 otherwise."""
    return 0 if all(r.ok for r in results) else 1
