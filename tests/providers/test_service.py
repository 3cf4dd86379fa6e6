from __future__ import annotations

import pytest

from warden.providers.service import Service


def test_hosts_are_normalized_and_deduplicated() -> None:
    service = Service("x", "acme", "api", ("API.Acme.test.", "api.acme.test", "*.Acme.test"), "X")
    assert service.hosts == ("api.acme.test", "*.acme.test")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"id": ""}, "non-empty id"),
        ({"hosts": "api.acme.test"}, "not one string"),
        ({"kind": "cli"}, "kind must be 'api' or 'webapp'"),
        ({"hosts": ("*.test",)}, "is not valid"),
    ],
)
def test_invalid_services_are_refused(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "id": "x",
        "provider": "acme",
        "kind": "api",
        "hosts": ("api.acme.test",),
        "display_name": "X",
    }
    fields.update(kwargs)
    with pytest.raises(ValueError, match=message):
        Service(**fields)  # type: ignore[arg-type]
