"""`ConsoleContext`: what every screen needs — the files, the reviewer's scope, the clock."""

from __future__ import annotations

import datetime
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from warden.audit.checkpoint import load_public_key
from warden.audit.errors import SigningKeyError

from .db import open_readonly
from .revocation import GatewayControl
from .scope import ReviewerScope


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class StateRows(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Any: ...


class StateReader(Protocol):
    """The part of a state connection the console reads through: ``execute`` with ``?``
    placeholders and ``close``. A read-only SQLite connection is one; on PostgreSQL
    (``state.backend: postgresql``) the composition root passes a read-only connection
    of the same surface (``warden.gateway.state.store.open_state_reader``), whose
    ``close`` leaves its pool open."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> StateRows: ...

    def close(self) -> None: ...


@dataclass
class ConsoleContext:
    audit_db: Path
    state_db: Path
    audit_pub: Path
    scope: ReviewerScope
    control: GatewayControl | None = None
    #: The console's idea of now (frozen in tests so snapshots are stable).
    clock: Callable[[], datetime.datetime] = utc_now
    #: Seconds between looks for new records.
    poll_interval: float = 1.0
    #: Opens the state database when it is not the local SQLite file ``state_db``
    #: (PostgreSQL); ``None``: that file, read-only.
    state_reader: Callable[[], StateReader] | None = None
    _audit: sqlite3.Connection | None = field(default=None, repr=False)

    def audit(self) -> sqlite3.Connection:
        """The UI thread's read-only audit connection (workers open their own)."""
        if self._audit is None:
            self._audit = open_readonly(self.audit_db, "audit")
        return self._audit

    def open_audit(self) -> sqlite3.Connection:
        """A new read-only audit connection, for a worker thread."""
        return open_readonly(self.audit_db, "audit")

    def open_state(self) -> StateReader:
        if self.state_reader is not None:
            return self.state_reader()
        return open_readonly(self.state_db, "state")

    def public_key(self) -> Ed25519PublicKey | None:
        try:
            return load_public_key(self.audit_pub)
        except SigningKeyError:
            return None

    def close(self) -> None:
        if self._audit is not None:
            self._audit.close()
            self._audit = None
