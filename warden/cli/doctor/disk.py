"""Free disk space where the state, audit database and spool live; the state folder's mode."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from warden.config import Config

from .results import CheckResult, failure, passed, warning

DISK_WARN_BYTES: Final = 1024**3  # 1 GiB
DISK_FAIL_BYTES: Final = 100 * 1024**2  # 100 MiB


def _existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def disk_checks(config: Config) -> Iterator[CheckResult]:
    seen: set[int] = set()
    for label, path in (("state", config.state_dir), ("audit and spool", config.audit_dir)):
        base = _existing(path)
        try:
            device = base.stat().st_dev
            usage = shutil.disk_usage(base)
        except OSError as exc:
            yield failure(f"disk ({label})", f"{base}: {exc.strerror}", "check the path exists")
            continue
        if device in seen:
            continue
        seen.add(device)
        free = usage.free
        shown = f"{free / 1024**3:.1f} GiB free on the file system of {base}"
        fix = f"free space or move state_dir to a larger volume (the {label} folder)"
        if free < DISK_FAIL_BYTES:
            yield failure(f"disk ({label})", shown + ": under 100 MiB", fix)
        elif free < DISK_WARN_BYTES:
            yield warning(f"disk ({label})", shown + ": under 1 GiB", fix)
        else:
            spool = config.audit.syslog.spool_max_mb if config.audit.syslog else 0
            if spool * 1024**2 > free:
                yield warning(
                    f"disk ({label})",
                    shown + f": less than the syslog spool may take ({spool} MB)",
                    "lower audit.syslog.spool_max_mb or free space",
                )
            else:
                yield passed(f"disk ({label})", shown)


def state_dir_checks(config: Config) -> Iterator[CheckResult]:
    state = config.state_dir
    if not state.exists():
        yield warning(
            "state folder",
            f"{state} does not exist yet",
            "`warden run` creates it (0700) at first start; under systemd, "
            "StateDirectory= makes it",
        )
        return
    loose = []
    for path in (state, config.ca_dir, config.audit_dir):
        try:
            mode = path.stat().st_mode
        except OSError:
            continue
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            loose.append((path, stat.S_IMODE(mode)))
    if loose:
        yield failure(
            "state folder",
            "; ".join(f"{p} is {m:04o}" for p, m in loose)
            + ": others may read the CA key, sessions and audit records",
            "chmod 700 "
            + " ".join(str(p) for p, _ in loose)
            + " (systemd: StateDirectoryMode=0700)",
        )
    elif not os.access(state, os.W_OK):
        yield warning(
            "state folder",
            f"{state} is 0700 but not writable by this user (uid {os.getuid()})",
            "run the doctor as the gateway's user or root",
        )
    else:
        yield passed("state folder", f"{state} is 0700")
