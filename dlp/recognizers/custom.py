"""Per-tenant recognizers from a profile: custom regex patterns (employee ids, ticket keys)
and deny-lists (project code names), as Presidio ``PatternRecognizer``s.

They have no pre-scan trigger, so each runs once over the whole text: one regex per
pattern, and one alternation for a whole deny-list. Their priority is above secrets and
personal data: a tenant that names a term wants that term's action.
"""

from __future__ import annotations

import regex
from presidio_analyzer import Pattern, PatternRecognizer

from ..profiles import CustomEntity
from .base import CASE_SENSITIVE, PRIORITY_CUSTOM, Triggered


class CustomRecognizer(Triggered, PatternRecognizer):
    TRIGGER = None
    PRIORITY = PRIORITY_CUSTOM


def custom_recognizer(entity_type: str, spec: CustomEntity) -> CustomRecognizer:
    patterns = [Pattern(p.name, p.regex, p.score) for p in spec.patterns]
    return CustomRecognizer(
        supported_entity=entity_type,
        name=f"custom:{entity_type}",
        patterns=patterns,
        deny_list=list(spec.deny_list),
        deny_list_score=spec.deny_list_score,
        context=list(spec.context),
        global_regex_flags=CASE_SENSITIVE | (regex.IGNORECASE if spec.ignore_case else 0),
    )
