"""Quota counters shared by the processes of one host that count side by side
(``proxy.workers`` above 1, on the one state database).

Each process admits from memory as a single gateway does. `QuotaSync.sync`, run every
`SYNC_EVERY_S` off the event loop, adds what this process counted since its last sync to
the stored counters (``QuotaStore.add``: addition, not overwrite) and takes every
counter any process changed since then, so each process's memory holds the host's total
plus its own counts of the last moment. A limit can therefore be passed by what the other
processes admit within one sync interval: with N processes at most (N - 1) x the
requests one person gets admitted elsewhere in `SYNC_EVERY_S` (bounded slack; exact with
one process). Token counters follow the same way.
"""

from __future__ import annotations

from typing import Final

from .quotas import Quotas, _Counter, _Key
from .quotastore import CounterRow, QuotaStore

SYNC_EVERY_S: Final = 0.5

#: (tenant, counter key) -> (window, value, estimated) as the store last had it.
type _Synced = dict[tuple[str, _Key], tuple[int, int, int]]


class QuotaSync:
    def __init__(self, quotas: Quotas, store: QuotaStore) -> None:
        self._quotas = quotas
        self._store = store
        self._synced: _Synced = {}
        for tenant, counters in list(quotas._tenants.items()):
            with counters.lock:
                for key, c in counters.counters.items():
                    self._synced[(tenant, key)] = (c.window, c.value, c.estimated)
        self._last_pull = 0.0  # the first sync takes every stored counter

    def sync(self, now: float) -> int:
        """Push this process's counts, pull everyone's; rows pushed. Run from a thread."""
        deltas: list[CounterRow] = []
        previous: _Synced = {}
        taken: list[tuple[str, set[_Key]]] = []
        for tenant, counters in list(self._quotas._tenants.items()):
            with counters.lock:
                dirty, counters.dirty = counters.dirty, set()
                for key in dirty:
                    c = counters.counters[key]
                    window, value, estimated = self._synced.get((tenant, key), (c.window, 0, 0))
                    if window != c.window:
                        value = estimated = 0
                    deltas.append(
                        CounterRow(tenant, *key, c.window, c.value - value, c.estimated - estimated)
                    )
                    previous[(tenant, key)] = self._synced.get((tenant, key), (c.window, 0, 0))
                    self._synced[(tenant, key)] = (c.window, c.value, c.estimated)
            taken.append((tenant, dirty))
        try:
            totals = self._store.add(deltas, now)
            others = self._store.changed_since(self._last_pull - 1)
        except Exception:
            self._synced.update(previous)  # sent again at the next sync
            for tenant, dirty in taken:
                counters = self._quotas._counters(tenant)
                with counters.lock:
                    counters.dirty |= dirty
            raise
        self._last_pull = now  # the rows' updated_at are whole seconds of `now`s
        for row in [*totals, *others]:
            self._take(row)
        return len(deltas)

    def _take(self, row: CounterRow) -> None:
        key: _Key = (row.scope, row.key, row.metric)
        counters = self._quotas._counters(row.tenant)
        with counters.lock:
            c = counters.counters.get(key)
            if c is None:
                counters.counters[key] = _Counter(row.window_start, row.value, row.estimated)
            elif c.window == row.window_start:
                window, value, estimated = self._synced.get((row.tenant, key), (c.window, 0, 0))
                if window != c.window:
                    value = estimated = 0
                # the store's total, plus what this process counted since it last pushed
                c.value = row.value + (c.value - value)
                c.estimated = row.estimated + (c.estimated - estimated)
            elif c.window < row.window_start:
                c.window, c.value, c.estimated = row.window_start, row.value, row.estimated
            else:
                return  # a row of a window this process has already left behind
            self._synced[(row.tenant, key)] = (row.window_start, row.value, row.estimated)
