"""Running scans off the event loop: ``DlpRunner``, a process pool of DLP workers with an
asyncio API (``await runner.scan(segments, profile_id)``).

Presidio's work is CPU-bound Python, so it runs in worker processes (``spawn``: no
inherited mitmproxy state or event loop), each of which builds one ``Scanner`` per
profile in its initializer, once. The runner bounds the work it takes on and never lets a
scan wait without limit:

- at most ``max_in_flight`` scans are queued or running, and at most
  ``max_in_flight_per_principal`` of one person's (or one client address's); one more
  fails at once with ``DlpBusy``, for that person only, instead of queueing;
- the workers are handed out fairly (``FairSlots``): a waiting scan starts in turn by
  the bytes each person has had scanned (fair queuing, not first come), one person runs
  on at most all workers but one, and a scan that finds no free worker within
  ``timeout`` fails with ``DlpBusy``;
- a scan that takes longer than ``timeout`` seconds fails with ``DlpTimeout``; if it was
  already running, its worker is stuck on it, so the pool is replaced (its workers are
  killed; other scans running on it fail with ``DlpError``);
- a worker that dies (``BrokenProcessPool``) fails its scans with ``DlpError``, and the
  next scan starts a new pool.

The caller fails the flow closed on any ``DlpError`` unless the profile's ``on_error`` is
``allow``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from warden.files.extract import ExtractLimits
from warden.files.facts import FileKind
from warden.providers import TextSegment

from .errors import DlpBusy, DlpError, DlpTimeout
from .fairness import FairSlots
from .filescan import FileScan, scan_file
from .plan import Scanner, ScanResult
from .profiles import DlpProfile

log = logging.getLogger(__name__)

#: ``(profile id, segments, scope)``: the scope is the principal, which keeps cached model
#: answers of one person from answering (faster) for another (``dlp/nerrun.py``).
ScanJob = Callable[[str, tuple[TextSegment, ...], str], ScanResult]

# The worker's scanners, built by ``_init_worker``; one per profile id.
_scanners: dict[str, Scanner] = {}


#: Scanned once by each new worker: loads what the recognizers load lazily (tldextract's
#: suffix list, compiled patterns) before the first real request pays for it.
_WARM_UP = (TextSegment(("warm-up",), "user", "a@b.example.com 4111 1111 1111 1111"),)


def cache_scope(principal: str) -> str | None:
    """The scope a scan's cached NER answers are kept under: the principal; none (no
    cache) when the caller named nobody (``"-"``), as the scans of everyone it stands for
    would otherwise share one scope."""
    return None if principal in ("", "-") else principal


def _cost(segments: Sequence[TextSegment]) -> int:
    """What a scan asks of a worker, for fair turns: the characters it scans."""
    return sum(len(segment.text) for segment in segments)


def _init_worker(
    profiles: dict[str, DlpProfile],
    hash_keys: dict[str, bytes],
    lifeline: Callable[[int], None] | None = None,
    parent_pid: int = 0,
) -> None:
    if lifeline is not None:  # first: a gateway that dies now must not leave us behind
        lifeline(parent_pid)
    _scanners.clear()
    for profile_id, profile in profiles.items():
        scanner = Scanner(profile, hash_keys.get(profile_id))
        scanner.scan(_WARM_UP)
        _scanners[profile_id] = scanner


def scan_in_worker(
    profile_id: str, segments: tuple[TextSegment, ...], scope: str | None = None
) -> ScanResult:
    """The job a worker runs for one request, for ``scope`` (the principal)."""
    return _scanners[profile_id].scan(segments, scope)


def scan_file_in_worker(
    profile_id: str | None, data: bytes, kind: FileKind, label: str, limits: ExtractLimits
) -> FileScan:
    """The job a worker runs for one uploaded file (``filescan``): extract, then scan
    with the profile (``None``: extract only, to know the file can be read)."""
    scanner = _scanners[profile_id] if profile_id is not None else None
    return scan_file(scanner, data, kind, label, limits)


def _ready() -> None:
    """A no-op job: it runs only once the worker's initializer has finished."""


class DlpRunner:
    """A pool of DLP workers for a fixed set of profiles. Use from one event loop."""

    def __init__(
        self,
        profiles: Mapping[str, DlpProfile],
        *,
        hash_keys: Mapping[str, bytes] | None = None,
        workers: int = 2,
        max_in_flight: int | None = None,
        max_in_flight_per_principal: int | None = None,
        timeout: float = 5.0,
        job: ScanJob = scan_in_worker,
        lifeline: Callable[[int], None] | None = None,
        file_timeout: float = 30.0,
        file_job: Callable[..., FileScan] = scan_file_in_worker,
    ) -> None:
        """``hash_keys``: profile id -> HMAC key, needed by profiles that ``hash``.
        ``max_in_flight`` defaults to four per worker, ``max_in_flight_per_principal`` to
        half of it (at least one): one person never holds more than half the places, and
        their scans beyond a worker's worth wait their turn. ``job`` replaces the worker's scan
        function (tests use it to crash or hang a worker); it must be importable by name.
        ``lifeline``, importable by name too, runs first in each worker with the parent's
        pid: it makes the worker die with the gateway (``warden.lifeline``).
        ``file_timeout`` bounds one uploaded file's extraction and scan (``scan_file``);
        ``file_job`` replaces its worker function, as ``job`` does for prompts."""
        keys = dict(hash_keys or {})
        missing = [pid for pid, p in profiles.items() if p.uses("hash") and not keys.get(pid)]
        if missing:
            raise ValueError(
                f"DLP profile(s) {', '.join(sorted(missing))} hash values but have no hash key"
            )
        if workers < 1:
            raise ValueError("the DLP pool needs at least one worker")
        self._profiles = dict(profiles)
        self._keys = keys
        self._workers = workers
        self._max_in_flight = max_in_flight if max_in_flight is not None else 4 * workers
        self._per_principal = (
            max_in_flight_per_principal
            if max_in_flight_per_principal is not None
            else max(1, self._max_in_flight // 2)
        )
        self._in_flight_of: dict[str, int] = {}
        # One running scan per worker; one person on all but one worker (when there are two
        # or more), so somebody else's scan always finds a worker free.
        self._slots = FairSlots(workers, max(1, workers - 1))
        self._timeout = timeout
        self._file_timeout = file_timeout
        self._job = job
        self._file_job = file_job
        self._lifeline = lifeline
        self._in_flight = 0
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def profile(self, profile_id: str) -> DlpProfile:
        return self._profiles[profile_id]

    async def start(self) -> None:
        """Starts the workers and waits until each has built its engines (a few seconds:
        importing Presidio), so the first requests do not pay for it."""
        executor = self._pool()
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(executor, _ready) for _ in range(self._workers))
        )

    def in_flight_of(self, principal: str) -> int:
        return self._in_flight_of.get(principal, 0)

    def running_for(self, principal: str) -> int:
        return self._slots.running_for(principal)

    async def scan(
        self, segments: Sequence[TextSegment], profile_id: str, principal: str = "-"
    ) -> ScanResult:
        """The ``ScanResult`` for ``segments`` under ``profile_id``, on behalf of
        ``principal`` (whose load is bounded and queued apart from others'). Raises
        ``DlpBusy``, ``DlpTimeout`` or ``DlpError``; ``KeyError`` for an unknown profile
        (a config bug)."""
        if profile_id not in self._profiles:
            raise KeyError(f"no DLP profile {profile_id!r}")
        if not segments:
            return ScanResult({}, (), frozenset(), None)
        result: ScanResult = await self._run(
            principal,
            _cost(segments),
            self._timeout,
            self._job,
            profile_id,
            tuple(segments),
            cache_scope(principal),
        )
        return result

    async def scan_file(
        self,
        data: bytes,
        kind: FileKind,
        profile_id: str | None,
        label: str,
        limits: ExtractLimits,
        principal: str = "-",
    ) -> FileScan:
        """Extract the text of one uploaded file and scan it under ``profile_id`` in a
        worker, within ``file_timeout``; the same bounds, fairness and errors as
        ``scan``."""
        if profile_id is not None and profile_id not in self._profiles:
            raise KeyError(f"no DLP profile {profile_id!r}")
        result: FileScan = await self._run(
            principal,
            len(data),  # a file's turn costs its bytes, as a prompt's costs its characters
            self._file_timeout,
            self._file_job,
            profile_id,
            data,
            kind,
            label,
            limits,
        )
        return result

    async def _run(
        self,
        principal: str,
        cost: int,
        limit_s: float,
        job: Callable[..., object],
        *args: object,
    ) -> Any:
        if self._in_flight >= self._max_in_flight:
            raise DlpBusy(f"DLP scan refused: {self._in_flight} scans already in flight")
        mine = self.in_flight_of(principal)
        if mine >= self._per_principal:
            raise DlpBusy(
                f"DLP scan refused: this person already has {mine} scans in flight "
                f"(at most {self._per_principal})"
            )
        self._in_flight += 1
        self._in_flight_of[principal] = mine + 1
        try:
            try:
                async with asyncio.timeout(self._timeout):
                    await self._slots.acquire(principal, cost)
            except TimeoutError:
                raise DlpBusy(
                    f"DLP scan refused: no DLP worker was free within {self._timeout:g} s"
                ) from None
            try:
                return await self._submit(limit_s, job, args)
            finally:
                self._slots.release(principal)
        finally:
            self._in_flight -= 1
            left = self._in_flight_of[principal] - 1
            if left:
                self._in_flight_of[principal] = left
            else:
                del self._in_flight_of[principal]

    async def _submit(
        self, limit_s: float, job: Callable[..., object], args: tuple[object, ...]
    ) -> Any:
        executor = self._pool()
        try:
            future = executor.submit(job, *args)
        except BrokenProcessPool:
            self._discard(executor)
            executor = self._pool()
            future = executor.submit(job, *args)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), limit_s)
        except TimeoutError:
            if not future.cancel():
                # the job is running: its worker is stuck on it and cannot be interrupted
                log.warning("DLP scan timed out while running; replacing the worker pool")
                self._discard(executor)
            raise DlpTimeout(f"DLP scan took longer than {limit_s:g} s") from None
        except BrokenProcessPool:
            self._discard(executor)
            raise DlpError("DLP worker process died during the scan") from None
        except DlpError:
            raise
        except Exception as exc:
            log.exception("DLP scan failed")
            raise DlpError(f"DLP engine error ({type(exc).__name__})") from None

    def _pool(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._executor is None:
            self._executor = concurrent.futures.ProcessPoolExecutor(
                max_workers=self._workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self._profiles, self._keys, self._lifeline, os.getpid()),
            )
        return self._executor

    def _discard(self, executor: concurrent.futures.ProcessPoolExecutor) -> None:
        if self._executor is executor:
            self._executor = None
        _kill(executor)

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)


def _kill(executor: concurrent.futures.ProcessPoolExecutor) -> None:
    # Python 3.13's executor cannot stop a running job; 3.14 adds kill_workers(). Until
    # then, kill the processes it holds (a private attribute, hence the guard).
    processes = getattr(executor, "_processes", None) or {}
    for process in list(processes.values()):
        if process.is_alive():
            process.kill()
    executor.shutdown(wait=False, cancel_futures=True)
