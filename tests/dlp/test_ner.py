"""The NER stage (dlp/ner.py) with the real pinned model: names in prose, nothing in code
and logs, never over a pattern finding, and a model whose files changed is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from warden.dlp import DlpProfile
from warden.dlp.engine import Detector
from warden.dlp.ner import (
    NerModelError,
    _verify,
    first_names,
    is_prose,
    model_directory,
    prose_chunks,
    surnames,
)
from warden.dlp.profiles import DEFAULT_NER_PACKAGE


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(
        DlpProfile.model_validate(
            {
                "ner": {},
                "phone_regions": ["US", "CH", "DE"],
                "entities": {
                    "PERSON": "redact",
                    "LOCATION": "redact",
                    "PHONE_NUMBER": "redact",
                    "US_SSN": "block",
                    "EMAIL_ADDRESS": "redact",
                },
            }
        )
    )


def people(detector: Detector, text: str) -> list[str]:
    return [text[f.start : f.end] for f in detector.detect(text) if f.entity_type == "PERSON"]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Please draft a reply to Maria Gonzalez about the refund.", ["Maria Gonzalez"]),
        ("Hi Søren, can you check the Q3 numbers?", ["Søren"]),
        (
            "The contract was signed by Ágnes Kovács and Nikolaj Berg.",
            ["Ágnes Kovács", "Nikolaj Berg"],
        ),
        ("Dear Dr. Helena Carlsen,\nthank you for the call.", ["Helena Carlsen"]),
        (
            "Summarize this: Ingrid Olsen asked Tomasz to resend the invoice.",
            ["Ingrid Olsen", "Tomasz"],
        ),
        # quoted prompts carry literal \n escapes
        ("Chloe: What a wife.\\nJesse: Remember me?", ["Chloe", "Jesse"]),
    ],
)
def test_names_in_prose(detector: Detector, text: str, names: list[str]) -> None:
    assert people(detector, text) == names


@pytest.mark.parametrize(
    "text",
    [
        'Traceback (most recent call last):\n  File "app.py", line 12, in handle\n    '
        "raise ValueError(user.name)\nValueError: Kristian",
        "2024-05-01 12:00:03 INFO Started worker pid=4411 user=Helena host=web-1",
        "[ERROR] 2017-10-07 21:14:09 PaymentService: card declined for account 4411",
        "    at com.acme.billing.InvoiceService.render(InvoiceService.java:87)",
        "def send_mail(recipient, subject):\n    return smtp.send(recipient, subject)",
        '{"firstName": "config", "lastName": "Loader", "retries": 3}',
        "const Discipline = require('discipline'); // Metallica Orchestra",
        "SMTP_USER=mailer\nDATABASE_URL=postgres://db/app\nLOG_LEVEL=debug",
        "SELECT name, email FROM users WHERE id = 7;",
        "spec:\n  containers:\n    - name: api\n      image: acme/api:1.4",
    ],
)
def test_no_people_in_code_logs_and_config(detector: Detector, text: str) -> None:
    assert people(detector, text) == []


@pytest.mark.parametrize(
    ("line", "prose"),
    [
        ("Could you rewrite this paragraph for Anna?", True),
        ("Name:    Mehrudin M. Thaler", True),
        ("Shawn: Remember me, Matthew?", True),
        ("2024-05-01T12:00:03Z WARN retrying", False),
        ("    return self._cache[key]", False),
        ('  "user_name": "jdoe",', False),
        ("export API_TOKEN=abc", False),
        ("userName = getUserName(request)", False),
        ("    Traceback = UserService.find(user.id)", False),
        ("Report = build(Quarter.Q3)", False),
        ("}", False),
    ],
)
def test_prose_lines(line: str, prose: bool) -> None:
    assert is_prose(line) is prose


def test_prose_chunks_keep_offsets() -> None:
    text = "Hello Anna,\nx = compute(y);\nplease call Bob.\n"
    chunks = list(prose_chunks(text))
    assert [c.text for c in chunks] == ["Hello Anna,\n", "please call Bob.\n"]
    assert all(text[c.start : c.start + len(c.text)] == c.text for c in chunks)


def test_ner_never_overrides_a_pattern_finding(detector: Detector) -> None:
    """NER's guesses rank below every pattern type: a phone number stays one phone number
    (it used to be relabelled and only ``04 99`` redacted) and an SSN block still fires."""
    text = "Call Ursula Meier at +41 (0)27 240 04 99 or write to ursula.meier@example.ch."
    found = {(f.entity_type, text[f.start : f.end]) for f in detector.detect(text)}
    assert ("PHONE_NUMBER", "+41 (0)27 240 04 99") in found
    assert ("EMAIL_ADDRESS", "ursula.meier@example.ch") in found
    assert ("PERSON", "Ursula Meier") in found
    ssn = "Her SSN is 212-45-6789, says John Smith."
    kinds = {f.entity_type: ssn[f.start : f.end] for f in detector.detect(ssn)}
    assert kinds["US_SSN"] == "212-45-6789"


def test_a_model_whose_files_changed_is_refused(tmp_path: Path) -> None:
    data = model_directory(DEFAULT_NER_PACKAGE)  # verified: the installed files are pinned
    copy = tmp_path / data.name
    shutil.copytree(data, copy)
    _verify(DEFAULT_NER_PACKAGE, copy)  # an identical copy passes
    model = copy / "ner" / "model"
    blob = bytearray(model.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    model.write_bytes(bytes(blob))
    with pytest.raises(NerModelError, match="not the pinned one") as info:
        _verify(DEFAULT_NER_PACKAGE, copy)
    assert "Reinstall the pinned model package" in info.value.diagnostics()
    (copy / "ner" / "model").unlink()
    with pytest.raises(NerModelError, match="cannot be read"):
        _verify(DEFAULT_NER_PACKAGE, copy)


def test_an_unpinned_package_is_refused() -> None:
    with pytest.raises(NerModelError, match="not one whose files are pinned"):
        _verify("en_core_web_lg", Path("/nonexistent"))
    with pytest.raises(NerModelError, match="not installed"):
        model_directory("no_such_model_package_xyz")


# -- names the small model misses or misreads (issue 20, measured with bench/dlp/names.py:
# PERSON recall 0.734 -> 0.818 at precision 0.90 on Presidio's own sentence generator) ---------


@pytest.mark.parametrize(
    ("text", "names"),
    [
        # given names the model reads as places (GPE) when they are not place names
        ("Rebecca is a very sympathetic person.", ["Rebecca"]),
        ("They had 3: Maria, Lauren and Brian.", ["Maria", "Lauren", "Brian"]),
        # the words around a name call it one, whatever the name
        ("What's your last name? Sjöberg", ["Sjöberg"]),
        ("My name is Luana", ["Luana"]),
        ("Bot: What's the name on the account? User: Csenger Gábor", ["Csenger Gábor"]),
        ("Hi Keiran, I'm writing about a wire transfer.", ["Keiran"]),
        ("As promised, here's Marina's address: see below", ["Marina"]),
        ("Name:    Keiko Soto\nRole: buyer", ["Keiko Soto"]),
    ],
)
def test_names_the_model_misses(detector: Detector, text: str, names: list[str]) -> None:
    assert people(detector, text) == names


@pytest.mark.parametrize(
    "text",
    [
        # a place that is also a given name stays a place where the model says so
        "We flew to Victoria and then on to the coast.",
        # a street or a firm named after someone is not that person
        "Ask the driver to stop at the corner of Wassergasse 9 and John Mount St.",
        "Our offices are located at Monika and Turjaška 48",
        # a greeting to a group, a speaker label
        "Hi Team, the build is green again.",
        "Full name: Acme Holdings",
    ],
)
def test_places_streets_and_groups_are_not_people(detector: Detector, text: str) -> None:
    assert people(detector, text) == []


# -- names as people write them (issue 20, third step; bench/dlp/names.py seed 42: recall
# 0.832 -> 0.918 at precision 0.92, seeds 7 and 3 with a third of the sentences lower-cased
# alike): the words around a name ask for one, whatever the name ------------------------------


@pytest.mark.parametrize(
    ("text", "names"),
    [
        # lower case, where only a name can stand
        ("hi john, can you review the PR before friday?", ["john"]),
        ("my name is pedro alvarez and I need help with a visa letter", ["pedro alvarez"]),
        ("dear ms. fitzgerald, thank you for your letter", ["fitzgerald"]),
        # lone family names: addressed, speaking, in a list with a person, side by side
        ("Can you rewrite this email to Okonkwo? He was upset about the delay.", ["Okonkwo"]),
        ("Ask Kowalczyk whether the shipment left.", ["Kowalczyk"]),
        ('"I am glad to hear that," says Brown.', ["Brown"]),
        ('"I am glad to hear that," says Busch.', ["Busch"]),  # a name wordfreq counts
        (
            "I'd like to join accounts with ms. Marsilius\nThe Princess Royal arrived.",
            ["Marsilius"],
        ),
        (
            "Attendees: Priya Raman, Tanaka, Olusegun Adeyemi, Beatriz Lopes.",
            ["Priya Raman", "Tanaka", "Olusegun Adeyemi", "Beatriz Lopes"],
        ),
        ("cc: Hoang, Mwangi, Ferreira", ["Hoang", "Mwangi", "Ferreira"]),
        ("Schmidt and Dubois were on the call.", ["Schmidt", "Dubois"]),
        ("Is there a better song? Caird and Jones were precision engineers.", ["Caird", "Jones"]),
        # names no list knows, where the sentence asks for a person
        ("Renátó, can I please speak to your boss?", ["Renátó"]),
        ("Rangel began writing as a teenager.", ["Rangel"]),
        ("I would like to remove my kid Luisella from the will.", ["Luisella"]),
        ("Sometimes people call me Gerth", ["Gerth"]),
        ('Zarita: "Who are you?"', ["Zarita"]),
        ("Her maiden name is Čeč", ["Čeč"]),
        ("Mrs. Červenková flew to Oslo on Monday morning.", ["Červenková"]),
        ("we need to add Ngozi Okafor as guardian", ["Ngozi Okafor"]),
        # a line that is only a name (address blocks, quoted mail), a form's label
        ("}}Gréta Halász\n}}ABC Arbitrage SA\n}}2431 Veslebakken 48", ["Gréta Halász"]),
        ("> Ingrid van der Berg\n> JCU Corporation", ["Ingrid van der Berg"]),
        (
            "Billing address: Lesława Piotrowska\n  65866 Duizendmonnikenstraat 189",
            ["Lesława Piotrowska"],
        ),
        ("Mrs. Diana Jakobsen Suite 959 2943 ul. Mickiewicza Adama 26", ["Diana Jakobsen"]),
        # what only a person makes; a transcript's speakers once one is a person
        ("Unlike the Kaczmarek novel, it's not about necrophilia.", ["Kaczmarek"]),
        ("Žarko: What a wife.\nCalvin: Remember me, Peter?", ["Žarko", "Calvin", "Peter"]),
        ("McKenzie, can I please speak to your boss?", ["McKenzie"]),
        # a full name no list knows, owning something or belonging somewhere
        ("the verses from Junsaku Hayashida's Cautionary Tales.", ["Junsaku Hayashida"]),
        ("Everardus Oomen from KOMATSU WALL INDUSTRY is the keynote speaker", ["Everardus Oomen"]),
        # signatures
        ("Thanks,\nNguyen Van An", ["Nguyen Van An"]),
        ("Best regards,\nAigerim Bekova\nSenior Analyst", ["Aigerim Bekova"]),
    ],
)
def test_names_where_the_sentence_asks_for_one(
    detector: Detector, text: str, names: list[str]
) -> None:
    assert people(detector, text) == names


@pytest.mark.parametrize(
    "text",
    [
        # products and words in the same places are not people
        "Kubernetes said the pod was evicted.",
        "Docker and Terraform were both installed.",
        "Sorry, can you explain again?",
        "Honestly, would you recommend Python?",
        "The report by Grafana shows spikes.",
        # an imperative the model reads as a first name, and the list after it
        "Add Redis and Postgres to the stack.",
        # a title, not a name
        'It may be that he knew the song "Carry Me Back To Spain" well.',
        # a quoted string literal is code, not prose
        '  "Floor",\n  "Spring",',
        # firms and places that own something
        "Panther Securities PLC's results were late.",
        "Google Cloud's pricing changed.",
        "New York's mayor spoke.",
        # a line of two capitalised words that are no names
        "}}Hello World\n}}Max Connections",
        "To: Kubernetes Team",
        # a name inside an e-mail address is the address's
        "Please send my portfolio to this email TomaszJablonski@gustr.com",
    ],
)
def test_words_in_name_places_that_are_not_names(detector: Detector, text: str) -> None:
    assert people(detector, text) == []


def test_one_locale_given_names_that_are_english_words_leave_the_gazetteer() -> None:
    """Faker's lists hold ``Add``, ``Floor``, ``Reason``, ``Young`` as given names of one
    locale each: on their own in a prompt they are the words (they flagged code/log
    documents as naming people). Names many locales list stay, however common."""
    names = first_names()
    assert {"Add", "Floor", "Reason", "Young", "Spring"}.isdisjoint(names)
    assert {"John", "Maria", "David", "Søren", "Ágnes"} <= names
    assert {"Kowalczyk", "Tanaka", "Okonkwo", "Dubois"} <= surnames()


def test_a_quoted_sentence_is_prose() -> None:
    assert is_prose(
        '"I\'m glad to hear that Tunisia is moving in that direction," says Hrafnsdóttir.'
    )
    assert not is_prose('  "user name",')
