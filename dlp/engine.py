"""The detection engine of one DLP profile: its recognizer set, Presidio's
``AnalyzerEngine`` over them, and ``Detector``, which finds entities in a text either with
the pre-scan (the default) or with Presidio over the whole text (the reference).

Built once per process and profile (the pool's workers build theirs in their
initializer). Presidio runs on its no-op NLP engine, so nothing is downloaded or loaded;
a profile with ``ner`` adds ``NerRecognizer``, which runs a pinned spaCy NER model over
the prose of the whole text (NER has no cheap trigger; see ``ner.py``).

Both paths end in the same post-processing: per-type thresholds, Presidio's duplicate
removal, the allow-list, and overlap resolution (``resolve``). A finding is therefore the
same whichever path found it; ``tests/dlp/test_prescan.py`` checks that on a corpus.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import regex
from presidio_analyzer import (
    AnalysisExplanation,
    AnalyzerEngine,
    EntityRecognizer,
    PatternRecognizer,
    RecognizerRegistry,
    RecognizerResult,
)
from presidio_analyzer.nlp_engine import NlpArtifacts, NoOpNlpEngine

from .ner import SCORE as NER_SCORE
from .ner import NameFinder, model_directory
from .prescan import Prescan
from .profiles import NER_TYPES, DlpProfile, EntityRule
from .recognizers import build_recognizers
from .recognizers.base import PRIORITY_NER, PRIORITY_PII

LANGUAGE = "en"

#: Escape sequences pasted as text (``\n`` and ``\t`` out of JSON strings, logs, a
#: template): every recognizer sees them as the whitespace they stand for, so a value
#: right after one (``Denmark 83623\n42-51-49-67``) starts a token instead of continuing
#: ``n42``, and a name after one is a word of its own for the NER model. Two characters
#: become a space and the character they stand for, so offsets stay the same.
_ESCAPED_SPACE = regex.compile(r"(?<!\\)\\([ntr])")
_AS_SPACE = {"n": " \n", "r": " \n", "t": " \t"}


def unescaped(text: str) -> str:
    """``text`` with ``\\n``, ``\\t`` and ``\\r`` as the whitespace they stand for, each
    still two characters long (a space and a newline or tab)."""
    if "\\" not in text:
        return text
    return _ESCAPED_SPACE.sub(lambda m: _AS_SPACE[m.group(1)], text)


# Pattern recognizers ignore NLP artifacts; Presidio's signatures want one anyway, and its
# results take an explanation that the fast path does not build.
_NO_ARTIFACTS = cast(NlpArtifacts, None)
_NO_EXPLANATION = cast(AnalysisExplanation, None)


@dataclass(frozen=True, slots=True)
class Finding:
    """One entity in one text: ``text[start:end]`` is the value (kept in memory only)."""

    entity_type: str
    start: int
    end: int
    score: float


class NerRecognizer(EntityRecognizer):
    """The profile's NER model (``dlp/ner.py``) as a Presidio recognizer: it runs over the
    prose of the whole text (NER has no cheap trigger), and ranks below every pattern."""

    PRIORITY = PRIORITY_NER

    def __init__(self, profile: DlpProfile) -> None:
        assert profile.ner is not None
        model = profile.ner
        directory = model.path if model.path is not None else model_directory(str(model.package))
        ignored = frozenset(model.labels_to_ignore)
        wanted = [e for e in profile.rules() if e in NER_TYPES and e not in ignored]
        self.finder = NameFinder(directory, wanted, ignored)
        super().__init__(supported_entities=wanted or ["PERSON"], name="NerRecognizer", version="1")

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        return self.find(text, entities)

    def find(
        self, text: str, entities: list[str], scope: str | None = None
    ) -> list[RecognizerResult]:
        """``analyze`` with the scope the model's cached answers are kept under."""
        wanted = set(entities)
        return [
            RecognizerResult(kind, start, end, NER_SCORE)
            for kind, start, end in self.finder.find(text, scope)
            if kind in wanted
        ]


def build_analyzer(profile: DlpProfile, recognizers: Sequence[EntityRecognizer]) -> AnalyzerEngine:
    """Presidio's ``AnalyzerEngine`` with exactly ``recognizers`` (no predefined set), on
    the no-op NLP engine: the NER model, if any, is one of ``recognizers``."""
    registry = RecognizerRegistry(recognizers=list(recognizers), supported_languages=[LANGUAGE])
    return AnalyzerEngine(
        registry=registry,
        nlp_engine=NoOpNlpEngine(models=[{"lang_code": LANGUAGE, "model_name": "no_op"}]),
        supported_languages=[LANGUAGE],
        default_score_threshold=profile.score_threshold,
    )


class Detector:
    """Finds a profile's entity types in text. Not thread-safe (Presidio caches compiled
    patterns on the recognizers); one per process, as the pool's workers hold it."""

    def __init__(self, profile: DlpProfile) -> None:
        self.profile = profile
        self.rules: dict[str, EntityRule] = profile.rules()
        self.recognizers = build_recognizers(profile)
        # The NER model runs over the whole text's prose: no pre-scan trigger.
        self._ner = [NerRecognizer(profile)] if profile.ner is not None else []
        self.analyzer = build_analyzer(profile, [*self.recognizers, *self._ner])
        self.prescan = Prescan(self.recognizers)
        for recognizer in self.recognizers:
            _compile(recognizer)
        self.entities = sorted(self.rules)
        self._priority = {
            entity: getattr(r, "PRIORITY", PRIORITY_PII)
            for r in [*self._ner, *self.recognizers]
            for entity in r.supported_entities
        }
        self._thresholds = {entity: profile.threshold(entity) for entity in self.entities}
        self._allow = frozenset(profile.allow_list)
        self._allow_patterns = [regex.compile(p) for p in profile.allow_patterns]

    def detect(self, text: str, scope: str | None = None) -> list[Finding]:
        """The profile's entities in ``text``, overlaps resolved, in text order. ``scope``
        (whom the scan is for) keeps the NER model's cached answers apart per person;
        ``None`` neither reads nor fills that cache."""
        text = unescaped(text)
        raw: list[RecognizerResult] = []
        for recognizer, windows in self.prescan.windows(text):
            raw.extend(_run(recognizer, text, windows))
        for recognizer in self._ner:
            raw.extend(recognizer.find(text, self.entities, scope))
        return self._finish(text, raw)

    def detect_full(self, text: str) -> list[Finding]:
        """The reference: Presidio's ``AnalyzerEngine.analyze`` over the whole text."""
        text = unescaped(text)
        raw = self.analyzer.analyze(
            text, language=LANGUAGE, entities=self.entities, score_threshold=0.0
        )
        return self._finish(text, raw)

    def _finish(self, text: str, raw: Iterable[RecognizerResult]) -> list[Finding]:
        kept = [
            r
            for r in raw
            if r.entity_type in self._thresholds
            and r.score >= self._thresholds[r.entity_type]
            and r.end > r.start
        ]
        kept = EntityRecognizer.remove_duplicates(kept)
        findings = [
            Finding(r.entity_type, r.start, r.end, float(r.score))
            for r in kept
            if not self._allowed(text[r.start : r.end])
        ]
        return resolve(findings, self._priority)

    def _allowed(self, value: str) -> bool:
        return value in self._allow or any(p.fullmatch(value) for p in self._allow_patterns)


def resolve(findings: Iterable[Finding], priority: dict[str, int]) -> list[Finding]:
    """Non-overlapping findings, in text order: where two overlap, the one of higher
    priority wins (custom > secrets > personal data), then higher score, then the longer.

    A winner shorter than a loser leaves part of the loser's text in place; priority makes
    that the rare case (a password inside what an e-mail pattern also matched)."""

    def rank(f: Finding) -> tuple[int, float, int, int]:
        return (-priority.get(f.entity_type, PRIORITY_PII), -f.score, -(f.end - f.start), f.start)

    chosen: list[Finding] = []
    for f in sorted(findings, key=rank):
        if all(f.end <= c.start or f.start >= c.end for c in chosen):
            chosen.append(f)
    return sorted(chosen, key=lambda f: (f.start, f.end))


def _run(
    recognizer: EntityRecognizer, text: str, windows: Sequence[tuple[int, int]]
) -> list[RecognizerResult]:
    """``recognizer`` on ``windows`` of ``text``, with offsets into ``text``.

    A plain ``PatternRecognizer`` runs its compiled patterns with ``pos``/``endpos`` on the
    whole text, so look-behinds and ``^`` see the real text before the window (exactly
    Presidio's ``PatternRecognizer`` logic, without its per-match explanation objects).
    Recognizers with their own ``analyze`` (IBAN, phone) get the window as a slice, and
    those with ``analyze_windows`` (context secrets) the windows of the whole text."""
    analyze_windows = getattr(recognizer, "analyze_windows", None)
    if analyze_windows is not None:
        found: list[RecognizerResult] = analyze_windows(text, windows)
        return found
    if (
        isinstance(recognizer, PatternRecognizer)
        and type(recognizer).analyze is PatternRecognizer.analyze
    ):
        return _run_patterns(recognizer, text, windows)
    out: list[RecognizerResult] = []
    for lo, hi in windows:
        for r in recognizer.analyze(text[lo:hi], recognizer.supported_entities, _NO_ARTIFACTS):
            r.start += lo
            r.end += lo
            out.append(r)
    return out


def _compile(recognizer: EntityRecognizer) -> None:
    """Compile a recognizer's patterns now, as the first text that triggers it would
    (Presidio's ``compiled_regex`` with the recognizer's flags; a context recognizer's
    own cache): a worker's first requests would otherwise pay for it, up to tens of ms."""
    own = getattr(recognizer, "_compiled", None)
    if callable(own):
        own()
    elif isinstance(recognizer, PatternRecognizer):
        flags = recognizer.global_regex_flags or 0
        for pattern in cast(Any, recognizer).patterns:
            if pattern.compiled_regex is None or pattern.compiled_with_flags != flags:
                pattern.compiled_with_flags = flags
                pattern.compiled_regex = regex.compile(pattern.regex, flags=flags)


def _run_patterns(
    recognizer: PatternRecognizer, text: str, windows: Sequence[tuple[int, int]]
) -> list[RecognizerResult]:
    entity = recognizer.supported_entities[0]
    # Presidio's attributes are set in __init__ without annotations mypy can read.
    untyped = cast(Any, recognizer)
    metadata = {
        RecognizerResult.RECOGNIZER_NAME_KEY: untyped.name,
        RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: recognizer.id,
    }
    results: list[RecognizerResult] = []
    _compile(recognizer)  # already, unless the recognizer's flags changed since
    for pattern in untyped.patterns:
        compiled = pattern.compiled_regex
        for lo, hi in windows:
            for match in compiled.finditer(text, lo, hi):
                start, end = match.span()
                if start == end:
                    continue
                value = text[start:end]
                score = pattern.score
                valid = recognizer.validate_result(value)
                if valid is not None:
                    score = EntityRecognizer.MAX_SCORE if valid else EntityRecognizer.MIN_SCORE
                if recognizer.invalidate_result(value):
                    score = EntityRecognizer.MIN_SCORE
                if score > EntityRecognizer.MIN_SCORE:
                    results.append(
                        RecognizerResult(entity, start, end, score, _NO_EXPLANATION, dict(metadata))
                    )
    return list(EntityRecognizer.remove_duplicates(results))
