"""Versioned migrations: each domain's ordered steps, applied once, in one transaction.

A domain (``identity.sessions``, ``policy.quotas`` …) declares ``MIGRATIONS``: a tuple of
``(summary, statements)``; step *n* (1-based) brings the domain to version *n*. Steps are
never edited once released, only appended. ``state_migrations`` records every applied
step; a database that records a domain or a version this build does not know was written
by a newer warden, and nothing here touches it (``SchemaTooNew``).

The first step of each domain is the layout that domain created on its own before this
owner existed (``CREATE ... IF NOT EXISTS``), so a store from then is adopted as it is,
rows included.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from warden.gateway.state.dialect import Dialect
from warden.gateway.state.errors import StateError

Step = tuple[str, tuple[str, ...]]  # (summary, statements), statements with dialect tokens

LEDGER = "state_migrations"
_LEDGER_DDL = """CREATE TABLE IF NOT EXISTS state_migrations (
    domain TEXT NOT NULL,
    version INTEGER NOT NULL,
    summary TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (domain, version)
)"""


class Cursor(Protocol):
    def fetchall(self) -> list[Any]: ...
    def fetchone(self) -> Any: ...


class Connection(Protocol):
    """What a migration needs of a connection: sqlite3's, or the PostgreSQL adapter's.

    ``?`` placeholders; no implicit transactions (sqlite3 ``isolation_level=None``,
    psycopg ``autocommit=True``), so ``BEGIN``/``COMMIT`` are the caller's.
    """

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Cursor: ...


@dataclass(frozen=True, slots=True)
class Domain:
    """One owner of tables and the steps that built them."""

    name: str
    steps: tuple[Step, ...]
    #: Backends this domain exists on (None: all), e.g. PostgreSQL's change notifications.
    dialects: tuple[str, ...] | None = None

    @property
    def version(self) -> int:
        return len(self.steps)


@dataclass(frozen=True, slots=True)
class DomainStatus:
    name: str
    current: int  # recorded in the database (0: never migrated)
    known: int  # the newest this build knows (0: a domain this build does not know)

    @property
    def pending(self) -> int:
        return max(self.known - self.current, 0)

    @property
    def too_new(self) -> bool:
        return self.current > self.known


class SchemaTooNew(StateError):
    def __init__(self, where: str, newer: Sequence[DomainStatus]) -> None:
        parts = ", ".join(
            f"{s.name} is at version {s.current}, this warden knows "
            + (f"up to {s.known}" if s.known else "no such domain")
            for s in newer
        )
        super().__init__(
            f"the state database {where} was written by a newer warden ({parts})",
            fix="run the warden release that wrote it (or a newer one); to go back to "
            "this release, restore the backup taken before the upgrade. Nothing was changed.",
        )
        self.newer = tuple(newer)


class MigrationsPending(StateError):
    def __init__(self, where: str, pending: Sequence[DomainStatus]) -> None:
        parts = ", ".join(f"{s.name} {s.current} -> {s.known}" for s in pending)
        super().__init__(
            f"the state database {where} needs migrations this instance does not apply "
            f"by itself ({parts})",
            fix="run `warden db migrate` once (one instance of the fleet), then start warden",
        )
        self.pending = tuple(pending)


def _check_domains(domains: Sequence[Domain], dialect: Dialect) -> list[Domain]:
    """The domains that exist on ``dialect``; names must be unique."""
    names = [d.name for d in domains]
    if len(set(names)) != len(names) or LEDGER in names:
        raise ValueError(f"state domains must have unique names: {names}")
    return [d for d in domains if d.dialects is None or dialect.name in d.dialects]


def _ledger_exists(conn: Connection, dialect: Dialect) -> bool:
    return conn.execute(dialect.table_exists, (LEDGER,)).fetchone() is not None


def _recorded(conn: Connection) -> dict[str, int]:
    rows = conn.execute(
        "SELECT domain, MAX(version) FROM state_migrations GROUP BY domain"
    ).fetchall()
    return {str(name): int(version) for name, version in rows}


def _statuses(recorded: dict[str, int], domains: Sequence[Domain]) -> list[DomainStatus]:
    known = {d.name: d.version for d in domains}
    out = [DomainStatus(d.name, recorded.get(d.name, 0), d.version) for d in domains]
    out += [DomainStatus(n, v, 0) for n, v in sorted(recorded.items()) if n not in known]
    return out


def status(conn: Connection, dialect: Dialect, domains: Sequence[Domain]) -> list[DomainStatus]:
    """Each domain's recorded and known version, changing nothing; unknown domains last."""
    domains = _check_domains(domains, dialect)
    recorded = _recorded(conn) if _ledger_exists(conn, dialect) else {}
    return _statuses(recorded, domains)


def require_current(
    conn: Connection, dialect: Dialect, domains: Sequence[Domain], where: str
) -> list[DomainStatus]:
    """Refuse a schema newer than this build, or one with steps still to apply."""
    states = status(conn, dialect, domains)
    if newer := [s for s in states if s.too_new]:
        raise SchemaTooNew(where, newer)
    if pending := [s for s in states if s.pending]:
        raise MigrationsPending(where, pending)
    return states


@dataclass(frozen=True, slots=True)
class Applied:
    domain: str
    version: int
    summary: str


def migrate(
    conn: Connection, dialect: Dialect, domains: Sequence[Domain], where: str
) -> list[Applied]:
    """Apply every pending step of every domain, in order, in one transaction.

    Either all of them are applied and recorded or none is. A schema newer than this build
    is refused before anything changes.
    """
    domains = _check_domains(domains, dialect)
    for statement in dialect.begin:
        conn.execute(statement)
    try:
        conn.execute(_LEDGER_DDL)
        states = _statuses(_recorded(conn), domains)
        if newer := [s for s in states if s.too_new]:
            raise SchemaTooNew(where, newer)
        applied = list(_apply(conn, dialect, domains, {s.name: s.current for s in states}))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return applied


def _apply(
    conn: Connection, dialect: Dialect, domains: Sequence[Domain], current: dict[str, int]
) -> Iterable[Applied]:
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
    for domain in domains:
        for version, (summary, statements) in enumerate(domain.steps, start=1):
            if version <= current[domain.name]:
                continue
            for statement in statements:
                conn.execute(dialect.render(statement))
            conn.execute(
                "INSERT INTO state_migrations (domain, version, summary, applied_at)"
                " VALUES (?, ?, ?, ?)",
                (domain.name, version, summary, now),
            )
            yield Applied(domain.name, version, summary)
