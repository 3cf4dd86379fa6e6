"""One line of the doctor's report, and how a check makes one."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable
from typing import Final, Literal

Clock = Callable[[], datetime.datetime]
Status = Literal["pass", "warn", "fail"]

NETWORK_TIMEOUT_S: Final = 3.0


@dataclasses.dataclass(frozen=True, slots=True)
class CheckResult:
    """One line of the report: ``ok`` false is a failure; ``warning`` marks an ok worth a look."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None
    warning: bool = False

    @property
    def status(self) -> Status:
        if not self.ok:
            return "fail"
        return "warn" if self.warning else "pass"


def passed(name: str, detail: str) -> CheckResult:
    return CheckResult(name, True, detail)


def warning(name: str, detail: str, fix: str | None = None) -> CheckResult:
    return CheckResult(name, True, detail, fix, warning=True)


def failure(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, False, detail, fix)


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
