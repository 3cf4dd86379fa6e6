"""`ReviewerScope`: which tenants the person at the console may see and act on.

Every query the console makes takes a scope and adds its clause (`sql`), and every action
checks `require` first, so a reviewer limited to some tenants can neither read nor revoke
anything of another: not through the flow list, free-text search, export, a detail
opened by number, the summary, the integrity report or the sessions screen. The local
administrator's scope has no tenant list: it sees every tenant, and says so in the header.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class OutOfScope(Exception):
    """An action named a tenant outside the reviewer's scope; nothing was done."""


@dataclass(frozen=True, slots=True)
class ReviewerScope:
    """Who reviews, and the tenants they may see (``None``: every tenant)."""

    reviewer: str
    tenants: frozenset[str] | None

    def __post_init__(self) -> None:
        if self.tenants is not None and not self.tenants:
            raise ValueError(
                f"reviewer {self.reviewer!r} is allowed no tenant: give at least one, "
                "or use ReviewerScope.administrator()"
            )

    @classmethod
    def administrator(cls, name: str = "local administrator") -> ReviewerScope:
        """The operator on the gateway's host: every tenant."""
        return cls(name, None)

    @classmethod
    def limited(cls, reviewer: str, tenants: Iterable[str]) -> ReviewerScope:
        """A reviewer (signed in by device login) limited to ``tenants``."""
        return cls(reviewer, frozenset(tenants))

    @property
    def is_administrator(self) -> bool:
        return self.tenants is None

    def allows(self, tenant: str) -> bool:
        return self.tenants is None or tenant in self.tenants

    def require(self, tenant: str) -> None:
        """Raise `OutOfScope` unless ``tenant`` is one of the reviewer's."""
        if not self.allows(tenant):
            raise OutOfScope(
                f"tenant {tenant!r} is outside {self.reviewer}'s scope; "
                "ask an administrator to review it"
            )

    def sql(self, column: str = "tenant") -> tuple[str, list[str]]:
        """A WHERE clause restricting ``column`` to the scope, with its parameters.

        ``column`` is always one of the console's own constants, never user input.
        The administrator's clause is ``1`` (true): every tenant.
        """
        if self.tenants is None:
            return "1", []
        names = sorted(self.tenants)
        return f"{column} IN ({','.join('?' * len(names))})", names

    def describe(self) -> str:
        if self.tenants is None:
            return f"{self.reviewer} · every tenant"
        return f"{self.reviewer} · tenants {', '.join(sorted(self.tenants))}"
