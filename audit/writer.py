"""`AuditWriter`: the thread that owns the audit log, commits records in batches, signs checkpoints.

The proxy calls ``await writer.write(record)`` (or ``submit`` from a thread) and releases
the response only when it returns: the record is then committed (WAL; with
``synchronous=NORMAL`` it survives a crash of the process, with ``FULL`` also a power
loss). The thread takes everything queued, up to ``batch_max`` records, and commits them
in one transaction, so under load many flows share one commit.

Failing closed: the queue is bounded, and a full queue makes ``submit`` raise
`AuditUnavailable` at once instead of making the flow wait; a database error fails the
batch's futures with `AuditUnavailable`, and the thread carries on with later records (a
full disk may have room again). A duplicate ``record_id`` fails only its own record: the
batch is retried one record at a time.

Checkpoints follow `CheckpointPolicy` and are handed to ``on_checkpoint`` (e.g. syslog)
after they are committed, on this thread, so the callback must only enqueue.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Self

from .checkpoint import Checkpoint, CheckpointPolicy, CheckpointSigner
from .errors import AuditStoreError, AuditUnavailable
from .record import AuditRecord, format_ts
from .store import Appended, AuditLog
from .walcheckpoint import WalCheckpointer

log = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE: Final = 10_000
DEFAULT_BATCH_MAX: Final = 1_000


@dataclass(slots=True)
class _Submission:
    """A queued record and who waits for it: a thread's future, or an event loop's."""

    record: AuditRecord
    future: Future[Appended] | None = None
    waiter: asyncio.Future[Appended] | None = None
    loop: asyncio.AbstractEventLoop | None = None

    def take(self) -> bool:
        """False when a thread's caller cancelled before the writer took the record."""
        return self.future is None or self.future.set_running_or_notify_cancel()


class _Stop:
    pass


_STOP: Final = _Stop()


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class AuditWriter:
    """Commits audit records on its own thread; see the module docstring.

    The writer owns ``log`` once constructed: nothing else may use that `AuditLog`.
    Without a ``signer`` no checkpoints are made.
    """

    def __init__(
        self,
        log: AuditLog,
        *,
        signer: CheckpointSigner | None = None,
        policy: CheckpointPolicy | None = None,
        on_checkpoint: Callable[[Checkpoint], None] | None = None,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        batch_max: int = DEFAULT_BATCH_MAX,
        wal_checkpoint_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime.datetime] = _utcnow,
    ) -> None:
        if queue_size < 1 or batch_max < 1:
            raise ValueError("AuditWriter queue_size and batch_max must be at least 1")
        self._log = log
        self._queue: queue.Queue[_Submission | _Stop] = queue.Queue(maxsize=queue_size)
        self._queue_size = queue_size
        self._batch_max = batch_max
        self._lock = threading.Lock()
        self._closed = False
        self._failure: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._schedule = CheckpointScheduler(
            log, signer, policy or CheckpointPolicy(), on_checkpoint, clock=clock, now=now
        )
        self._wal = WalCheckpointer(log.path, wal_checkpoint_seconds)

    def start(self) -> None:
        """Start the writer thread (records submitted before wait in the queue)."""
        if self._thread is not None:
            raise RuntimeError("AuditWriter.start() was already called")
        self._schedule.start()
        self._log.disable_autocheckpoint()
        self._wal.start()
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def submit(self, record: AuditRecord) -> Future[Appended]:
        """Queue ``record``; the future resolves to its `Appended` once committed.

        Raises `AuditUnavailable` at once when the queue is full or the writer is closed.
        """
        future: Future[Appended] = Future()
        self._enqueue(_Submission(record, future=future))
        return future

    async def write(self, record: AuditRecord) -> Appended:
        """``submit`` for the event loop: returns once ``record`` is committed.

        The writer wakes the loop once per batch, not once per record. Cancelling the
        caller does not withdraw the record: it is still written.
        """
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Appended] = loop.create_future()
        self._enqueue(_Submission(record, waiter=waiter, loop=loop))
        return await asyncio.shield(waiter)

    def _enqueue(self, submission: _Submission) -> None:
        with self._lock:
            if self._closed or self._failure is not None:
                raise AuditUnavailable(
                    "the audit writer is stopped, so this flow cannot be recorded "
                    "(the gateway is shutting down or its audit thread failed; see the log)"
                )
            try:
                self._queue.put_nowait(submission)
            except queue.Full:
                raise AuditUnavailable(
                    f"the audit queue is full ({self._queue_size} records waiting): the audit "
                    "database is not keeping up or is stalled, so this flow is refused"
                ) from None

    def close(self, timeout: float | None = 30.0) -> None:
        """Commit everything queued, sign the moved heads, stop the thread, close the log."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._thread is None:
            self._fail_queued(AuditUnavailable("the audit writer was closed before it started"))
            self._log.close()
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._wal.stop()
        if self._thread.is_alive():
            log.error(
                "the audit writer did not finish within %s s; records may be unsaved", timeout
            )
            return
        self._log.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:
            log.exception("the audit writer thread failed; flows will be refused")
            with self._lock:
                self._failure = exc
            self._fail_queued(AuditUnavailable(f"the audit writer thread failed: {exc!r}"))

    def _loop(self) -> None:
        schedule = self._schedule
        while True:
            try:
                first = self._queue.get(timeout=schedule.timeout())
            except queue.Empty:
                first = None
            batch: list[_Submission] = []
            stopping = False
            item = first
            while item is not None:
                if isinstance(item, _Stop):
                    stopping = True
                    break
                batch.append(item)
                if len(batch) >= self._batch_max:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    item = None
            live = [s for s in batch if s.take()]
            if live:
                outcomes = commit_batch(self._log, [s.record for s in live])
                _settle(list(zip(live, outcomes, strict=True)))
            schedule.after_batch({s.record.tenant for s in live}, stopping=stopping)
            if stopping:
                return
            index_text_between_batches(self._log, lambda: not self._queue.empty())

    def _fail_queued(self, failure: AuditUnavailable) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Submission) and item.take():
                _settle([(item, failure)])


type _Outcome = Appended | AuditUnavailable

#: A backlog this large is indexed even while records keep coming (one step of it).
TEXT_BACKLOG_MAX: Final = 4_000


def index_text_between_batches(audit_log: AuditLog, busy: Callable[[], bool]) -> None:
    """Index the text of committed records while no batch waits (or the backlog is long).

    Never raises: the trigram index only speeds up search (the console reads records
    after its mark directly), so a failure here must not stop the writer.
    """
    backlog = audit_log.text_backlog
    if not backlog or (backlog < TEXT_BACKLOG_MAX and busy()):
        return
    try:
        audit_log.index_text()
    except AuditStoreError:
        log.warning("cannot index the text of new records yet", exc_info=True)


def commit_batch(log: AuditLog, records: Sequence[AuditRecord]) -> list[_Outcome]:
    """Commit ``records`` in one transaction; each gets its `Appended` or the failure.

    A duplicate ``record_id`` fails only its own record: the batch is retried one record
    at a time. Any other database error fails the whole batch.
    """
    try:
        return list(log.append(records))
    except AuditStoreError as exc:
        if len(records) > 1 and isinstance(exc.__cause__, sqlite3.IntegrityError):
            return [_append_one(log, record) for record in records]
        return [_unavailable(exc)] * len(records)


def _append_one(log: AuditLog, record: AuditRecord) -> _Outcome:
    try:
        (result,) = log.append([record])
    except AuditStoreError as exc:
        return _unavailable(exc)
    return result


class CheckpointScheduler:
    """When to sign which tenants' heads, after `CheckpointPolicy`; owned by the writer.

    Without a ``signer`` it never signs. ``timeout()`` is how long the writer may wait for
    records before ``after_batch`` must run again (ticks and heartbeats).
    """

    def __init__(
        self,
        log: AuditLog,
        signer: CheckpointSigner | None,
        policy: CheckpointPolicy,
        on_checkpoint: Callable[[Checkpoint], None] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime.datetime] = _utcnow,
    ) -> None:
        self._log = log
        self._signer = signer
        self._policy = policy
        self._on_checkpoint = on_checkpoint
        self._clock = clock
        self._now = now
        self._signed: dict[str, int] = {}
        self._next_tick = self._next_heartbeat = 0.0

    def start(self) -> None:
        self._signed = self._log.checkpointed_heads()
        self._next_tick = self._clock() + self._policy.every_seconds
        self._next_heartbeat = self._clock() + self._policy.heartbeat_seconds

    def timeout(self) -> float | None:
        if self._signer is None:
            return None
        return max(0.0, min(self._next_tick, self._next_heartbeat) - self._clock())

    def after_batch(self, tenants: Iterable[str], *, stopping: bool = False) -> None:
        """Sign what is due after a batch of ``tenants`` (or a timeout, or a stop)."""
        if self._signer is None:
            return
        policy = self._policy
        heads = self._log.heads()
        due = {
            tenant
            for tenant in tenants
            if tenant in heads
            and heads[tenant].tenant_seq - self._signed.get(tenant, 0) >= policy.every_records
        }
        moment = self._clock()
        if moment >= self._next_tick or stopping:
            due |= {t for t, h in heads.items() if h.tenant_seq > self._signed.get(t, 0)}
            self._next_tick = moment + policy.every_seconds
        if moment >= self._next_heartbeat:
            due |= set(heads)
            self._next_heartbeat = moment + policy.heartbeat_seconds
        if due:
            self._checkpoint(sorted(due))

    def _checkpoint(self, tenants: Iterable[str]) -> None:
        assert self._signer is not None
        try:
            made = self._log.add_checkpoints(self._signer, tenants, format_ts(self._now()))
        except AuditStoreError as exc:
            log.error("cannot write audit checkpoints, will retry: %s", exc)
            return
        for checkpoint in made:
            self._signed[checkpoint.tenant] = checkpoint.tenant_seq
            if self._on_checkpoint is not None:
                try:
                    self._on_checkpoint(checkpoint)
                except Exception:
                    log.exception("the on_checkpoint hook failed for tenant %s", checkpoint.tenant)


def _settle(outcomes: list[tuple[_Submission, _Outcome]]) -> None:
    """Resolve thread futures directly, and each event loop's waiters in one wake-up."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Appended], _Outcome]]] = {}
    for submission, outcome in outcomes:
        if submission.future is not None:
            if isinstance(outcome, AuditUnavailable):
                submission.future.set_exception(outcome)
            else:
                submission.future.set_result(outcome)
        elif submission.waiter is not None and submission.loop is not None:
            by_loop.setdefault(submission.loop, []).append((submission.waiter, outcome))
    for loop, waiters in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(_settle_waiters, waiters)


def _settle_waiters(waiters: list[tuple[asyncio.Future[Appended], _Outcome]]) -> None:
    for waiter, outcome in waiters:
        if waiter.done():
            continue
        if isinstance(outcome, AuditUnavailable):
            waiter.set_exception(outcome)
        else:
            waiter.set_result(outcome)


def _unavailable(exc: AuditStoreError) -> AuditUnavailable:
    failure = AuditUnavailable(f"the audit record could not be committed: {exc.message}")
    failure.__cause__ = exc
    return failure
