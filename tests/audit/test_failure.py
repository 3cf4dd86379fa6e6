"""The per-tenant fail-open rule: a tenant's own choice overrides the default both ways."""

from __future__ import annotations

import pytest

from warden.audit.failure import FailurePolicy


@pytest.mark.parametrize(
    ("default", "tenant", "fails_open"),
    [
        ("fail_closed", "plain", False),
        ("fail_closed", "lenient", True),  # the tenant opted out of the closed default
        ("fail_open", "plain", True),
        ("fail_open", "strict", False),  # the tenant stays closed in an open gateway
        ("fail_open", "lenient", True),
    ],
)
def test_tenant_choice_overrides_the_default(default: str, tenant: str, fails_open: bool) -> None:
    rule = FailurePolicy.of(default, {"lenient": "fail_open", "strict": "fail_closed"})
    assert rule.fails_open(tenant) is fails_open
    assert rule.fails_closed(tenant) is not fails_open


def test_the_default_is_closed() -> None:
    assert FailurePolicy().fails_closed("anyone")
