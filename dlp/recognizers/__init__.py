"""Recognizers: Presidio recognizers for secrets (``secrets``), personal data (``pii``) and
a tenant's own patterns and deny-lists (``custom``), each with the pre-scan's trigger
(``base``). ``build_recognizers`` makes the set one profile asks for."""

from __future__ import annotations

from presidio_analyzer import EntityRecognizer

from ..profiles import DlpProfile
from .address import ENTITY as STREET_ADDRESS
from .address import AddressPartsRecognizer, PostcodeRecognizer, StreetAddressRecognizer
from .custom import custom_recognizer
from .pii import PII_RECOGNIZERS, RegionalPhoneRecognizer
from .secrets import SECRET_RECOGNIZERS

__all__ = ["build_recognizers"]


def build_recognizers(profile: DlpProfile) -> list[EntityRecognizer]:
    """One recognizer per entity type the profile scans for (NER types come from the NLP
    engine, not from here)."""
    wanted = set(profile.rules())
    out: list[EntityRecognizer] = []
    for cls in SECRET_RECOGNIZERS:
        if cls.ENTITY in wanted:
            out.append(cls())
    out.extend(make() for entity, make in PII_RECOGNIZERS.items() if entity in wanted)
    if STREET_ADDRESS in wanted:
        out += [StreetAddressRecognizer(), AddressPartsRecognizer(), PostcodeRecognizer()]
    if "PHONE_NUMBER" in wanted:
        out.append(RegionalPhoneRecognizer(regions=profile.phone_regions))
    for entity, spec in profile.custom.items():
        out.append(custom_recognizer(entity, spec))
    return out
