"""Running scans off the event loop: ``DlpRunner``, a set of DLP worker processes with an
asyncio API (``await runner.scan(segments, profile_id)``).

Presidio's work is CPU-bound Python, so it runs in worker processes (``spawn``: no
inherited mitmproxy state or event loop), each of which builds one ``Scanner`` per
profile when it starts, once, and then says it is ready. Each worker has its own socket
pair; the parent's end is registered on the event loop (``loop.add_reader``), so a scan
is one pickled message out and one back, and the loop wakes when the answer is readable:
no helper thread and no shared queue between the loop and a worker (a
``ProcessPoolExecutor`` passed each job through two threads and a queue, ~1.1 ms a job;
``bench/dlp/README.md``). Every message carries its job's number; a worker runs one job
at a time. The runner bounds the work it takes on and never lets a scan wait without
limit:

- at most ``max_in_flight`` scans are queued or running, and at most
  ``max_in_flight_per_principal`` of one person's (or one client address's); one more
  fails at once with ``DlpBusy``, for that person only, instead of queueing;
- the workers are handed out fairly (``FairSlots``): a waiting scan starts in turn by
  the bytes each person has had scanned (fair queuing, not first come), one person runs
  on at most all workers but one, and a scan that finds no free worker within
  ``timeout`` fails with ``DlpBusy``;
- a scan that takes longer than ``timeout`` seconds (counted from when it got its
  worker, a worker's start included) fails with ``DlpTimeout``; if its worker was running
  it, that worker is stuck and is killed and replaced, and only that one: scans on the
  other workers go on;
- a worker that dies (end of file on its socket) fails its scan with ``DlpError`` and is
  replaced at once; one that dies before it was ready is started again by the next scan
  or ``start()`` (no restart loop when a profile cannot be built);
- a scan whose caller goes away (its task cancelled: the client left) keeps its worker
  and its turn until the worker answers; the answer is dropped (its job number is not
  the next job's), and the scan's time limit still holds;
- a worker exits when the gateway does: end of file on its socket when it waits for a
  job, and the ``lifeline`` (``warden.lifeline``: a signal from the kernel) at once.

The caller fails the flow closed on any ``DlpError`` unless the profile's ``on_error`` is
``allow``. Messages are trusted both ways (our own processes; a scan's segments are
bounded upstream by the body limits), and still refused above ``MAX_MESSAGE`` bytes.

Over 400 lines: a worker's states (starting, idle, busy, stuck, gone) and a job's (sent,
waiting for a start, orphaned) are one state machine, with the worker's loop, the other
end of its messages, beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
import traceback
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any, Final

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

#: The largest message either way: far above any request the body limits let through, low
#: enough that a corrupt length cannot make the gateway buffer without end.
MAX_MESSAGE = 1 << 31

#: How long ``close()`` lets an idle worker exit by itself (it sees end of file at once)
#: before killing it.
_EXIT_GRACE_S = 5.0

_HEADER = struct.Struct("!Q")  # each message: its length, then the pickle
_SMALL = 1 << 16  # below this, header and body go out in one write
_READY, _OK, _FAILED = "ready", "ok", "failed"

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


# -- the worker's side ---------------------------------------------------------------------


def _frame(body: bytes) -> list[bytes | memoryview]:
    if len(body) > MAX_MESSAGE:
        raise DlpError(f"DLP message of {len(body)} bytes is above the {MAX_MESSAGE} limit")
    header = _HEADER.pack(len(body))
    return [header + body] if len(body) < _SMALL else [header, memoryview(body)]


def _read_exactly(sock: socket.socket, size: int) -> bytearray | None:
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        count = sock.recv_into(view[got:])
        if count == 0:
            return None
        got += count
    return buffer


def _read_message(sock: socket.socket) -> Any:
    """The next message from the parent; ``None`` at end of file (the parent is gone)."""
    header = _read_exactly(sock, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_MESSAGE:
        raise DlpError(f"DLP message of {size} bytes is above the {MAX_MESSAGE} limit")
    body = _read_exactly(sock, size)
    # the parent's own job: trusted (MAX_MESSAGE above)
    return None if body is None else pickle.loads(body)  # noqa: S301


#: What ``ps``, ``top`` and ``pgrep`` show for a DLP worker (Linux; every other process of
#: the gateway is ``python``): an operator can tell a busy scanner from the proxy.
WORKER_NAME: Final = "warden-dlp"


def _name_process(name: str) -> None:
    """Names this process ``name`` in the kernel's process table (Linux's ``comm``, at
    most 15 bytes); elsewhere, or where /proc is read-only, nothing changes."""
    with contextlib.suppress(OSError):
        Path("/proc/self/comm").write_text(name[:15])


def _write_message(sock: socket.socket, message: object) -> None:
    for part in _frame(pickle.dumps(message, pickle.HIGHEST_PROTOCOL)):
        sock.sendall(part)


def _failure(job_id: int, exc: Exception) -> tuple[int, str, object]:
    """What a worker answers for a job that raised: the type's name, our own ``DlpError``
    as it is, and the traceback for the gateway's log (never for the user)."""
    own = exc if isinstance(exc, DlpError) else None
    return job_id, _FAILED, (type(exc).__name__, own, traceback.format_exc())


def _worker_main(
    sock: socket.socket,
    profiles: dict[str, DlpProfile],
    hash_keys: dict[str, bytes],
    lifeline: Callable[[int], None] | None,
    parent_pid: int,
) -> None:
    """A worker's life: build the scanners, say ready, then run one job per message until
    the parent's end closes."""
    # Ctrl-C in a terminal reaches the whole process group: the gateway stops its workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _name_process(WORKER_NAME)
    try:
        _init_worker(profiles, hash_keys, lifeline, parent_pid)
    except Exception:
        _write_message(sock, (0, _FAILED, ("start", None, traceback.format_exc())))
        raise SystemExit(1) from None  # the gateway logs the traceback
    _write_message(sock, (0, _READY, os.getpid()))
    # the parent gone while we answer (a broken pipe): so are we
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        while (message := _read_message(sock)) is not None:
            job_id, job, args = message
            try:
                answer: tuple[int, str, object] = (job_id, _OK, job(*args))
                parts = _frame(pickle.dumps(answer, pickle.HIGHEST_PROTOCOL))
            except Exception as exc:  # the job's, or its result's pickling or size
                parts = _frame(pickle.dumps(_failure(job_id, exc), pickle.HIGHEST_PROTOCOL))
            for part in parts:
                sock.sendall(part)


# -- the gateway's side --------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class _Job:
    id: int
    principal: str
    limit_s: float
    message: list[bytes | memoryview]
    future: asyncio.Future[Any]
    timer: asyncio.TimerHandle | None = None
    sent: bool = False


@dataclass(eq=False, slots=True)
class _Worker:
    index: int
    process: SpawnProcess
    sock: socket.socket
    ready: asyncio.Future[None]
    exited: asyncio.Future[None]
    job: _Job | None = None
    inbox: bytearray = field(default_factory=bytearray)
    outbox: deque[bytes | memoryview] = field(default_factory=deque)
    writing: bool = False
    retired: bool = False
    killed: bool = False  # by us: its exit is no news for the log


def _quiet(future: asyncio.Future[Any]) -> None:
    """Marks a future's exception as seen: a worker's start can fail with nobody waiting."""
    if not future.cancelled():
        future.exception()


class DlpRunner:
    """A set of DLP worker processes for a fixed set of profiles. Use from one event loop."""

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
        self._max_in_flight = max_in_flight if max_in_flight is not None else 4 * workers
        self._per_principal = (
            max_in_flight_per_principal
            if max_in_flight_per_principal is not None
            else max(1, self._max_in_flight // 2)
        )
        self._in_flight_of: dict[str, int] = {}
        # One running scan per worker; one person on all but one worker (when there are two
        # or more), so somebody else's scan always finds a worker free. A turn is held
        # until its worker is free again (also when the caller went away first), so a turn
        # granted always finds a worker without a job.
        self._slots = FairSlots(workers, max(1, workers - 1))
        self._timeout = timeout
        self._file_timeout = file_timeout
        self._job = job
        self._file_job = file_job
        self._lifeline = lifeline
        self._in_flight = 0
        self._workers: list[_Worker | None] = [None] * workers
        self._job_ids = itertools.count(1)
        self._closed = False
        # Every worker ever started until it is reaped: close() waits for all of them.
        self._living: set[_Worker] = set()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def profile(self, profile_id: str) -> DlpProfile:
        return self._profiles[profile_id]

    async def start(self) -> None:
        """Starts the workers not running yet and waits until each has built its engines
        (a few seconds: importing Presidio), so the first requests do not pay for it. The
        event loop runs on meanwhile; ``DlpError`` if a worker fails to start."""
        if self._closed:
            raise DlpError("the DLP pool is closed")
        for index, worker in enumerate(self._workers):
            if worker is None:
                self._spawn(index)
        starting = [w.ready for w in self._workers if w is not None]
        await asyncio.gather(*(asyncio.shield(ready) for ready in starting))

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
        if self._closed:
            raise DlpError("DLP scan refused: the DLP pool is closed")
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
            # From here the turn belongs to the job: it is given back when the worker is
            # free again (answer, death, timeout), not when this task ends.
            future = self._submit(principal, limit_s, job, args)
            return await future  # cancelled: the job runs on, its answer is dropped
        finally:
            self._in_flight -= 1
            left = self._in_flight_of[principal] - 1
            if left:
                self._in_flight_of[principal] = left
            else:
                del self._in_flight_of[principal]

    def _submit(
        self, principal: str, limit_s: float, job: Callable[..., object], args: tuple[object, ...]
    ) -> asyncio.Future[Any]:
        """Gives the job to a worker without one, holding the caller's turn."""
        loop = asyncio.get_running_loop()
        job_id = next(self._job_ids)
        try:
            if self._closed:
                raise DlpError("DLP scan refused: the DLP pool is closed")
            message = _frame(pickle.dumps((job_id, job, args), pickle.HIGHEST_PROTOCOL))
            worker = self._free_worker()
        except DlpError:
            self._slots.release(principal)
            raise
        except Exception as exc:
            self._slots.release(principal)
            log.exception("DLP scan could not be sent to a worker")
            raise DlpError(f"DLP engine error ({type(exc).__name__})") from None
        work = _Job(job_id, principal, limit_s, message, loop.create_future())
        worker.job = work
        work.timer = loop.call_later(limit_s, self._expire, worker, work)
        if worker.ready.done():
            self._send(worker, work)  # else when it says it is ready
        return work.future

    def _free_worker(self) -> _Worker:
        """A worker without a job: a ready one first, else one starting, else a new one.
        There always is one: a job holds a turn, and there are as many turns as workers."""
        idle = [w for w in self._workers if w is not None and w.job is None]
        for worker in idle:
            if worker.ready.done():
                return worker
        if idle:
            return idle[0]
        for index, slot in enumerate(self._workers):
            if slot is None:
                return self._spawn(index)
        # a bug in the turns' book-keeping: refuse, never queue behind a busy worker
        raise DlpError("DLP scan refused: no DLP worker is free")

    def _spawn(self, index: int) -> _Worker:
        loop = asyncio.get_running_loop()
        mine, theirs = socket.socketpair()
        process = multiprocessing.get_context("spawn").Process(
            target=_worker_main,
            args=(theirs, self._profiles, self._keys, self._lifeline, os.getpid()),
            name=f"warden-dlp-{index}",
            daemon=True,  # never outlives an interpreter that exits without close()
        )
        try:
            # From the event loop's thread: the lifeline's parent-death signal is tied to
            # the thread that starts the child (warden.lifeline).
            process.start()
        except BaseException:
            mine.close()
            raise
        finally:
            theirs.close()  # the worker's end is the worker's only: its death is our EOF
        mine.setblocking(False)
        worker = _Worker(index, process, mine, loop.create_future(), loop.create_future())
        worker.ready.add_done_callback(_quiet)
        self._workers[index] = worker
        self._living.add(worker)
        loop.add_reader(mine.fileno(), self._on_readable, worker)
        loop.add_reader(process.sentinel, self._reap, worker)
        return worker

    # -- messages ---------------------------------------------------------------------------

    def _send(self, worker: _Worker, job: _Job) -> None:
        job.sent = True
        worker.outbox.extend(job.message)
        job.message = []
        self._flush(worker)

    def _flush(self, worker: _Worker) -> None:
        while worker.outbox:
            part = worker.outbox[0]
            try:
                count = worker.sock.send(part)
            except (BlockingIOError, InterruptedError):
                count = 0
            except OSError:  # the worker is gone; its end of file tells the rest
                worker.outbox.clear()
                break
            if count < len(part):
                worker.outbox[0] = memoryview(part)[count:]
                if not worker.writing:
                    worker.writing = True
                    asyncio.get_running_loop().add_writer(worker.sock.fileno(), self._flush, worker)
                return
            worker.outbox.popleft()
        if worker.writing:
            worker.writing = False
            asyncio.get_running_loop().remove_writer(worker.sock.fileno())

    def _on_readable(self, worker: _Worker) -> None:
        try:
            chunk = worker.sock.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._lost(worker, "DLP worker process died during the scan")
            return
        inbox = worker.inbox
        inbox += chunk
        while len(inbox) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(inbox)
            if size > MAX_MESSAGE:
                self._kill(worker, "a message above the size limit")
                self._lost(worker, "DLP worker process sent a broken answer")
                return
            end = _HEADER.size + size
            if len(inbox) < end:
                return
            try:
                # our own worker's answer: trusted (MAX_MESSAGE in the module's docstring)
                message = pickle.loads(memoryview(inbox)[_HEADER.size : end])  # noqa: S301
            except Exception:
                log.exception("DLP worker %d sent an answer that cannot be read", worker.index)
                self._kill(worker, "an answer that cannot be read")
                self._lost(worker, "DLP worker process sent a broken answer")
                return
            del inbox[:end]
            self._on_message(worker, message)
            if worker.retired:
                return

    def _on_message(self, worker: _Worker, message: tuple[int, str, Any]) -> None:
        job_id, kind, payload = message
        if kind == _READY:
            if not worker.ready.done():
                worker.ready.set_result(None)
            if worker.job is not None and not worker.job.sent:
                self._send(worker, worker.job)
            return
        job = worker.job
        if job_id == 0:  # its start failed: the traceback, then end of file
            log.error("DLP worker %d failed to start:\n%s", worker.index, payload[2])
            return
        if job is None or job.id != job_id:
            # Each job holds its worker until this answer: anything else is a bug. Refuse
            # to guess whose answer it is.
            self._kill(worker, f"an answer to job {job_id} it was not running")
            self._lost(worker, "DLP worker process sent a broken answer")
            return
        if kind == _OK:
            self._end(worker, job, payload)
            return
        type_name, own, text = payload
        if own is not None:
            self._end(worker, job, error=own)
            return
        log.error("DLP scan failed in worker %d:\n%s", worker.index, text)
        self._end(worker, job, error=DlpError(f"DLP engine error ({type_name})"))

    # -- ends -------------------------------------------------------------------------------

    def _end(
        self, worker: _Worker, job: _Job, result: object = None, error: DlpError | None = None
    ) -> None:
        """The job is over: its worker is free, its turn given back, its caller told (if it
        still waits)."""
        if job.timer is not None:
            job.timer.cancel()
        if worker.job is job:
            worker.job = None
        self._slots.release(job.principal)
        if job.future.done():  # the caller went away: the answer goes nowhere
            return
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(result)

    def _expire(self, worker: _Worker, job: _Job) -> None:
        if worker.job is not job:
            return
        error = DlpTimeout(f"DLP scan took longer than {job.limit_s:g} s")
        if not job.sent:  # the worker is still starting: it is not stuck
            self._end(worker, job, error=error)
            return
        # The job is running: its worker is stuck on it and cannot be interrupted.
        log.warning("DLP scan timed out while running; replacing its worker")
        self._kill(worker, "a scan past its time limit")
        self._retire(worker)
        self._end(worker, job, error=error)
        self._replace(worker)

    def _lost(self, worker: _Worker, reason: str) -> None:
        """The worker's socket closed (it died, or we killed it): fail what it held."""
        if worker.retired:
            return
        was_ready = worker.ready.done()  # only _lost fails it, below
        self._retire(worker)
        if not was_ready:
            reason = "a DLP worker process failed to start"
            worker.ready.set_exception(DlpError(reason))
        if worker.job is not None:
            self._end(worker, worker.job, error=DlpError(reason))
        if was_ready:
            self._replace(worker)

    def _kill(self, worker: _Worker, why: str) -> None:
        if not worker.killed and worker.process.exitcode is None:
            log.warning("killing DLP worker %d (pid %s): %s", worker.index, worker.process.pid, why)
            worker.killed = True
            worker.process.kill()

    def _retire(self, worker: _Worker) -> None:
        """Stops listening to the worker and closes our end; ``_reap`` collects its exit."""
        if worker.retired:
            return
        worker.retired = True
        loop = asyncio.get_running_loop()
        loop.remove_reader(worker.sock.fileno())
        if worker.writing:
            loop.remove_writer(worker.sock.fileno())
            worker.writing = False
        worker.outbox.clear()
        worker.sock.close()
        if self._workers[worker.index] is worker:
            self._workers[worker.index] = None

    def _replace(self, worker: _Worker) -> None:
        if not self._closed and self._workers[worker.index] is None:
            self._spawn(worker.index)

    def _reap(self, worker: _Worker) -> None:
        """The worker's process ended (its sentinel is readable): collect its exit status,
        so no zombie stays, and close the sentinel."""
        asyncio.get_running_loop().remove_reader(worker.process.sentinel)
        worker.process.join(1)  # returns at once: the process has exited
        if not worker.killed and not self._closed:
            log.warning(
                "DLP worker %d (pid %s) exited with code %s",
                worker.index,
                worker.process.pid,
                worker.process.exitcode,
            )
        self._lost(worker, "DLP worker process died during the scan")
        if worker.process.exitcode is not None:
            worker.process.close()
        self._living.discard(worker)
        if not worker.exited.done():
            worker.exited.set_result(None)

    async def close(self) -> None:
        """Stops the workers: an idle one exits on end of file, one busy or starting is
        killed (its scan fails with ``DlpError``); returns once every process is reaped."""
        self._closed = True
        living = list(self._living)
        for worker in living:
            if worker.job is not None or not worker.ready.done():
                self._kill(worker, "the DLP pool is closing")
            self._lost(worker, "DLP scan stopped: the DLP pool is closing")
        exits = [worker.exited for worker in living]
        if not exits:
            return
        _, late = await asyncio.wait(exits, timeout=_EXIT_GRACE_S)
        for worker in living:
            if not worker.exited.done():
                self._kill(worker, f"it did not exit within {_EXIT_GRACE_S:g} s")
        if late:
            await asyncio.wait(late)
