"""When and on what the NER model runs (dlp/nerrun.py), with the real pinned model: the
windows it reads, the cache of its answers (bounded, per scope, never stale after a
change), and code and logs never reaching it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from warden.dlp.ner import NameFinder, model_directory
from warden.dlp.nerrun import EntityCache, WholeText, Window, WindowCutter
from warden.dlp.pool import cache_scope
from warden.dlp.profiles import DEFAULT_NER_PACKAGE


@pytest.fixture(scope="module")
def finder() -> NameFinder:
    return NameFinder(model_directory(DEFAULT_NER_PACKAGE), ["PERSON"])


def _texts(windows: list[Window], text: str) -> list[str]:
    for w in windows:
        assert text[w.start : w.start + len(w.text)] == w.text  # offsets hold
    return [w.text for w in windows]


# --------------------------------------------------------------------------- windows


def test_a_text_without_a_word_that_can_be_a_name_is_never_read() -> None:
    cut = WindowCutter(2, people_only=True)
    text = "Can you make this shorter? I think it's too long.\nThe tone is fine, please keep it."
    assert cut.windows(text) == []


def test_windows_around_names_with_their_offsets() -> None:
    cut = WindowCutter(2, people_only=True)
    text = (
        "please rewrite the following paragraph so that it sounds a bit more friendly and "
        "much less formal than it is now, and after that send it on to Maria Keller who "
        "asked for it yesterday at the meeting about the budget for next year"
    )
    assert _texts(cut.windows(text, 0), text) == ["on to Maria Keller who asked"]
    shifted = cut.windows(text, 100)
    assert shifted[0].start == text.index("on to Maria") + 100


def test_a_capitalised_run_is_never_cut() -> None:
    cut = WindowCutter(1, people_only=True)
    text = "the letter was signed and sent back to us by Anthony van den Oord on the first " * 2
    windows = _texts(cut.windows(text), text)
    assert windows and all("Anthony van den Oord" in w for w in windows)


@pytest.mark.parametrize(
    "text",
    [
        "The weather was bad all week and nobody wanted to go outside after dinner at all.",
        "IBAN GB34QIRA18451462704828 was rejected by the bank again today and nobody knows why",
        "we flew from Switzerland to Germany in one afternoon and then took the slow train back",
        "and then I said that I'm not going to do it again, because I've done it twice already",
    ],
)
def test_words_that_cannot_be_a_persons_name_open_no_window(text: str) -> None:
    assert (
        WindowCutter(2, people_only=True, places=frozenset({"Switzerland", "Germany"})).windows(
            text
        )
        == []
    )


def test_all_capitals_and_places_are_read_when_more_than_people_are_wanted() -> None:
    text = (
        "we flew from Switzerland to the IBM offices in one afternoon and took the slow "
        "train back home the next day because it was a lot cheaper for all of us"
    )
    cut = WindowCutter(2, people_only=False, places=frozenset({"Switzerland"}))
    assert _texts(cut.windows(text), text) == ["flew from Switzerland to the IBM offices in"]


def test_a_text_mostly_covered_is_read_whole() -> None:
    text = "Dear Ana Silva, thanks!\n"
    assert WindowCutter(2, people_only=True).windows(text) == [Window(0, text)]


# --------------------------------------------------------------------------- cache


def test_the_cache_is_bounded_by_bytes_and_forgets_the_least_recently_used() -> None:
    cache = EntityCache(max_bytes=2000)
    keys = [cache.digest("alice", f"sentence {i}") for i in range(100)]
    cache.put(keys[0], (("PERSON", 0, 4),))
    for key in keys[1:]:
        cache.get(keys[0])  # used all along: kept
        cache.put(key, ())
        assert cache.bytes <= cache.max_bytes
    assert cache.get(keys[0]) == (("PERSON", 0, 4),)
    assert cache.get(keys[-1]) == ()
    assert cache.get(keys[1]) is None  # the oldest unused ones went
    assert 1 < len(cache) < 20


def test_an_entry_larger_than_the_cache_is_not_kept() -> None:
    cache = EntityCache(max_bytes=300)
    key = cache.digest("", "x")
    cache.put(key, tuple(("PERSON", i, i + 1) for i in range(10)))
    assert cache.get(key) is None and cache.bytes == 0


def test_digests_depend_on_scope_and_text_and_hold_no_text() -> None:
    cache = EntityCache()
    a = cache.digest("alice", "Maria Keller called")
    assert a == cache.digest("alice", "Maria Keller called")
    assert a != cache.digest("bob", "Maria Keller called")
    assert a != cache.digest("alice", "Maria Kellner called")
    assert a != EntityCache().digest("alice", "Maria Keller called")  # keyed per process
    assert b"Maria" not in a


# --------------------------------------------------------------------------- model runs


class Counting:
    """The real pipeline, counting the texts it is given."""

    def __init__(self, nlp: Any) -> None:
        self.nlp = nlp
        self.texts: list[str] = []

    def pipe(self, texts: Iterator[str], **kwargs: Any) -> Iterator[Any]:
        batch = list(texts)
        self.texts.extend(batch)
        docs: Iterator[Any] = self.nlp.pipe(batch, **kwargs)
        return docs


TURN_1 = (
    "Hi, I need help with an e-mail to a customer about a late delivery of their order.\n"
    "The customer is Quennell Abernathy from the purchasing team and he is rather upset.\n"
)
TURN_2 = "Also mention that his colleague Faolan Brannagh will call him on Monday morning.\n"


@pytest.fixture
def counted(finder: NameFinder) -> Iterator[Counting]:
    nlp = finder.model.nlp
    counting = Counting(nlp)
    finder.model.nlp = counting
    finder.model.cache = EntityCache()
    try:
        yield counting
    finally:
        finder.model.nlp = nlp


def _names(finder: NameFinder, text: str, scope: str | None) -> set[str]:
    return {text[a:b] for kind, a, b in finder.find(text, scope) if kind == "PERSON"}


def test_a_resent_conversation_costs_the_model_only_its_new_text(
    finder: NameFinder, counted: Counting
) -> None:
    first = _names(finder, TURN_1, "alice")
    assert "Quennell Abernathy" in first
    read_first = list(counted.texts)
    assert read_first
    counted.texts.clear()
    second = _names(finder, TURN_1 + TURN_2, "alice")
    assert second == first | {"Faolan Brannagh"}
    assert counted.texts and all(t not in read_first for t in counted.texts)
    assert all("Quennell" not in t for t in counted.texts)
    # the cached answers are the ones the model gives when asked afresh
    assert second == _names(finder, TURN_1 + TURN_2, None)


def test_an_edited_text_is_read_again_never_answered_from_the_cache(
    finder: NameFinder, counted: Counting
) -> None:
    assert "Quennell Abernathy" in _names(finder, TURN_1, "alice")
    edited = TURN_1.replace("Quennell Abernathy", "Zephyrine Ottoline")
    counted.texts.clear()
    names = _names(finder, edited, "alice")
    assert "Zephyrine Ottoline" in names and "Quennell Abernathy" not in names
    assert any("Zephyrine Ottoline" in t for t in counted.texts)


def test_one_persons_cache_never_answers_for_another(finder: NameFinder, counted: Counting) -> None:
    _names(finder, TURN_1, "alice")
    counted.texts.clear()
    assert "Quennell Abernathy" in _names(finder, TURN_1, "bob")
    assert any("Quennell Abernathy" in t for t in counted.texts)  # read again for bob


def test_a_scan_without_scope_neither_reads_nor_fills_the_cache(
    finder: NameFinder, counted: Counting
) -> None:
    _names(finder, TURN_1, None)
    assert len(finder.model.cache) == 0
    counted.texts.clear()
    _names(finder, TURN_1, None)
    assert counted.texts  # read again


def test_code_and_logs_never_reach_the_model(finder: NameFinder, counted: Counting) -> None:
    code = (
        "def notify(user):\n"
        "    Traceback = UserService.find(user.id)\n"
        "2026-12-02 17:03:11 ERROR PaymentGateway Stripe timeout for Customer 4411\n"
        '{"owner": "Jane Doe", "role": "Admin"}\n'
    )
    prose = "Can you check why this fails? My manager Quennell Berglund asked me to fix it today.\n"
    names = _names(finder, code + prose, None)
    # "Jane Doe" is found without the model: a quoted string that is only a full name
    # (ner.py's name lines); nothing of the code or the log line is a name
    assert names == {"Quennell Berglund", "Jane Doe"}
    assert counted.texts and all(t in prose for t in counted.texts)


def test_windows_find_what_reading_everything_finds(finder: NameFinder) -> None:
    text = TURN_1 + TURN_2 + "Thanks, and say hello to Dr. Okafor from me.\n"
    windowed = _names(finder, text, None)
    cutter = finder.model.cutter
    finder.model.cutter = WholeText()
    try:
        whole = _names(finder, text, None)
    finally:
        finder.model.cutter = cutter
    assert windowed == whole
    assert {"Quennell Abernathy", "Faolan Brannagh"} <= windowed


def test_cutting_is_linear_on_a_run_of_capitalised_words() -> None:
    """Hostile input: every word capitalised. Each word is looked at a bounded number of
    times (counted, not timed), and the text is read whole."""
    calls = 0

    class Counted(WindowCutter):
        @staticmethod
        def _in_run(word: str) -> bool:
            nonlocal calls
            calls += 1
            return WindowCutter._in_run(word)

    text = "Aa Bb " * 1_000
    windows = Counted(2, people_only=True).windows(text)
    assert windows == [Window(0, text)]
    assert calls <= 3 * 2_000  # walking each run from each of its words: 2,000²


@pytest.mark.parametrize(
    ("principal", "scope"),
    [("acme\x00https://idp\x00alice", "acme\x00https://idp\x00alice"), ("-", None), ("", None)],
)
def test_scans_for_nobody_in_particular_share_no_cache(principal: str, scope: str | None) -> None:
    """The pool scopes the cache by principal; a scan that names nobody (WebSocket turns
    call ``scan`` without one) gets no cache rather than one shared by everybody."""
    assert cache_scope(principal) == scope


# --------------------------------------------------------------------------- what needs it


def test_runs_the_lists_already_decide_are_not_read_but_still_found(
    finder: NameFinder, counted: Counting
) -> None:
    # a listed given name before another capitalised word is a full name whatever the
    # model says; a lone word no list calls a name is refused whatever the model says
    text = "Please forward the Monday report to Henrik Lindqvist before the Discipline review.\n"
    assert _names(finder, text, None) == {"Henrik Lindqvist"}
    assert counted.texts == []


def test_a_run_no_list_knows_is_read_and_found(finder: NameFinder, counted: Counting) -> None:
    text = "Please forward the Monday report to Quennell Abernathy before noon.\n"
    assert _names(finder, text, None) == {"Quennell Abernathy"}
    assert counted.texts and all("Quennell Abernathy" in t for t in counted.texts)
    assert all("Monday" not in t or "Quennell" in t for t in counted.texts)


def test_a_name_that_is_a_place_and_a_run_ending_in_a_street_word_are_read(
    finder: NameFinder,
) -> None:
    needs = finder._needs_model
    assert needs(["Victoria,"]) and needs(["(Georgia's"])  # a place too: the model may veto
    assert not needs(["(Henrik's,"]) and not needs(["Mary-Jane"])  # the lists decide
    assert not needs(["Discipline"]) and not needs(["Metallica."])
    assert not needs(["Ask", "Henrik", "Lindqvist"])
    assert needs(["Henrik", "Lindqvist", "Street"])  # a street named after someone
    assert needs(["Quennell", "Abernathy"])


# --------------------------------------------------------------------------- fast layers


PROSE = [
    "The customer is Quennell Abernathy from the purchasing team and he is rather upset.",
    "Also mention that his colleague Faolan Brannagh will call him on Monday morning.",
    "x",
    "Dr. Okafor met Anthony van den Oord in Zürich; they talked about São Paulo & Kyiv!",
]


def test_the_fast_token_vectors_are_the_stock_layers_to_the_bit() -> None:
    import numpy
    import spacy

    from warden.dlp.ner import _EXCLUDED
    from warden.dlp.tok2vec import FastTok2Vec, install

    nlp = spacy.load(model_directory(DEFAULT_NER_PACKAGE), exclude=list(_EXCLUDED))
    ner: Any = nlp.get_pipe("ner")
    stock = ner.model.get_ref("tok2vec")
    fast = FastTok2Vec.of(stock)
    assert fast is not None
    mixed = [nlp.make_doc(t) for t in (PROSE[0], "", PROSE[1])]  # an empty doc between
    # many short docs, as a prompt's windows are: the padding rows between them that no
    # later layer reads are left out, and one-word docs are within reach of both sides
    short = [nlp.make_doc(t) for t in ("Okafor", "met Anthony", "x", "Zürich;", "São Paulo")]
    for docs in ([nlp.make_doc(t) for t in PROSE], [nlp.make_doc(PROSE[0])], mixed, short):
        assert numpy.array_equal(fast(docs), stock.predict(docs))
    before = [[(e.label_, e.start_char, e.end_char) for e in d.ents] for d in nlp.pipe(PROSE)]
    assert any(before)
    assert install(nlp)
    assert ner.model.layers[0] is not stock
    after = [[(e.label_, e.start_char, e.end_char) for e in d.ents] for d in nlp.pipe(PROSE)]
    assert after == before
    assert not install(nlp)  # already replaced: not the architecture it knows any more


def test_an_architecture_it_does_not_know_keeps_thincs_layers() -> None:
    from thinc.api import Linear, chain

    from warden.dlp.tok2vec import FastTok2Vec

    assert FastTok2Vec.of(chain(Linear(4, 4), Linear(4, 4))) is None


def test_a_lone_word_beside_a_capitalised_word_is_asked_about_with_it() -> None:
    asked: list[list[str]] = []

    def needed(run: Any) -> bool:
        asked.append(list(run))
        return True

    cut = WindowCutter(1, people_only=True, needed=needed)
    cut.windows("a great song by ex-Zombie Wiik is on the radio")
    # the model's span can take in ``ex-Zombie``: the run is asked about with it
    assert asked == [["ex-Zombie", "Wiik"]]
