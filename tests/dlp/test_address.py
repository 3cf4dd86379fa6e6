"""STREET_ADDRESS (dlp/recognizers/address.py): exact spans per shape and language, near
misses that are not addresses, and the pre-scan finding what the full scan finds."""

from __future__ import annotations

import pytest

from warden.dlp import DlpProfile
from warden.dlp.engine import Detector


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(DlpProfile.model_validate({"entities": {"STREET_ADDRESS": "redact"}}))


def addresses(detector: Detector, text: str) -> list[str]:
    return [text[f.start : f.end] for f in detector.detect(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ship it to 1600 Pennsylvania Avenue NW, Washington.", ["1600 Pennsylvania Avenue NW"]),
        ("She lives at 221B Baker Street, London.", ["221B Baker Street"]),
        ("Office: 350 Fifth Ave, Suite 300, New York", ["350 Fifth Ave, Suite 300"]),
        ("Unsere Adresse: Hauptstraße 5, 10115 Berlin", ["Hauptstraße 5"]),
        ("Bitte an Koepenicker Str. 38 schicken", ["Koepenicker Str. 38"]),
        ("Het kantoor is Keizersgracht 123 in Amsterdam", ["Keizersgracht 123"]),
        ("Envoyez au 12 rue de la Paix, Paris", ["12 rue de la Paix"]),
        ("La sede è in Via Roma 10, Milano", ["Via Roma 10"]),
        ("Calle de Alcalá 48, Madrid", ["Calle de Alcalá 48"]),
        ("Paul-Nevermann-Platz 47, Hamburg", ["Paul-Nevermann-Platz 47"]),
        ("Tuomo lives on Metsanurga 48 street.", ["Metsanurga 48"]),
        ("511 Rebbåsbakken 48 Suite 372 HOLUM", ["511 Rebbåsbakken 48 Suite 372"]),
    ],
)
def test_addresses(detector: Detector, text: str, expected: list[str]) -> None:
    assert addresses(detector, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "During 2000 the company grew.",
        "We moved to Python 3 last year.",
        "Take Main Street to the station.",  # no house number
        "The way forward is 3 steps.",
        "Upgrade to Ubuntu 22.04 Server first.",
        "See chapter 12 Drive Train in the manual.",
        "ERROR 2024-05-01 12:00:03 place order 4411 failed",
        "for st in states: total += 1",
        "Hauptstraße ist lang.",
    ],
)
def test_not_addresses(detector: Detector, text: str) -> None:
    assert addresses(detector, text) == []


def test_prescan_finds_what_the_full_scan_finds(detector: Detector) -> None:
    texts = [
        "Order 7 goes to 42 Elm Street; order 8 to Via Verdi 3 and Lindenweg 7b.\n" * 3,
        "address: Ilmalankuja 57, ULVILA; billing 10 Downing St",
    ]
    for text in texts:
        assert detector.detect(text) == detector.detect_full(text)
