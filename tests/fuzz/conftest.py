"""Hypothesis profiles for the fuzz tests: a short deterministic round in every ``pytest``
run, a long exploring one under ``make fuzz``.

- ``ci`` (the default): ``derandomize`` so that the suite is the same on every run and a
  failure reproduces on the next one; ``deadline=None`` because a loaded 2-core CI machine
  must not turn a slow example into a failure (time bounds are not what these tests check);
  no example database, so nothing is written beside the sources.
- ``fuzz`` (``HYPOTHESIS_PROFILE=fuzz``, ``make fuzz``): random exploration with many
  examples and the example database in ``.hypothesis/`` (it replays what failed before).
  ``FUZZ_EXAMPLES`` overrides the count.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

_SLOW_MACHINE = [HealthCheck.too_slow, HealthCheck.data_too_large]

settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=_SLOW_MACHINE,
)
settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "20000")),
    deadline=None,
    database=DirectoryBasedExampleDatabase(".hypothesis/examples"),
    print_blob=True,
    suppress_health_check=_SLOW_MACHINE,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
