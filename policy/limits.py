"""Quota limits resolved from the policy layers: defaults → tenant → department → user.

A limit left out inherits from the layer above; an explicit ``null`` removes it
(unlimited). Resolution happens at compile time except for users with their own
override, which are merged on look-up (they are few).
"""

from __future__ import annotations

from dataclasses import dataclass

from .document import Limits, PolicyDocument, TenantPolicy

LIMIT_NAMES = ("requests_per_minute", "tokens_per_day", "tokens_per_month")


@dataclass(frozen=True, slots=True)
class LimitSet:
    """Limits of one scope; ``None``: unlimited."""

    requests_per_minute: int | None = None
    tokens_per_day: int | None = None
    tokens_per_month: int | None = None

    def over(self, limits: Limits | None) -> LimitSet:
        """These limits with the fields ``limits`` sets (explicitly) replaced."""
        if limits is None:
            return self
        values = {n: getattr(self, n) for n in LIMIT_NAMES}
        values.update({n: getattr(limits, n) for n in limits.model_fields_set})
        return LimitSet(**values)

    @property
    def unlimited(self) -> bool:
        return all(getattr(self, n) is None for n in LIMIT_NAMES)


NO_LIMITS = LimitSet()


@dataclass(frozen=True, slots=True)
class TenantLimits:
    """Every limit that applies in one tenant."""

    tenant: LimitSet
    user: LimitSet
    department: LimitSet
    user_by_department: dict[str, LimitSet]
    department_by_name: dict[str, LimitSet]
    user_overrides: dict[str, Limits]

    def for_user(self, subject: str | None, department: str | None) -> LimitSet:
        base = self.user_by_department.get(department, self.user) if department else self.user
        override = self.user_overrides.get(subject) if subject else None
        return base.over(override) if override is not None else base

    def for_department(self, department: str) -> LimitSet:
        return self.department_by_name.get(department, self.department)


def tenant_limits(doc: PolicyDocument, tenant: TenantPolicy) -> TenantLimits:
    d, t = doc.defaults.quotas, tenant.quotas
    user = NO_LIMITS.over(d.per_user if d else None).over(t.per_user if t else None)
    dept = NO_LIMITS.over(d.per_department if d else None).over(t.per_department if t else None)
    whole = NO_LIMITS.over(d.per_tenant if d else None).over(t.per_tenant if t else None)
    user_by_dept = {}
    dept_by_name = {}
    for name, layer in tenant.departments.items():
        if layer.quotas is not None:
            user_by_dept[name] = user.over(layer.quotas.per_user)
            dept_by_name[name] = dept.over(layer.quotas.department)
    overrides = {s: u.quotas for s, u in tenant.users.items() if u.quotas is not None}
    return TenantLimits(whole, user, dept, user_by_dept, dept_by_name, overrides)
