"""`AuditWriterProcess`: the audit writer in a child process, beside the proxy's event loop.

Hashing, canonical JSON and SQLite inserts cost little per record, but on a thread of the
gateway's own interpreter they compete with the event loop for the GIL, and each hand-over
between the two threads costs more than the work (bench/proxy.py measured ~400 µs of the
gateway's CPU per audited flow with the writer on a thread, ~25 µs with it here). So the
gateway starts ``python -m warden.audit.writer_process``, which runs the same
group commit and checkpoint schedule (`writer`), on one thread of its own interpreter,
on the other core: it waits for input, commits everything that arrived in one transaction,
and answers all of it in one write.

The contract is unchanged: ``await write(record)`` returns once the record is committed;
``submit`` is for threads. Failing closed is unchanged too: when the child is not running,
its pipe is backed up beyond ``max_pending`` records, or the child cannot commit, the
caller gets `AuditUnavailable` at once. A child that dies is started again (after a
second, then up to 30 s); records it had not acknowledged fail, and may still be in the
database, so none is lost.

The pipe carries length-prefixed `marshal` frames: a private channel between the gateway
and the child it started, both of the same Python, never a network input.

Parent to child: ``("r", id, data)``, a record in ``AuditRecord.to_dict``'s shape (flow
records are built as data in the gateway): the child checks it with ``AuditRecord.from_dict``
before it commits, and answers ``err`` naming the field it refuses. End of input means stop.
Child to parent: ``("building", text)`` (at open, what of the review indexes of a
database written by an older version the child will build between batches; the parent
logs it and keeps waiting for ``ready``), ``("ready",)``,
``("ok", id, seq, tenant, tenant_seq, record_id, hash)``,
``("err", id, message, cause)`` (cause ``"record"``: this record was refused, a bad field
or a duplicate id; ``"commit"``: the database refused the write, e.g. a full disk),
``("cp", tenant, tenant_seq, head_hash, ts, signature, key_id)``,
``("fatal", message, fix)`` (could not open the database or key; the child exits).

Over 400 lines: the parent and the child of one pipe protocol, kept together so both sides
of each frame are read at once.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import logging
import marshal
import os
import select
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from .checkpoint import Checkpoint, CheckpointPolicy, CheckpointSigner, load_or_create_signing_key
from .errors import AuditRecordError, AuditStoreError, AuditUnavailable, SigningKeyError
from .record import AuditRecord
from .schema import Synchronous
from .store import Appended, AuditLog
from .walcheckpoint import WalCheckpointer
from .writer import CheckpointScheduler, commit_batch, index_text_between_batches

if TYPE_CHECKING:
    from .fleet import FleetShipper

log = logging.getLogger(__name__)

_HEADER: Final = struct.Struct(">I")
#: A frame larger than this is a bug on the other side, not a record.
MAX_FRAME: Final = 16 * 1024 * 1024
DEFAULT_MAX_PENDING: Final = 10_000
RESTART_DELAYS: Final = (1.0, 2.0, 5.0, 10.0, 30.0)


def frame(message: tuple[Any, ...]) -> bytes:
    payload = marshal.dumps(message)
    return _HEADER.pack(len(payload)) + payload


class FrameReader:
    """Splits a byte stream into messages; raises ValueError on a malformed stream."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[Any, ...]]:
        self._buffer += data
        messages: list[tuple[Any, ...]] = []
        start = 0
        buffer = self._buffer
        while len(buffer) - start >= _HEADER.size:
            (size,) = _HEADER.unpack_from(buffer, start)
            if size > MAX_FRAME:
                raise ValueError(f"audit writer frame of {size} bytes exceeds {MAX_FRAME}")
            end = start + _HEADER.size + size
            if len(buffer) < end:
                break
            try:
                # our own child or parent over a private pipe, never a network peer
                message = marshal.loads(bytes(buffer[start + _HEADER.size : end]))  # noqa: S302
            except (EOFError, TypeError, ValueError):
                raise ValueError("audit writer frame does not decode") from None
            if not isinstance(message, tuple) or not message:
                raise ValueError("audit writer frame is not a message")
            messages.append(message)
            start = end
        del buffer[:start]
        return messages


@dataclass(frozen=True, slots=True)
class WriterSettings:
    """What the child needs to open the log and sign checkpoints."""

    db_path: Path
    key_dir: Path
    synchronous: Synchronous = "NORMAL"
    policy: CheckpointPolicy = field(default_factory=CheckpointPolicy)
    #: A Unix socket where the host's gateway workers hand their records in too.
    listen: Path | None = None
    #: The id written into every record (`audit.instance`); None leaves records as given.
    instance: str | None = None
    #: Copy committed records to the fleet's PostgreSQL (`audit.fleet`): the name of the
    #: variable of the inherited environment that holds its DSN (never the DSN itself on
    #: a command line, where ``ps`` shows it). None: no shipping.
    ship_dsn_env: str | None = None

    def argv(self) -> list[str]:
        extra = ["--listen", str(self.listen)] if self.listen is not None else []
        if self.instance is not None:
            extra += ["--instance", self.instance]
        if self.ship_dsn_env is not None:
            extra += ["--ship-dsn-env", self.ship_dsn_env]
        return [
            sys.executable,
            "-m",
            "warden.audit.writer_process",
            "--db",
            str(self.db_path),
            "--key-dir",
            str(self.key_dir),
            "--synchronous",
            self.synchronous,
            "--every-records",
            str(self.policy.every_records),
            "--every-seconds",
            str(self.policy.every_seconds),
            "--heartbeat-seconds",
            str(self.policy.heartbeat_seconds),
            "--parent-pid",
            str(os.getpid()),
            *extra,
        ]


type _Waiter = asyncio.Future[Appended] | concurrent.futures.Future[Appended]


class AuditWriterProcess:
    """The gateway's side of the child writer; use it from one event loop (``submit``
    may also be called from other threads)."""

    #: Waits before each attempt to run the writer again after it ended.
    restart_delays: tuple[float, ...] = RESTART_DELAYS

    def __init__(
        self,
        settings: WriterSettings,
        *,
        on_checkpoint: Callable[[Checkpoint], None] | None = None,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        self.settings = settings
        self._on_checkpoint = on_checkpoint
        self._max_pending = max_pending
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._out: asyncio.WriteTransport | None = None
        self._reader: _AckProtocol | None = None
        self._pending: dict[int, _Waiter] = {}
        self._early: list[tuple[AuditRecord, concurrent.futures.Future[Appended]]] = []
        self._next_id = 0
        self._lock = threading.Lock()
        self._running = False
        self._closing = False
        self._restarts = 0
        self._restart_task: asyncio.Task[None] | None = None
        #: Called after the child ended unexpectedly and runs again (e.g. a metric).
        self.on_restart: Callable[[], None] | None = None
        #: Why the database refused the last commit, until a later one succeeds (/healthz).
        self.commit_failure: str | None = None

    @property
    def closing(self) -> bool:
        return self._closing

    @property
    def running(self) -> bool:
        """True while the child runs and takes records."""
        return self._running

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def start(self, wait_s: float = 30.0) -> None:
        """Start the child and wait until it has opened the log; raises AuditStoreError."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        await self._spawn(wait_s)
        early, self._early = self._early, []
        for record, future in early:
            self._send(record.to_dict(), future)

    async def _spawn(self, wait_s: float) -> None:
        assert self._loop is not None
        # Popen returns once the child is forked (at start and on a restart only); the
        # pipes are then driven by the event loop.
        proc = subprocess.Popen(  # noqa: S603, ASYNC220 - our own interpreter and module
            self.settings.argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert proc.stdin is not None and proc.stdout is not None
        ready: asyncio.Future[tuple[Any, ...]] = self._loop.create_future()
        reader = _AckProtocol(self, ready)
        await self._loop.connect_read_pipe(lambda: reader, proc.stdout)
        out, _ = await self._loop.connect_write_pipe(asyncio.Protocol, proc.stdin)
        try:
            while True:
                heard = reader.heard_building
                try:
                    first = await asyncio.wait_for(asyncio.shield(ready), wait_s)
                    break
                except TimeoutError:
                    if reader.heard_building == heard:
                        raise
        except (TimeoutError, EOFError) as exc:
            out.close()
            await asyncio.to_thread(_kill, proc)
            raise AuditStoreError(
                f"the audit writer process did not start ({exc or 'no answer'}); "
                "its own error is in the gateway's log above",
                fix="check the audit database path and free disk space, then start again",
            ) from None
        if first[0] == "fatal":
            out.close()
            await asyncio.to_thread(_kill, proc)
            raise AuditStoreError(str(first[1]), fix=str(first[2]))
        self._proc, self._out, self._reader = proc, out, reader
        self.commit_failure = None  # a new child: its first commit will tell
        self._running = True
        log.info("audit writer process %d is running", proc.pid)

    async def write(self, record: AuditRecord) -> Appended:
        """Returns once ``record`` is committed; raises `AuditUnavailable` otherwise."""
        return await self.write_data(record.to_dict())

    async def write_data(self, data: dict[str, Any]) -> Appended:
        """`write` for a record as plain data (``AuditRecord.to_dict``'s shape): the child
        checks it with ``AuditRecord.from_dict``; one it refuses raises `AuditUnavailable`
        naming the field."""
        assert self._loop is not None, "AuditWriterProcess.start() was not awaited"
        waiter: asyncio.Future[Appended] = self._loop.create_future()
        self._send(data, waiter)
        # A cancelled caller cancels only its waiter; the record is still written.
        return await waiter

    def submit(self, record: AuditRecord) -> concurrent.futures.Future[Appended]:
        """Queue ``record`` from any thread; the future resolves once it is committed."""
        future: concurrent.futures.Future[Appended] = concurrent.futures.Future()
        with self._lock:
            if self._loop is None and not self._closing:
                self._early.append((record, future))
                return future
        if self._closing or self._loop is None:
            raise AuditUnavailable("the audit writer is stopped, so this event is not recorded")
        if threading.get_ident() == self._loop_thread:
            self._send(record.to_dict(), future)
        else:
            self._loop.call_soon_threadsafe(self._send, record.to_dict(), future)
        return future

    def _send(self, data: dict[str, Any], waiter: _Waiter) -> None:
        if not self._running or self._out is None or self._out.is_closing():
            _fail(
                waiter,
                AuditUnavailable(
                    "the audit writer process is not running, so this flow cannot be "
                    "recorded (it is being restarted, or the gateway is stopping; see the log)"
                ),
            )
            return
        if len(self._pending) >= self._max_pending:
            _fail(
                waiter,
                AuditUnavailable(
                    f"{len(self._pending)} audit records are waiting for the writer process: "
                    "the audit database is not keeping up or is stalled, so this flow is refused"
                ),
            )
            return
        self._next_id += 1
        ident = self._next_id
        self._pending[ident] = waiter
        self._out.write(frame(("r", ident, data)))

    def _acknowledged(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "ok":
            _, ident, seq, tenant, tenant_seq, record_id, digest = message
            self.commit_failure = None
            waiter = self._pending.pop(ident, None)
            if waiter is not None:
                _succeed(waiter, Appended(seq, tenant, tenant_seq, record_id, digest))
        elif kind == "err":
            _, ident, text, cause = message
            if cause == "commit":
                self.commit_failure = str(text)
            waiter = self._pending.pop(ident, None)
            if waiter is not None:
                _fail(waiter, AuditUnavailable(str(text)))
        elif kind == "cp":
            self.commit_failure = None  # a checkpoint was committed: the database writes
            if self._on_checkpoint is None:
                return
            try:
                self._on_checkpoint(Checkpoint(*message[1:]))
            except Exception:
                log.exception("the on_checkpoint hook failed")

    def _child_gone(self) -> None:
        """The child's output ended: fail what it did not acknowledge, start it again."""
        self._running = False
        pending, self._pending = self._pending, {}
        failure = AuditUnavailable(
            "the audit writer process ended before it confirmed this record "
            "(it may still be in the database); see the gateway log"
        )
        for waiter in pending.values():
            _fail(waiter, failure)
        if self._out is not None:
            self._out.close()
        code = self._proc.poll() if self._proc is not None else None
        if self._closing or self._loop is None:
            return
        log.error(
            "the audit writer process %s ended unexpectedly (exit code %s); flows are refused "
            "until it runs again",
            self.pid,
            code,
        )
        self._restart_task = self._loop.create_task(self._restart())

    async def _restart(self) -> None:
        while not self._closing:
            delays = self.restart_delays
            delay = delays[min(self._restarts, len(delays) - 1)]
            self._restarts += 1
            await asyncio.sleep(delay)
            if self.closing:
                return
            if self._proc is not None:
                await asyncio.to_thread(_kill, self._proc)
            try:
                await self._spawn(30.0)
            except (AuditStoreError, OSError) as exc:
                log.error("cannot restart the audit writer process: %s", exc)
                continue
            self._restarts = 0
            if self.on_restart is not None:
                self.on_restart()
            return

    async def close(self, wait_s: float = 30.0) -> None:
        """Let the child commit what it has, sign the heads and exit; then return."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
        early, self._early = self._early, []
        for _, future in early:
            _fail(future, AuditUnavailable("the audit writer was closed before it started"))
        if self._restart_task is not None:
            self._restart_task.cancel()
        if self._out is not None:
            self._out.close()  # end of input: the child finishes and exits
        if self._proc is not None:
            try:
                await asyncio.wait_for(asyncio.to_thread(self._proc.wait), wait_s)
            except TimeoutError:
                log.error("the audit writer process did not finish in %s s; killed", wait_s)
                await asyncio.to_thread(_kill, self._proc)
            if self._reader is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._reader.closed, 5.0)
        self._running = False


class _AckProtocol(asyncio.Protocol):
    def __init__(self, owner: AuditWriterProcess, ready: asyncio.Future[tuple[Any, ...]]) -> None:
        self.owner = owner
        self.ready = ready
        #: How many "building" notices arrived (each extends the wait for "ready").
        self.heard_building = 0
        self.frames = FrameReader()
        loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[None] = loop.create_future()

    def data_received(self, data: bytes) -> None:
        try:
            for message in self.frames.feed(data):
                if message[0] == "building":
                    self.heard_building += 1
                    log.warning("audit writer process: %s", message[1])
                elif not self.ready.done():
                    self.ready.set_result(message)
                else:
                    self.owner._acknowledged(message)
        except (ValueError, TypeError):
            log.exception("the audit writer process sent garbage; stopping it")
            if self.owner._proc is not None and self.owner._proc.poll() is None:
                self.owner._proc.kill()  # its pipe closes: connection_lost restarts it
            elif self.owner._proc is None and self.owner._out is not None:
                self.owner._out.close()  # a worker's connection: it connects again

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(EOFError("the audit writer process exited"))
        elif self.owner._reader is self:
            self.owner._child_gone()
        if not self.closed.done():
            self.closed.set_result(None)


def _succeed(waiter: _Waiter, value: Appended) -> None:
    if not waiter.done():  # a caller that gave up cancelled its waiter
        waiter.set_result(value)


def _fail(waiter: _Waiter, exc: AuditUnavailable) -> None:
    if not waiter.done():
        waiter.set_exception(exc)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


# -- the child -------------------------------------------------------------------------


class _Output:
    """Frames to stdout, whole and in order."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, *messages: tuple[Any, ...]) -> None:
        data = memoryview(b"".join(frame(m) for m in messages))
        while data:
            written = os.write(self.fd, data)
            data = data[written:]


def child_main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m warden.audit.writer_process")
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--key-dir", type=Path, required=True)
    ap.add_argument("--synchronous", choices=("NORMAL", "FULL"), default="NORMAL")
    ap.add_argument("--every-records", type=int, required=True)
    ap.add_argument("--every-seconds", type=float, required=True)
    ap.add_argument("--heartbeat-seconds", type=float, required=True)
    ap.add_argument("--parent-pid", type=int, default=0, help="die when this process dies")
    ap.add_argument(
        "--listen", type=Path, default=None, help="a Unix socket for the host's gateway workers"
    )
    ap.add_argument("--instance", default=None, help="the id written into every record")
    ap.add_argument(
        "--ship-dsn-env",
        default=None,
        help="copy records to the fleet's PostgreSQL, whose DSN is in this variable",
    )
    args = ap.parse_args(argv)
    if args.parent_pid:
        # Killed with the gateway: a commit cut short rolls back, and the gateway that
        # waited for it is gone. (End of input stops us too, but only once every holder
        # of the pipe's other end has closed it.)
        from warden.lifeline import die_with_parent

        die_with_parent(args.parent_pid)
    # The gateway stops us by closing our input; a Ctrl-C or systemd's SIGTERM to the whole
    # group must not cut a commit short.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)-7s audit-writer[%(process)d] %(name)s: %(message)s",
        stream=sys.stderr,
    )
    out = _Output(os.dup(1))
    os.dup2(2, 1)  # a stray print must not corrupt the frames
    try:
        audit_log = AuditLog.open(
            args.db,
            synchronous=args.synchronous,
            progress=lambda text: out.send(("building", text)),
            instance=args.instance,
        )
        signer = CheckpointSigner(load_or_create_signing_key(args.key_dir))
        shipper = _shipper(args, signer) if args.ship_dsn_env else None
    except AuditStoreError as exc:
        out.send(("fatal", exc.message, exc.fix))
        return 1
    except SigningKeyError as exc:
        out.send(("fatal", str(exc), "see the message"))
        return 1

    def checkpointed(cp: Checkpoint) -> None:
        out.send(("cp", cp.tenant, cp.tenant_seq, cp.head_hash, cp.ts, cp.signature, cp.key_id))

    schedule = CheckpointScheduler(
        audit_log,
        signer,
        CheckpointPolicy(args.every_records, args.every_seconds, args.heartbeat_seconds),
        checkpointed,
    )
    schedule.start()
    audit_log.disable_autocheckpoint()
    wal = WalCheckpointer(audit_log.path, 5.0)
    wal.start()
    try:
        clients = _Clients(args.listen)
    except OSError as exc:
        out.send(("fatal", f"cannot listen on {args.listen}: {exc}", "check the state folder"))
        return 1
    out.send(("ready",))
    if shipper is not None:
        shipper.start()
    try:
        _serve(audit_log, schedule, out, clients, shipper.poke if shipper is not None else None)
    finally:
        if shipper is not None:
            shipper.stop()  # what is committed and not yet shipped goes at the next start
        wal.stop()
        audit_log.close()
    return 0


def _shipper(args: argparse.Namespace, signer: CheckpointSigner) -> FleetShipper:
    from .fleet import FleetShipper  # psycopg: imported by fleet members only

    name = args.ship_dsn_env
    dsn = os.environ.get(name, "").strip()
    if not dsn or args.instance is None:
        raise AuditStoreError(
            f"the audit writer was asked to ship records to PostgreSQL without {name} "
            "or an instance id",
            fix=f"set {name} in the gateway's environment (state.backend: postgresql)",
        )
    return FleetShipper(args.db, args.instance, signer.public_key(), dsn)


class _Clients:
    """The gateway workers of one host, each on its own connection to ``--listen``'s
    socket (warden.gateway.supervisor): their records join the same per-tenant chains, and each
    answer goes back on the connection its record came in on."""

    #: A worker that reads none of its answers for this long is dropped (its records
    #: still commit; it fails what it waits for and reconnects).
    SEND_TIMEOUT_S: Final = 5.0

    def __init__(self, path: Path | None) -> None:
        self.listener: socket.socket | None = None
        self.conns: dict[int, tuple[socket.socket, FrameReader]] = {}
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # a socket left by a writer that was killed
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            old = os.umask(0o177)  # only the gateway's user may hand us records
            try:
                listener.bind(str(path))
            finally:
                os.umask(old)
            listener.listen(64)
            self.listener = listener

    def fds(self) -> list[int]:
        head = [self.listener.fileno()] if self.listener is not None else []
        return head + list(self.conns)

    def accept(self) -> None:
        assert self.listener is not None
        conn, _ = self.listener.accept()
        conn.settimeout(self.SEND_TIMEOUT_S)
        self.conns[conn.fileno()] = (conn, FrameReader())
        self.send(conn.fileno(), [("ready",)])

    def read(self, fd: int) -> list[tuple[Any, ...]]:
        conn, frames = self.conns[fd]
        try:
            chunk = conn.recv(1 << 16)
            if chunk:
                return frames.feed(chunk)
        except (OSError, ValueError) as exc:
            log.error("dropping a worker's connection: %s", exc)
        self.drop(fd)
        return []

    def send(self, fd: int, messages: list[tuple[Any, ...]]) -> None:
        entry = self.conns.get(fd)
        if entry is None:
            return  # the worker went away; its records are committed all the same
        try:
            entry[0].sendall(b"".join(frame(m) for m in messages))
        except OSError as exc:
            log.error("a worker does not take its answers (%s); dropping it", exc)
            self.drop(fd)

    def drop(self, fd: int) -> None:
        entry = self.conns.pop(fd, None)
        if entry is not None:
            entry[0].close()

    def close(self) -> None:
        for fd in list(self.conns):
            self.drop(fd)
        if self.listener is not None:
            self.listener.close()


#: How soon an idle writer with indexing to do takes its next step.
INDEX_POLL_S: Final = 0.05
#: Where a record came from: the parent's pipe (-1) or a worker's connection (its fd).
_PARENT: Final = -1


def _serve(
    audit_log: AuditLog,
    schedule: CheckpointScheduler,
    out: _Output,
    clients: _Clients | None = None,
    committed: Callable[[], None] | None = None,
) -> None:
    """One thread: wait for input (or a checkpoint tick), commit all of it, answer;
    ``committed`` hears of each batch (the fleet shipper)."""
    clients = clients if clients is not None else _Clients(None)
    frames = FrameReader()
    ended = False
    indexing = True  # the last indexing step did not fail
    while not ended:
        wait = schedule.timeout()
        if indexing and audit_log.index_backlog:
            # indexing to do (new records' text, an older store's review indexes): come
            # back to it soon even when no record arrives
            wait = INDEX_POLL_S if wait is None else min(wait, INDEX_POLL_S)
        readable, _, _ = select.select([0, *clients.fds()], [], [], wait)
        messages: list[tuple[int, tuple[Any, ...]]] = []
        for fd in readable:
            if fd == 0:
                chunk = os.read(0, 1 << 16)  # below malloc's mmap threshold: no map per read
                if chunk:
                    messages += [(_PARENT, m) for m in frames.feed(chunk)]
                else:
                    ended = True  # the gateway closed our input: finish and exit
            elif clients.listener is not None and fd == clients.listener.fileno():
                clients.accept()
            else:
                messages += [(fd, m) for m in clients.read(fd)]
        taken: list[tuple[int, int, AuditRecord]] = []
        answers: list[tuple[int, tuple[Any, ...]]] = []
        for source, message in messages:
            if message[0] != "r" or len(message) != 3:
                log.error("unknown message from the gateway: %r", message[:1])
                continue
            _, ident, data = message
            try:
                taken.append((source, ident, AuditRecord.from_dict(data)))
            except AuditRecordError as exc:
                answers.append((source, ("err", ident, str(exc), "record")))
        if taken:
            outcomes = commit_batch(audit_log, [record for _, _, record in taken])
            for (source, ident, _), outcome in zip(taken, outcomes, strict=True):
                if isinstance(outcome, AuditUnavailable):
                    answers.append((source, ("err", ident, str(outcome), _cause(outcome))))
                else:
                    answers.append(
                        (
                            source,
                            (
                                "ok",
                                ident,
                                outcome.seq,
                                outcome.tenant,
                                outcome.tenant_seq,
                                outcome.record_id,
                                outcome.hash,
                            ),
                        )
                    )
        by_source: dict[int, list[tuple[Any, ...]]] = {}
        for source, answer in answers:
            by_source.setdefault(source, []).append(answer)
        for source, batch in by_source.items():
            if source == _PARENT:
                out.send(*batch)
            else:
                clients.send(source, batch)
        schedule.after_batch({record.tenant for _, _, record in taken}, stopping=ended)
        if committed is not None and taken:
            committed()
        # the review's text index catches up while no record waits (the gateway's or a
        # worker's): never on a commit's path
        indexing = index_text_between_batches(
            audit_log, lambda: bool(select.select([0, *clients.fds()], [], [], 0)[0])
        )
    clients.close()


def _cause(failure: AuditUnavailable) -> str:
    """ "record" when only this record was refused (a duplicate id), else "commit"."""
    store_error = failure.__cause__
    if store_error is not None and isinstance(store_error.__cause__, sqlite3.IntegrityError):
        return "record"
    return "commit"


if __name__ == "__main__":
    sys.exit(child_main())
