"""`ConsoleContext`: what every screen needs — the files, the reviewer's scope, the clock."""

from __future__ import annotations

import datetime
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from warden.audit.checkpoint import load_public_key
from warden.audit.errors import SigningKeyError

from .db import open_readonly
from .revocation import GatewayControl
from .scope import ReviewerScope


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


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
    _audit: sqlite3.Connection | None = field(default=None, repr=False)

    def audit(self) -> sqlite3.Connection:
        """The UI thread's read-only audit connection (workers open their own)."""
        if self._audit is None:
            self._audit = open_readonly(self.audit_db, "audit")
        return self._audit

    def open_audit(self) -> sqlite3.Connection:
        """A new read-only audit connection, for a worker thread."""
        return open_readonly(self.audit_db, "audit")

    def open_state(self) -> sqlite3.Connection:
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
