"""Word lists read from Faker's locale providers (MIT, installed from PyPI, never
downloaded): given names, family names, places and countries of its 80-odd locales, for
the NER gazetteer (``ner.py``) and the address recognizer (``recognizers/address.py``).
Read once per process when a recognizer that needs them is built."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def faker_strings(providers: ModuleType, attrs: tuple[str, ...]) -> set[str]:
    """Every string in the ``attrs`` lists, tuples, sets or dicts (their keys) of the
    ``Provider`` classes of ``providers``' locale modules (e.g.
    ``faker.providers.person``), inherited ones included."""
    found: set[str] = set()
    for module in pkgutil.iter_modules(providers.__path__):
        provider = getattr(
            importlib.import_module(f"{providers.__name__}.{module.name}"), "Provider", None
        )
        if provider is None:
            continue
        for attr in attrs:
            value = next((k.__dict__[attr] for k in provider.__mro__ if attr in k.__dict__), None)
            if isinstance(value, tuple | list | set | frozenset | dict):
                found.update(v for v in value if isinstance(v, str))
    return found
