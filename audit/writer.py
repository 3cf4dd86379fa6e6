"""Group commit and the checkpoint schedule of the audit writer process (``writer_process``).

``commit_batch`` commits many flows' records in one transaction (WAL; with
``synchronous=NORMAL`` a commit survives a crash of the process, with ``FULL`` also a
power loss); a duplicate ``record_id`` fails only its own record. ``CheckpointScheduler``
says when to sign which tenants' heads after `CheckpointPolicy` and hands each checkpoint
to ``on_checkpoint`` after it is committed.
"""

from __future__ import annotations

import datetime
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Final

from .checkpoint import Checkpoint, CheckpointPolicy, CheckpointSigner
from .errors import AuditStoreError, AuditUnavailable
from .record import AuditRecord, format_ts
from .store import Appended, AuditLog

log = logging.getLogger(__name__)


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


type _Outcome = Appended | AuditUnavailable

#: A backlog this large is indexed even while records keep coming (one step of it).
TEXT_BACKLOG_MAX: Final = 4_000


def index_text_between_batches(audit_log: AuditLog, busy: Callable[[], bool]) -> bool:
    """Index the text of committed records while no batch waits (or the backlog is long);
    False when the database refused (the writer then waits for its next batch or tick
    before trying again, instead of coming straight back).

    Never raises: the trigram index only speeds up search (the console reads records
    after its mark directly), so a failure here must not stop the writer.
    """
    backlog = audit_log.index_backlog
    if not backlog:
        return True
    waiting = busy()
    if waiting and backlog < TEXT_BACKLOG_MAX:
        return True
    try:
        # A step of an older store's review indexes (up to seconds of the write lock)
        # only while no record waits; the text of new records also when the backlog is long.
        audit_log.index_text(backfill=not waiting)
    except AuditStoreError:
        log.warning("cannot index the text of new records yet", exc_info=True)
        return False
    return True


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


def _unavailable(exc: AuditStoreError) -> AuditUnavailable:
    failure = AuditUnavailable(f"the audit record could not be committed: {exc.message}")
    failure.__cause__ = exc
    return failure
