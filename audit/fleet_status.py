"""How far the fleet shipper (`fleet.FleetShipper`) has come, as a small file beside the
audit database: the shipper (a thread of the audit writer process) writes it, the
gateway's ``/metrics`` and `warden doctor` read it.

A file, not a message on the writer's pipe: the writer's pipe carries records and their
answers, and ``warden doctor`` runs in another process (or with the gateway stopped) and
must still see where shipping stopped and why. The shipper rewrites it whenever its
state changes and at least every `HEARTBEAT_S` while it runs, so a file older than
`STALE_S` means no shipper is running (the gateway or its audit writer is stopped).

Fields: ``local_seq`` (the last record committed locally, as the shipper last saw it),
``shipped_seq`` (the last record the central copy holds, as of the last shipment: a
lower bound; a restart takes it from the previous file), ``oldest_unshipped_at`` (the
time of the oldest local record the central copy lacks, ``None`` when it lacks none:
the lag in seconds is measured from it),
``problem`` and ``cause`` (why the last attempt failed; ``None`` while shipping) and
``problem_since``. Times are seconds since the epoch.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final, Literal

STATUS_FILE: Final = "fleet-shipping.json"
#: The shipper rewrites the file at least this often while it runs.
HEARTBEAT_S: Final = 5.0
#: A file older than this: no shipper runs (several heartbeats missed).
STALE_S: Final = 30.0
#: The file is a few hundred bytes; anything larger is not ours.
MAX_BYTES: Final = 16 * 1024

Cause = Literal["unreachable", "conflict", "internal", "stopped"]
CAUSES: Final[tuple[Cause, ...]] = ("unreachable", "conflict", "internal", "stopped")


@dataclass(frozen=True, slots=True)
class ShippingStatus:
    instance: str
    updated_at: float
    local_seq: int
    shipped_seq: int
    oldest_unshipped_at: float | None = None
    problem: str | None = None
    cause: Cause | None = None
    problem_since: float | None = None

    @property
    def unshipped(self) -> int:
        return max(0, self.local_seq - self.shipped_seq)

    def lag_s(self, now: float) -> float:
        """How old the oldest record the central copy lacks is; 0 when it lacks none."""
        if self.unshipped == 0:
            return 0.0
        since = self.oldest_unshipped_at
        return max(0.0, now - (since if since is not None else self.updated_at))

    def stale(self, now: float) -> bool:
        return now - self.updated_at > STALE_S

    def cause_now(self, now: float) -> Cause | None:
        """Why shipping does not move now: the shipper's own cause, or ``stopped``."""
        return "stopped" if self.stale(now) else self.cause


def write_status(path: Path, status: ShippingStatus) -> None:
    """Replace the file at once (readers never see half of it); 0600 like the database."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    data = json.dumps(asdict(status), separators=(",", ":")).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def read_status(path: Path) -> ShippingStatus | None:
    """The file's status; ``None`` when there is none (no shipper ever ran here).

    Raises ``ValueError`` naming what is wrong when the file is not one this module wrote.
    """
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return None
    if len(raw) > MAX_BYTES:
        raise ValueError(f"{path} is larger than {MAX_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a JSON object")
    return ShippingStatus(
        instance=_text(data, "instance", path) or "",
        updated_at=_time(data, "updated_at", path) or 0.0,
        local_seq=_count(data, "local_seq", path),
        shipped_seq=_count(data, "shipped_seq", path),
        oldest_unshipped_at=_time(data, "oldest_unshipped_at", path),
        problem=_text(data, "problem", path),
        cause=_cause(data, path),
        problem_since=_time(data, "problem_since", path),
    )


def _text(data: dict[str, object], key: str, path: Path) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value[:1000] if value else value
    raise ValueError(f"{path}: {key} is not text")


def _time(data: dict[str, object], key: str, path: Path) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise ValueError(f"{path}: {key} is not a time")


def _count(data: dict[str, object], key: str, path: Path) -> int:
    value = data.get(key, 0)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError(f"{path}: {key} is not a record number")


def _cause(data: dict[str, object], path: Path) -> Cause | None:
    value = data.get("cause")
    if value is None:
        return None
    for cause in CAUSES:
        if value == cause:
            return cause
    raise ValueError(f"{path}: cause {str(value)[:40]!r} is not one of {', '.join(CAUSES)}")
