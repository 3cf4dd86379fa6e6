"""ISO 8601 durations as the policy writes them (``P1D``, ``PT8H``, ``P1W``), in seconds."""

from __future__ import annotations

import re

_DURATION = re.compile(
    r"^P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?$"
)
_SECONDS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> int:
    """Seconds in ``text``; ``ValueError`` naming the expected form if it is not one.

    Years and months are refused on purpose: their length varies, and a coaching period
    should mean the same number of seconds for everyone.
    """
    m = _DURATION.match(text.strip().upper())
    if m is None or text.strip().upper() in ("P", "PT"):
        raise ValueError(
            f"{text!r} is not a duration such as 'P1D' (a day), 'PT8H' (8 hours) or 'P1W'"
        )
    seconds = sum(int(v) * _SECONDS[k] for k, v in m.groupdict().items() if v)
    if seconds <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return seconds
