"""Quota enforcement: requests per minute and tokens per day and month, per user,
department and tenant, counted in memory on the hot path and written behind to SQLite.

Windows are fixed UTC windows (``windows``). Each tenant has its own counters and its own
lock, so one tenant's traffic never waits on another's; within a tenant a lock is held
for a few dict operations only. Nothing here does I/O except ``flush`` and the load at
construction, which the gateway runs off the event loop (a flush thread, shutdown).

Token limits are checked against tokens already used: a request is admitted while the
counter is below the limit, and its usage is added when the answer is complete, so the
last admitted request may overshoot a token limit by its own size.

A fleet (``shared=True``, several instances on one PostgreSQL) shares the counters: each
``flush`` adds this instance's increments since the last one to the shared rows and reads
back the totals, so an instance's view is the fleet's total as of its last flush plus its
own increments since. The hot path still never waits on the database. To bound what the
fleet admits beyond a requests-per-minute limit, an instance admits at most
``fleet_slack(limit)`` requests per counter between two flushes; past that it refuses
(retry in a second) until its next flush. Once the fleet's total has reached the limit,
each instance admits at most that many more before its next flush shows it the total,
and none after, so N instances together admit at most ``limit + N * fleet_slack(limit)``
per window, however late or failed their flushes (for a limit of 10 and two instances:
12). While the database is unreachable an instance admits at most that many more per
counter and then refuses: a quota fails closed. Token limits gate admission on tokens
already counted, so there the fleet's overshoot is what the others used since an
instance's last flush, as for one instance's last request.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .engine import CompiledPolicy
from .facts import PrincipalFacts
from .limits import LimitSet
from .quotastore import CounterRow, QuotaStore
from .windows import WindowClock

RPM = "requests_per_minute"
TPD = "tokens_per_day"
TPMO = "tokens_per_month"
#: The key of an anonymous principal's user counters (subjects are never empty).
ANONYMOUS = ""


@dataclass(frozen=True, slots=True)
class QuotaVerdict:
    """``ok`` or which limit is reached: its name, scope, value, and when it resets."""

    ok: bool
    limit_name: str | None = None
    scope: str | None = None  # "user", "department" or "tenant"
    retry_after_s: int | None = None
    resets_at: int | None = None  # epoch seconds, UTC
    limit: int | None = None
    used: int | None = None


OK = QuotaVerdict(True)


def fleet_slack(limit: int) -> int:
    """Requests one instance of a fleet may admit per counter between two flushes."""
    return max(1, limit // 20)


class _Counter:
    __slots__ = ("estimated", "pending", "pending_estimated", "value", "window")

    def __init__(self, window: int, value: int = 0, estimated: int = 0) -> None:
        self.window = window
        self.value = value
        self.estimated = estimated
        # a fleet's increments not yet added to the shared row (see ``Quotas.flush``)
        self.pending = value
        self.pending_estimated = estimated


_Key = tuple[str, str, str]  # scope, key, metric


class _TenantCounters:
    __slots__ = ("counters", "dirty", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counters: dict[_Key, _Counter] = {}
        self.dirty: set[_Key] = set()

    def used(self, key: _Key, window: int) -> int:
        c = self.counters.get(key)
        return c.value if c is not None and c.window == window else 0

    def add(self, key: _Key, window: int, amount: int, estimated: int = 0) -> None:
        c = self.counters.get(key)
        if c is None:
            self.counters[key] = _Counter(window, amount, estimated)
        elif c.window != window:
            c.window, c.value, c.estimated = window, amount, estimated
            c.pending, c.pending_estimated = amount, estimated
        else:
            c.value += amount
            c.estimated += estimated
            c.pending += amount
            c.pending_estimated += estimated
        self.dirty.add(key)

    def pending(self, key: _Key, window: int) -> int:
        c = self.counters.get(key)
        return c.pending if c is not None and c.window == window else 0


class Quotas:
    """The counters of every tenant; limits come from the current policy on each call.

    ``policy`` returns the policy in force (``PolicyHolder.get``), so a reload changes
    limits without touching counters. ``store``: where counters persist; ``None`` keeps
    them in memory only.
    """

    def __init__(
        self,
        policy: Callable[[], CompiledPolicy],
        store: QuotaStore | None = None,
        now: float | None = None,
        *,
        shared: bool = False,
    ) -> None:
        self._policy = policy
        self._store = store
        self._shared = shared
        #: A fleet's instance calls this when a counter's share until the next flush is
        #: used up, so the flush can run at once instead of at its next tick.
        self.share_used: Callable[[], None] | None = None
        self._clock = WindowClock()
        self._tenants: dict[str, _TenantCounters] = {}
        self._create_lock = threading.Lock()
        if store is not None:
            self._load(store, time.time() if now is None else now)

    # -- hot path -------------------------------------------------------------------
    def check(self, principal: PrincipalFacts, now: float) -> QuotaVerdict:
        """Whether ``principal`` may send one more request at ``now``."""
        scopes = self._scopes(principal)
        if scopes is None:
            return OK
        counters = self._counters(principal.tenant or "")
        with counters.lock:
            return self._check(counters, scopes, now)

    def record_request(self, principal: PrincipalFacts, now: float) -> None:
        """Count one request against every per-minute counter of ``principal``."""
        scopes = self._scopes(principal)
        if scopes is None:
            return
        minute = self._clock.bounds(now)[0][0]
        counters = self._counters(principal.tenant or "")
        with counters.lock:
            for scope, key, _ in scopes:
                counters.add((scope, key, RPM), minute, 1)

    def admit(self, principal: PrincipalFacts, now: float) -> QuotaVerdict:
        """``check`` and, when it passes, ``record_request``, as one step (no race between
        two requests of the same user taking the last slot)."""
        scopes = self._scopes(principal)
        if scopes is None:
            return OK
        counters = self._counters(principal.tenant or "")
        minute = self._clock.bounds(now)[0][0]
        with counters.lock:
            verdict = self._check(counters, scopes, now)
            if verdict.ok:
                for scope, key, _ in scopes:
                    counters.add((scope, key, RPM), minute, 1)
            used_up = self._shared and (
                not verdict.ok
                or any(
                    limits.requests_per_minute is not None
                    and counters.pending((scope, key, RPM), minute)
                    >= fleet_slack(limits.requests_per_minute)
                    for scope, key, limits in scopes
                )
            )
        if used_up and self.share_used is not None:
            self.share_used()
        return verdict

    def record_usage(
        self,
        principal: PrincipalFacts,
        tokens_in: int,
        tokens_out: int,
        estimated: bool,
        now: float,
    ) -> None:
        """Add one answer's tokens to the day and month counters of ``principal``."""
        scopes = self._scopes(principal)
        tokens = max(0, tokens_in) + max(0, tokens_out)
        if scopes is None or tokens == 0:
            return
        _, (day, _), (month, _) = self._clock.bounds(now)
        est = tokens if estimated else 0
        counters = self._counters(principal.tenant or "")
        with counters.lock:
            for scope, key, _ in scopes:
                counters.add((scope, key, TPD), day, tokens, est)
                counters.add((scope, key, TPMO), month, tokens, est)

    def share(self) -> None:
        """Count with other processes on the same store from now on (``shared``)."""
        self._shared = True

    # -- persistence ----------------------------------------------------------------
    def flush(self, now: float) -> int:
        """Write changed counters to the store (from a thread, never the event loop).

        Each tenant's lock is held only to copy its changed counters; the write runs
        unlocked. The number of rows written; 0 without a store.
        """
        if self._store is None:
            return 0
        if self._shared:
            return self._flush_shared(self._store, now)
        rows: list[CounterRow] = []
        taken: list[tuple[_TenantCounters, set[_Key]]] = []
        for tenant, counters in list(self._tenants.items()):
            with counters.lock:
                dirty, counters.dirty = counters.dirty, set()
                for key in dirty:
                    c = counters.counters[key]
                    rows.append(CounterRow(tenant, *key, c.window, c.value, c.estimated))
            taken.append((counters, dirty))
        try:
            return self._store.save(rows, now)
        except Exception:
            for counters, dirty in taken:  # try again at the next flush
                with counters.lock:
                    counters.dirty |= dirty
            raise

    def _flush_shared(self, store: QuotaStore, now: float) -> int:
        """Add this instance's pending increments to the fleet's rows; take the totals."""
        rows: list[CounterRow] = []
        where: list[tuple[_TenantCounters, _Key]] = []
        for tenant, counters in list(self._tenants.items()):
            with counters.lock:
                dirty, counters.dirty = counters.dirty, set()
                for key in dirty:
                    c = counters.counters[key]
                    rows.append(CounterRow(tenant, *key, c.window, c.pending, c.pending_estimated))
                    where.append((counters, key))
        try:
            totals = store.add(rows, now)
        except Exception:
            for counters, key in where:  # the increments stay pending for the next flush
                with counters.lock:
                    counters.dirty.add(key)
            raise
        for (counters, key), row, total in zip(where, rows, totals, strict=True):
            with counters.lock:
                c = counters.counters[key]
                if c.window != row.window_start:
                    continue  # a new window began meanwhile: its counts are all pending
                c.pending -= row.value
                c.pending_estimated -= row.estimated
                c.value = total + c.pending
        return len(rows)

    def usage(self, principal: PrincipalFacts, now: float) -> dict[str, dict[str, int]]:
        """What ``principal`` used in the current windows, per scope (for pages, CLI)."""
        scopes = self._scopes(principal)
        if scopes is None:
            return {}
        (minute, _), (day, _), (month, _) = self._clock.bounds(now)
        counters = self._counters(principal.tenant or "")
        with counters.lock:
            return {
                scope: {
                    RPM: counters.used((scope, key, RPM), minute),
                    TPD: counters.used((scope, key, TPD), day),
                    TPMO: counters.used((scope, key, TPMO), month),
                }
                for scope, key, _ in scopes
            }

    # -- internals ------------------------------------------------------------------
    def _scopes(self, principal: PrincipalFacts) -> list[tuple[str, str, LimitSet]] | None:
        tenant = principal.tenant
        if tenant is None:
            return None
        t = self._policy().tenants.get(tenant)
        if t is None:
            return None
        dept = principal.department
        subject = principal.subject
        scopes = [("user", subject or ANONYMOUS, t.limits.for_user(subject, dept))]
        if dept:
            scopes.append(("department", dept, t.limits.for_department(dept)))
        scopes.append(("tenant", "", t.limits.tenant))
        return scopes

    def _check(
        self,
        counters: _TenantCounters,
        scopes: list[tuple[str, str, LimitSet]],
        now: float,
    ) -> QuotaVerdict:
        windows = self._clock.bounds(now)
        worst: QuotaVerdict | None = None
        for scope, key, limits in scopes:
            for metric, (start, end), limit in (
                (RPM, windows[0], limits.requests_per_minute),
                (TPD, windows[1], limits.tokens_per_day),
                (TPMO, windows[2], limits.tokens_per_month),
            ):
                if limit is None:
                    continue
                used = counters.used((scope, key, metric), start)
                if used >= limit and (worst is None or (worst.resets_at or 0) < end):
                    worst = QuotaVerdict(
                        False, metric, scope, max(1, math.ceil(end - now)), end, limit, used
                    )
                elif (
                    self._shared
                    and metric == RPM
                    and worst is None
                    and counters.pending((scope, key, metric), start) >= fleet_slack(limit)
                ):  # this instance's share until its next flush is used: see the docstring
                    worst = QuotaVerdict(False, metric, scope, 1, math.ceil(now) + 1, limit, used)
        return worst or OK

    def _counters(self, tenant: str) -> _TenantCounters:
        counters = self._tenants.get(tenant)
        if counters is None:
            with self._create_lock:
                counters = self._tenants.setdefault(tenant, _TenantCounters())
        return counters

    def _load(self, store: QuotaStore, now: float) -> None:
        (minute, _), (day, _), (month, _) = self._clock.bounds(now)
        current = {RPM: minute, TPD: day, TPMO: month}
        for row in store.load():
            if current.get(row.metric) != row.window_start:
                continue  # that window is over; the counter starts again from zero
            counters = self._counters(row.tenant)
            counter = _Counter(row.window_start, row.value, row.estimated)
            counter.pending = counter.pending_estimated = 0  # already in the store
            counters.counters[(row.scope, row.key, row.metric)] = counter
