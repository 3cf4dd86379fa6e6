"""Telling linear from quadratic work without a timed test.

``growth(run, make)`` runs ``run(make(n))`` for an input of size n and of size 8n and
returns the ratio of the CPU time they took (process time: another process on the
machine does not count; the smallest of three runs: a stray pause does not either).
Linear work gives a ratio near 8, quadratic work near 64. Tests assert a ratio below
``LINEAR_BOUND`` (24): three times the linear figure, for the noise of a busy 2-core
machine, and still far below what quadratic work gives. No time bound is asserted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

LINEAR_BOUND = 24.0


def cpu_seconds[T](run: Callable[[T], object], data: T, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run(data)
        best = min(best, time.process_time() - start)
    return max(best, 1e-6)


def growth[T](run: Callable[[T], object], make: Callable[[int], T], n: int) -> float:
    """CPU time for an input of size 8n over that for size n."""
    small, large = make(n), make(8 * n)
    run(small)  # warm-up: imports, caches, first allocations
    return cpu_seconds(run, large) / cpu_seconds(run, small)
