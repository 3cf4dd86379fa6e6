"""The state database's owner: one way to open it, versioned migrations for every table.

Domain stores (sessions, SCIM, quota counters) declare their schema as ordered steps in a
``MIGRATIONS`` tuple of their own module and receive an open connection; they never open a
file or run DDL themselves. ``warden.gateway.state.store`` lists the domains; this package opens the
database (``sqlite``; ``postgres`` for a fleet), renders each step in the backend's
``dialect`` and applies what is pending in one transaction (``migrate``).
"""

from __future__ import annotations

from warden.gateway.state.dialect import POSTGRESQL, SQLITE, Dialect
from warden.gateway.state.errors import StateError
from warden.gateway.state.migrate import (
    Applied,
    Domain,
    DomainStatus,
    MigrationsPending,
    SchemaTooNew,
    migrate,
    require_current,
    status,
)

__all__ = [
    "POSTGRESQL",
    "SQLITE",
    "Applied",
    "Dialect",
    "Domain",
    "DomainStatus",
    "MigrationsPending",
    "SchemaTooNew",
    "StateError",
    "migrate",
    "require_current",
    "status",
]
