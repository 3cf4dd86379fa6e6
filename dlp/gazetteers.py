"""Word lists read from Faker's locale providers (MIT, installed from PyPI, never
downloaded): given names, family names, places and countries of its 80-odd locales, for
the NER gazetteer (``ner.py``) and the address recognizer (``recognizers/address.py``).
Read once per process when a recognizer that needs them is built. Also: how common a word
is in English (wordfreq), which tells a name the model has never seen from a word."""

from __future__ import annotations

import importlib
import pkgutil
from collections import Counter
from functools import cache
from types import ModuleType


def faker_strings(providers: ModuleType, attrs: tuple[str, ...]) -> set[str]:
    """Every string in the ``attrs`` lists, tuples, sets or dicts (their keys) of the
    ``Provider`` classes of ``providers``' locale modules (e.g.
    ``faker.providers.person``), inherited ones included."""
    return set(faker_locale_counts(providers, attrs))


def faker_locale_counts(providers: ModuleType, attrs: tuple[str, ...]) -> Counter[str]:
    """Like ``faker_strings``, with the number of locale modules that list each string: a
    "given name" one locale lists that is also a common English word (``Add``, ``Floor``,
    ``Reason``) is that locale's oddity, not a name people write."""
    counts: Counter[str] = Counter()
    for module in pkgutil.iter_modules(providers.__path__):
        provider = getattr(
            importlib.import_module(f"{providers.__name__}.{module.name}"), "Provider", None
        )
        if provider is None:
            continue
        found: set[str] = set()
        for attr in attrs:
            value = next((k.__dict__[attr] for k in provider.__mro__ if attr in k.__dict__), None)
            if isinstance(value, tuple | list | set | frozenset | dict):
                found.update(v for v in value if isinstance(v, str))
        counts.update(found)
    return counts


@cache
def english_frequencies() -> dict[str, float]:
    """Lower-case English words seen at least once per million words, with their frequency:
    wordfreq's ``small`` English list (PyPI ``wordfreq`` 3.1.1, pinned; code Apache-2.0,
    data CC-BY-SA 4.0, built from subtitles, Wikipedia, news, books and web text; ~29,000
    words, installed with the package, never downloaded). A capitalised word that is not
    one of them and is no place is a name where the words around it ask for a name
    (``says Okonkwo.``, ``Renátó, can you …``)."""
    from wordfreq import get_frequency_dict

    return dict(get_frequency_dict("en", wordlist="small"))
