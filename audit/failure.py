"""What happens to a flow whose audit record cannot be written: per tenant, fail closed or open.

The default is the config's ``audit.on_failure``; a tenant's own ``audit_on_failure``
overrides it both ways (a fail-open tenant in a fail-closed gateway and the reverse).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FailurePolicy:
    fail_open: bool = False
    fail_open_tenants: frozenset[str] = frozenset()
    fail_closed_tenants: frozenset[str] = frozenset()

    @classmethod
    def of(cls, default: str, per_tenant: Mapping[str, str] | None = None) -> FailurePolicy:
        """From ``"fail_open"``/``"fail_closed"``: the default and each tenant's choice."""
        chosen = per_tenant or {}
        return cls(
            default == "fail_open",
            frozenset(t for t, v in chosen.items() if v == "fail_open"),
            frozenset(t for t, v in chosen.items() if v == "fail_closed"),
        )

    def fails_open(self, tenant: str) -> bool:
        """True when a flow of ``tenant`` goes on although its record could not be written."""
        if tenant in self.fail_open_tenants:
            return True
        return self.fail_open and tenant not in self.fail_closed_tenants

    def fails_closed(self, tenant: str) -> bool:
        """True when a flow of ``tenant`` must not go on without its record."""
        return not self.fails_open(tenant)
