"""``Service``: one LLM service of the catalog (an API or a web app) and the hosts it answers on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .hostnames import normalize_pattern

ServiceKind = Literal["api", "webapp"]


@dataclass(frozen=True, slots=True)
class Service:
    """An LLM service: ``id`` is stable (config, audit), ``hosts`` are host patterns.

    Patterns are normalized on construction (lower case, no trailing dot), so
    ``Service(..., hosts=("API.Example.com.",))`` stores ``api.example.com``; an invalid
    pattern raises ``ValueError`` with the fix.
    """

    id: str
    provider: str
    kind: ServiceKind
    hosts: tuple[str, ...]
    display_name: str

    def __post_init__(self) -> None:
        if not self.id or not self.id.strip():
            raise ValueError("a catalog service needs a non-empty id such as 'openai'")
        if isinstance(self.hosts, str):  # type: ignore[unreachable]  # config data may be wrong
            raise ValueError(
                f"service {self.id!r}: hosts must be a tuple of host patterns, not one string"
            )
        if self.kind not in ("api", "webapp"):
            raise ValueError(f"service {self.id!r}: kind must be 'api' or 'webapp'")
        normalized = tuple(dict.fromkeys(normalize_pattern(p) for p in self.hosts))
        object.__setattr__(self, "hosts", normalized)
