"""Which gateway instance writes this audit database: its id, stable across restarts.

In a fleet each instance keeps its own per-tenant chains and signs them with its own key
(``audit-signing.key`` in the audit folder), so the instance *is* its audit folder: the
id is kept there too, in ``instance-id``, written once and read on every start. It is
``fleet.instance_id`` when the config names one, otherwise derived at first start from
the host name and six random hex digits (two instances on one host, or two containers
with the same host name, still differ). Renaming an instance whose folder already has an
id is refused: its records and checkpoints already name the old id, and the central
copy (`fleet`) keys its chains by it.

The id is lower case letters, digits, ``.`` and ``-`` (`fields.INSTANCE_PATTERN`), so it
fits a syslog field, a file name and a SQL key without escaping.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
from pathlib import Path
from typing import Final

from .errors import AuditRecordError, SigningKeyError
from .fields import INSTANCE_PATTERN, optional_instance

INSTANCE_FILE: Final = "instance-id"
_NOT_IN_ID: Final = re.compile(r"[^a-z0-9-]+")


class InstanceIdError(SigningKeyError):
    """The instance id cannot be read, written, or does not match the configured one."""


def derive_instance_id(hostname: str | None = None) -> str:
    """``<first label of the host name>-<6 random hex digits>``, e.g. ``gw1-3fa09c``."""
    label = (hostname if hostname is not None else socket.gethostname()).split(".")[0].lower()
    label = _NOT_IN_ID.sub("-", label).strip("-")[:40] or "warden"
    return f"{label}-{secrets.token_hex(3)}"


def check_instance_id(value: str) -> str:
    """``value`` if it is a valid instance id; raises `InstanceIdError` naming the fix."""
    try:
        optional_instance("fleet.instance_id", value)
    except AuditRecordError as exc:
        raise InstanceIdError(
            f"{exc}; set fleet.instance_id to e.g. 'gw-a' or 'warden-2.eu'"
        ) from None
    return value


def resolve_instance_id(audit_dir: Path, configured: str | None = None) -> str:
    """The id of the instance whose audit folder is ``audit_dir``, created on first use.

    Every process of a host (the supervisor and its workers) calls this; the file is
    written whole under a temporary name and linked into place, so a process that loses
    the race reads the winner's id, never a half-written one.
    """
    if configured is not None:
        check_instance_id(configured)
    path = audit_dir / INSTANCE_FILE
    stored = _read(path)
    if stored is None:
        stored = _create(path, configured or derive_instance_id())
    if configured is not None and configured != stored:
        raise InstanceIdError(
            f"fleet.instance_id is {configured!r} but the audit folder {audit_dir} belongs to "
            f"instance {stored!r} (its records and checkpoints name that id). Set "
            f"fleet.instance_id to {stored!r}, or give the new id its own audit folder "
            "(state_dir) and keep the old folder for its records"
        )
    return stored


def _read(path: Path) -> str | None:
    try:
        raw = path.read_bytes()[:256]
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InstanceIdError(f"cannot read the instance id {path}: {exc.strerror}") from exc
    text = raw.decode("ascii", errors="replace").strip()
    if not INSTANCE_PATTERN.fullmatch(text):
        raise InstanceIdError(
            f"{path} does not hold an instance id ({text[:40]!r}); restore it from a backup "
            "(the id is in every record this instance wrote: `warden audit tail`)"
        )
    return text


def _create(path: Path, value: str) -> str:
    tmp = path.with_name(f".{INSTANCE_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp.write_text(value + "\n")
        tmp.chmod(0o644)
        with contextlib.suppress(FileExistsError):  # another process of this host was first
            os.link(tmp, path)
    except OSError as exc:
        raise InstanceIdError(
            f"cannot write the instance id {path}: {exc.strerror}. Make the audit folder "
            "writable by the gateway's user"
        ) from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    stored = _read(path)
    assert stored is not None
    return stored
