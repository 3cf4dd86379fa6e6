"""A rule compiled for the hot path: its conditions as precompiled matchers, its outcome.

``test`` answers MATCH, NO or PENDING (everything else holds but the rule depends on DLP
findings and the DLP stage has not run). ``mismatch`` says in words why a rule does not
apply; it is for ``explain``, not the hot path.
"""

from __future__ import annotations

from typing import Final

from .document import Rule
from .facts import RequestFacts
from .globs import Matcher, compile_globs

NO: Final = 0
MATCH: Final = 1
PENDING: Final = 2

#: How ``mismatch`` starts when a rule waits for DLP findings.
DLP_NOT_YET = "depends on DLP findings"


class CompiledRule:
    """One rule of one layer, with its id and everything ``decide`` needs."""

    __slots__ = (
        "action",
        "api",
        "catch_all",
        "coach_message",
        "coach_period_s",
        "dlp_profile",
        "enforce",
        "entities",
        "evidence",
        "host",
        "id",
        "index",
        "kind",
        "layer",
        "logging",
        "max_bytes",
        "max_segments",
        "min_bytes",
        "min_segments",
        "model",
        "provider",
        "reason",
        "service",
        "source",
    )

    def __init__(
        self, rule: Rule, index: int, layer: str, logging: str, coach_period_s: int
    ) -> None:
        m = rule.match
        self.source = rule
        self.index = index
        self.id = rule.id or f"{layer}/{index}"
        self.layer = layer
        self.action: str = rule.action
        self.reason = rule.reason or _default_reason(rule.action, self.id)
        self.dlp_profile = rule.dlp_profile
        self.logging: str = rule.logging or logging
        self.evidence = rule.evidence == "capture"
        self.coach_message = rule.coach.message if rule.coach else None
        self.coach_period_s = (
            rule.coach.period_s
            if rule.coach
            else (coach_period_s if rule.action == "coach" else None)
        )
        self.enforce = rule.enforce
        self.kind = m.kind
        self.provider = _matcher(m.provider)
        self.service = _matcher(m.service)
        self.host = _matcher(m.host)
        self.api = _matcher(m.api)
        self.model = _matcher(m.model)
        self.entities = _matcher(m.entities)
        self.min_bytes = m.min_bytes
        self.max_bytes = m.max_bytes
        self.min_segments = m.min_segments
        self.max_segments = m.max_segments
        self.catch_all = not m.model_dump(exclude_none=True)

    def test(
        self,
        r: RequestFacts,
        provider: str,
        service: str,
        host: str,
        api: str | None,
        model: str | None,
    ) -> int:
        """MATCH, NO or PENDING for request ``r``; the string facts come lower-cased."""
        if self.catch_all:
            return MATCH
        if self.kind is not None and r.kind != self.kind:
            return NO
        if self.provider is not None and not self.provider(provider):
            return NO
        if self.service is not None and not self.service(service):
            return NO
        if self.host is not None and not self.host(host):
            return NO
        if self.api is not None and (api is None or not self.api(api)):
            return NO
        if self.model is not None and (model is None or not self.model(model)):
            return NO
        if self.min_bytes is not None and r.body_bytes < self.min_bytes:
            return NO
        if self.max_bytes is not None and r.body_bytes > self.max_bytes:
            return NO
        if self.min_segments is not None and r.segments < self.min_segments:
            return NO
        if self.max_segments is not None and r.segments > self.max_segments:
            return NO
        if self.entities is not None:
            found = r.entity_types
            if found is None:
                return PENDING
            entities = self.entities
            if not any(entities(e.lower()) for e in found):
                return NO
        return MATCH

    def matched_entities(self, r: RequestFacts) -> tuple[str, ...]:
        """The entity types found in ``r`` that this rule's ``entities`` condition names."""
        if self.entities is None or not r.entity_types:
            return ()
        entities = self.entities
        return tuple(sorted(e for e in r.entity_types if entities(e.lower())))

    def mismatch(self, r: RequestFacts) -> str | None:
        """Why this rule does not apply to ``r`` (``None``: it does); words for ``explain``."""
        m = self.source.match
        checks: list[tuple[object, str | None, str]] = [
            (m.provider, r.provider, "provider"),
            (m.service, r.service, "service"),
            (m.host, r.host, "host"),
            (m.api, r.api, "api"),
            (m.model, r.model, "model"),
        ]
        if m.kind is not None and r.kind != m.kind:
            return f"kind is {r.kind}, rule wants {m.kind}"
        for patterns, value, name in checks:
            if patterns is None:
                continue
            listed = ", ".join(patterns)  # type: ignore[arg-type]
            if value is None:
                return f"request has no {name}; rule wants {listed}"
            if not compile_globs(patterns)(value.lower()):  # type: ignore[arg-type]
                return f"{name} {value!r} not in [{listed}]"
        sizes: tuple[tuple[int | None, int, str, bool], ...] = (
            (m.min_bytes, r.body_bytes, "body bytes", True),
            (m.max_bytes, r.body_bytes, "body bytes", False),
            (m.min_segments, r.segments, "segments", True),
            (m.max_segments, r.segments, "segments", False),
        )
        for bound, size, name, is_min in sizes:
            if bound is not None and (size < bound if is_min else size > bound):
                return f"{name} {size} {'<' if is_min else '>'} {bound}"
        if m.entities is not None:
            if r.entity_types is None:
                return f"{DLP_NOT_YET} ({', '.join(m.entities)}): not known yet"
            if not self.matched_entities(r):
                return f"no DLP finding of [{', '.join(m.entities)}]"
        return None


def _matcher(patterns: tuple[str, ...] | None) -> Matcher | None:
    return None if patterns is None else compile_globs(patterns)


def _default_reason(action: str, rule_id: str) -> str:
    return {
        "allow": f"Allowed by policy rule {rule_id}.",
        "block": f"Blocked by policy rule {rule_id}.",
        "redact": f"Sensitive data is redacted under policy rule {rule_id}.",
        "coach": f"Policy rule {rule_id} asks you to read a notice first.",
    }[action]
