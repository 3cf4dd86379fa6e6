"""Fixed quota windows in UTC: the minute, the day and the calendar month a moment falls in.

Fixed windows (not sliding): a counter belongs to one window and starts from zero in the
next, so "resets at" is a moment a person can be told, and a counter persists as one row
(window start, value). The price: up to twice a per-minute limit can pass around a
minute boundary. Days and months are UTC for every tenant.
"""

from __future__ import annotations

import datetime
from typing import Final

MINUTE: Final = "minute"
DAY: Final = "day"
MONTH: Final = "month"


def month_bounds(now: float) -> tuple[int, int]:
    """Start and end (epoch seconds) of the UTC calendar month containing ``now``."""
    d = datetime.datetime.fromtimestamp(now, datetime.UTC)
    start = datetime.datetime(d.year, d.month, 1, tzinfo=datetime.UTC)
    nxt = datetime.datetime(d.year + (d.month == 12), d.month % 12 + 1, 1, tzinfo=datetime.UTC)
    return int(start.timestamp()), int(nxt.timestamp())


class WindowClock:
    """Window bounds for a moment; the month is recomputed only when the day changes."""

    __slots__ = ("_days",)

    def __init__(self) -> None:
        self._days: tuple[int, int, int, int] = (0, 0, 0, 0)  # day start/end, month start/end

    def bounds(self, now: float) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
        """((minute start, end), (day start, end), (month start, end))."""
        minute = int(now // 60) * 60
        days = self._days
        if not days[0] <= now < days[1]:
            day = int(now // 86400) * 86400
            days = (day, day + 86400, *month_bounds(now))
            self._days = days  # one tuple, replaced whole: safe to share between threads
        return (minute, minute + 60), (days[0], days[1]), (days[2], days[3])
