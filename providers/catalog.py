"""The ``Catalog``: which service, if any, a host belongs to, and the names the CA must cover.

Matching is a dict look-up for exact names and, for wildcard patterns, one look-up per
label suffix of the host (``a.b.openai.azure.com`` tries ``b.openai.azure.com``, then
``openai.azure.com`` ...), so its cost grows with the host's labels, not the catalog's
size. An exact name beats a wildcard; a longer wildcard beats a shorter one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from .default_catalog import DEFAULT_SERVICES
from .hostnames import is_wildcard, normalize_host, normalize_pattern, wildcard_base
from .service import Service, ServiceKind

__all__ = ["Catalog", "Service", "ServiceKind"]


class Catalog:
    """An immutable set of services; a host pattern may belong to one service only."""

    __slots__ = ("_by_id", "_exact", "_services", "_wildcards")

    def __init__(self, services: Iterable[Service]) -> None:
        self._services = tuple(services)
        self._by_id: dict[str, Service] = {}
        self._exact: dict[str, Service] = {}
        self._wildcards: dict[str, Service] = {}  # keyed by the base below "*."
        for service in self._services:
            if service.id in self._by_id:
                raise ValueError(f"the catalog lists service {service.id!r} twice")
            self._by_id[service.id] = service
            for pattern in service.hosts:
                table = self._wildcards if is_wildcard(pattern) else self._exact
                key = wildcard_base(pattern)
                other = table.get(key)
                if other is not None:
                    raise ValueError(
                        f"host pattern {pattern!r} is listed for both {other.id!r} and "
                        f"{service.id!r}; keep it under one service"
                    )
                table[key] = service

    @classmethod
    def default(cls, extra: Iterable[Service] = ()) -> Catalog:
        """The built-in services (``default_catalog.py``) plus ``extra`` ones."""
        return cls((*DEFAULT_SERVICES, *extra))

    @property
    def services(self) -> tuple[Service, ...]:
        return self._services

    def service(self, service_id: str) -> Service:
        """The service with that id; ``KeyError`` if the catalog has none."""
        return self._by_id[service_id]

    def with_extra_hosts(self, service_id: str, hosts: Iterable[str]) -> Catalog:
        """A new catalog in which ``service_id`` also answers on ``hosts``."""
        if isinstance(hosts, str):
            raise ValueError("with_extra_hosts takes a list of host patterns, not one string")
        try:
            current = self._by_id[service_id]
        except KeyError:
            known = ", ".join(sorted(self._by_id))
            raise ValueError(
                f"unknown catalog service {service_id!r}; known services are {known}"
            ) from None
        extended = dataclasses.replace(
            current, hosts=(*current.hosts, *(normalize_pattern(h) for h in hosts))
        )
        return Catalog(extended if s.id == service_id else s for s in self._services)

    def match(self, host: str) -> Service | None:
        """The service ``host`` (no port) belongs to, or ``None`` (also for invalid names)."""
        name = normalize_host(host)
        if name is None:
            return None
        service = self._exact.get(name)
        if service is not None or not self._wildcards:
            return service
        dot = name.find(".")
        while dot != -1:
            service = self._wildcards.get(name[dot + 1 :])
            if service is not None:
                return service
            dot = name.find(".", dot + 1)
        return None

    def all_host_patterns(self) -> tuple[str, ...]:
        """Every host pattern of every service, in catalog order, without repeats."""
        return tuple(dict.fromkeys(p for s in self._services for p in s.hosts))

    def all_hosts(self) -> tuple[str, ...]:
        """Same as ``all_host_patterns`` (exact names and ``*.`` wildcards)."""
        return self.all_host_patterns()

    def name_constraint_domains(self) -> tuple[str, ...]:
        """The DNS subtrees (RFC 5280 dNSName permitted subtrees) a name-constrained CA needs.

        A subtree ``example.com`` permits that name and every name below it, so an exact
        host is its own subtree and ``*.openai.azure.com`` needs ``openai.azure.com``. A
        subtree already inside another one (``x.openai.azure.com`` under
        ``openai.azure.com``) is dropped. Sorted, for stable certificates.
        """
        bases = {wildcard_base(p) for p in self.all_host_patterns()}
        kept = []
        for base in bases:
            dot = base.find(".")
            covered = False
            while dot != -1 and not covered:
                covered = base[dot + 1 :] in bases
                dot = base.find(".", dot + 1)
            if not covered:
                kept.append(base)
        return tuple(sorted(kept))
