"""Fuzzing host matching (``providers/hostnames.py``, ``Catalog.match``): the SNI and Host
a client sends decide what is intercepted.

Properties: ``match`` never raises; it matches a name only in its normalized form (lower
case, one trailing dot dropped), and only a name that is a catalog host or lies below a
wildcard's base; spelling the same name another way (case, trailing dot) gives the same
answer; ``normalize_pattern`` raises ``ValueError`` only.
"""

from __future__ import annotations

import contextlib

from hypothesis import example, given
from hypothesis import strategies as st

from tests.providers.helpers import CATALOG
from warden.providers.hostnames import is_wildcard, normalize_host, normalize_pattern, wildcard_base

_PATTERNS = CATALOG.all_host_patterns()
_LABELS = st.one_of(
    st.sampled_from([p.removeprefix("*.") for p in _PATTERNS]),
    st.sampled_from(["", "x", "-a", "a-", "xn--80ak6aa92e", "A" * 64, "*", "evil", "com"]),
    st.text(max_size=8),
)
hosts = st.one_of(
    st.lists(_LABELS, min_size=1, max_size=4).map(".".join),
    st.builds(
        lambda a, b: a + b, _LABELS, st.sampled_from([".", "..", ":443", "\x00", " ", "\u3002"])
    ),
    st.text(max_size=30),
)


@given(hosts)
@example("API.OPENAI.COM.")
@example("evilapi.openai.com")
@example("x." * 130 + "openai.azure.com")
def test_catalog_match(host: str) -> None:
    service = CATALOG.match(host)
    name = normalize_host(host)
    if service is None:
        return
    assert name is not None
    bases = [wildcard_base(p) for p in service.hosts if is_wildcard(p)]
    assert name in service.hosts or any(name.endswith("." + b) for b in bases)
    assert CATALOG.match(name.upper() + ".") is service


@given(st.text(max_size=40))
def test_normalize_pattern(pattern: str) -> None:
    with contextlib.suppress(ValueError):
        assert normalize_pattern(normalize_pattern(pattern)) == normalize_pattern(pattern)
