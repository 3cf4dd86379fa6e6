"""The supervisor of a host's gateway workers (``proxy.workers`` above 1, or
``control.own_process: true`` with one worker).

The supervisor's own process is the control plane (portal, admin API, SCIM, PAC, health,
the audit writer; see warden.gateway.roles), so portal load never runs on a proxy event loop
(bench/portal.md: an anonymous login flood on the shared loop raised signed-in users'
p50 by 1.6x). It starts ``proxy.workers`` worker processes (``python -m
warden.gateway.supervisor``) that share the proxy port (warden.gateway.reuseport) and:

- restarts a worker that ends, after 0.5 s, then backing off up to 30 s while it keeps
  dying (a worker that ran a minute is healthy again), and logs each end with its code;
- forwards SIGHUP (``systemctl reload``) to every worker after reloading its own policy
  (each worker also watches the policy file, as a single gateway does);
- on SIGTERM or SIGINT tells every worker to stop: each stops taking connections,
  drains the open ones for up to `DRAIN_S`, records what it served and exits; one that
  has not exited 5 s after that is killed. Workers also get SIGKILL from the kernel when
  the supervisor dies (warden.lifeline), so none outlives it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from warden.config import Config
from warden.gateway.roles import DRAIN_S, ControlRole

logger = logging.getLogger("warden.supervisor")

RESTART_DELAYS: Final = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
#: A worker that ran this long before it ended starts the back-off from the beginning.
HEALTHY_AFTER_S: Final = 60.0
#: Unix socket paths are limited to 108 bytes on Linux.
MAX_SOCKET_PATH: Final = 100


@dataclass
class _Worker:
    worker_id: int
    proc: asyncio.subprocess.Process | None = None
    ready: bool = False
    restarts: int = 0
    started_at: float = 0.0


class Supervisor:
    def __init__(self, config: Config, config_path: Path, audit_socket: Path) -> None:
        self.config = config
        self.config_path = config_path
        self.audit_socket = audit_socket
        self.workers = [_Worker(i) for i in range(1, config.proxy.worker_count + 1)]
        self._all_listened = False
        self._stop = asyncio.Event()
        self._stopping = False
        self._status_tasks: dict[int, asyncio.Task[None]] = {}
        #: Called with a worker's id each time it is started again after it ended.
        self.on_restart: Callable[[int], None] | None = None

    # -- for /healthz ---------------------------------------------------------------

    def not_ready(self) -> str:
        if self._all_listened:
            return ""
        ready = sum(w.ready for w in self.workers)
        return f"{ready} of {len(self.workers)} proxy workers listen"

    def ready_count(self) -> int:
        return sum(w.ready for w in self.workers)

    def ready_ids(self) -> list[int]:
        """The workers whose port listens now (a revocation push waits for each)."""
        return [w.worker_id for w in self.workers if w.ready]

    def problem(self) -> str:
        if any(w.ready for w in self.workers):
            return ""
        return "no proxy worker is running: the supervisor is restarting them (see its log)"

    def pids(self) -> list[int]:
        return [w.proc.pid for w in self.workers if w.proc is not None]

    # -- running ----------------------------------------------------------------------

    async def run(self, reload_policy: Callable[[], None]) -> None:
        from warden.gateway.reuseport import port_in_use

        listen = self.config.proxy.listen
        busy = port_in_use(listen.host, listen.port)
        if busy:
            raise SystemExit(f"warden: {busy}. Stop it or change proxy.listen.port.")
        loop = asyncio.get_running_loop()

        def reload() -> None:
            reload_policy()
            self.signal_all(signal.SIGHUP)

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, reload)
        keepers = [
            asyncio.create_task(self._keep(w), name=f"worker-{w.worker_id}") for w in self.workers
        ]
        try:
            await self._stop.wait()
        finally:
            self._stopping = True
            loop.remove_signal_handler(signal.SIGHUP)
            # told again while the workers drain (a second Ctrl-C): they stop at once
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.signal_all, signal.SIGTERM)
            logger.info(
                "stopping %d proxy workers (draining up to %.0f s; signal again to stop now)",
                len(self.workers),
                DRAIN_S,
            )
            self.signal_all(signal.SIGTERM)
            _, late = await asyncio.wait(keepers, timeout=DRAIN_S + 5.0)
            if late:
                self.signal_all(signal.SIGKILL)
                await asyncio.wait(late, timeout=5.0)
            for task in late:
                task.cancel()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    def stop(self) -> None:
        self._stop.set()

    def signal_all(self, sig: signal.Signals) -> None:
        for w in self.workers:
            if w.proc is not None and w.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    w.proc.send_signal(sig)

    def argv(self, worker: _Worker, status_fd: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "warden.gateway.supervisor",
            "--config",
            str(self.config_path),
            "--worker-id",
            str(worker.worker_id),
            "--audit-socket",
            str(self.audit_socket),
            "--status-fd",
            str(status_fd),
            "--parent-pid",
            str(os.getpid()),
        ]

    async def _keep(self, worker: _Worker) -> None:
        """Run one worker until the supervisor stops, starting it again when it ends."""
        while not self._stop.is_set():
            await self._spawn(worker)
            assert worker.proc is not None
            code = await worker.proc.wait()
            worker.ready = False
            if self._stop.is_set():
                logger.info("proxy worker %d stopped (exit code %s)", worker.worker_id, code)
                return
            if time.monotonic() - worker.started_at > HEALTHY_AFTER_S:
                worker.restarts = 0
            delay = RESTART_DELAYS[min(worker.restarts, len(RESTART_DELAYS) - 1)]
            worker.restarts += 1
            logger.error(
                "proxy worker %d (pid %d) ended unexpectedly (exit code %s); starting it "
                "again in %.1f s (restart %d)",
                worker.worker_id,
                worker.proc.pid,
                code,
                delay,
                worker.restarts,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
            if self.on_restart is not None and not self._stop.is_set():
                self.on_restart(worker.worker_id)

    async def _spawn(self, worker: _Worker) -> None:
        loop = asyncio.get_running_loop()
        read_fd, write_fd = os.pipe()
        try:
            worker.proc = await asyncio.create_subprocess_exec(
                *self.argv(worker, write_fd), pass_fds=(write_fd,)
            )
        finally:
            os.close(write_fd)
        worker.started_at = time.monotonic()
        logger.info("proxy worker %d started (pid %d)", worker.worker_id, worker.proc.pid)
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", buffering=0)
        )

        async def wait_ready() -> None:
            try:
                line = await reader.readline()
                if line.strip() == b"ready":
                    worker.ready = True
                    self._all_listened = self._all_listened or all(w.ready for w in self.workers)
                await reader.read()  # until the worker's end closes the pipe
            finally:
                transport.close()

        self._status_tasks[worker.worker_id] = loop.create_task(
            wait_ready(), name=f"worker-{worker.worker_id}-status"
        )


def audit_socket_path(config: Config) -> Path:
    path = Path(os.path.abspath(config.audit_dir / "workers.sock"))
    if len(str(path)) > MAX_SOCKET_PATH:
        raise SystemExit(
            f"warden: the audit writer's socket path {path} is longer than {MAX_SOCKET_PATH} "
            "characters (a Unix socket limit); move state_dir to a shorter path"
        )
    return path


async def run_supervised(config: Config, config_path: Path) -> None:
    """`warden run` with ``proxy.workers`` above 1 (``config_path`` absolute)."""
    from warden.gateway.process import Gateway

    socket_path = audit_socket_path(config)
    supervisor = Supervisor(config, config_path, socket_path)
    await Gateway(config, role=ControlRole(socket_path, supervisor)).run()


def worker_main(argv: list[str] | None = None) -> int:
    """One proxy worker, started by the supervisor (not a command for people)."""
    ap = argparse.ArgumentParser(prog="python -m warden.gateway.supervisor")
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--worker-id", type=int, required=True)
    ap.add_argument("--audit-socket", type=Path, required=True)
    ap.add_argument("--status-fd", type=int, default=None)
    ap.add_argument("--parent-pid", type=int, default=0)
    args = ap.parse_args(argv)
    if args.parent_pid:
        from warden.lifeline import die_with_parent

        die_with_parent(args.parent_pid)
    from warden.config import ConfigError, load_config
    from warden.gateway import logs
    from warden.gateway.process import Gateway
    from warden.gateway.roles import WorkerRole

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc.diagnostics(), file=sys.stderr)
        return 2
    logs.setup(config.log.level, config.log.format)
    role = WorkerRole(args.worker_id, args.audit_socket, args.status_fd)
    asyncio.run(Gateway(config, role=role).run())
    return 0


if __name__ == "__main__":
    sys.exit(worker_main())
