"""The two kinds of process of a supervised gateway (``proxy.workers`` above 1, or
``control.own_process``).

- a **worker** runs the proxy (mitmproxy, the stages, DLP) on the shared port and hands
  its audit records to the host's one writer; it serves no HTTP of its own;
- the **control plane** (the supervisor's own process) runs the portal, admin API, SCIM,
  PAC and health, owns the audit writer, and starts, restarts and stops the workers.

Both build their parts with `Gateway.run`; these functions are what differs after that.
With ``proxy.workers: 1`` and ``control.own_process: false`` (the defaults) neither is used:
`Gateway.run` runs everything in one process, and the portal shares the proxy's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from aiohttp import web

from warden.config import Config
from warden.gateway.admin_api import AdminApi, load_or_create_admin_token
from warden.gateway.control import build_app, serve_control_plane
from warden.gateway.metrics import GatewayMetrics
from warden.gateway.push import RevocationPush, follow_pushes, socket_path
from warden.gateway.wiring.audit import AuditTrail
from warden.gateway.wiring.identity import IdentityParts
from warden.gateway.wiring.policy import PolicyRuntime
from warden.gateway.wiring.scim import ScimRuntime
from warden.gateway.worker_metrics import keep_writing, render_merged

if TYPE_CHECKING:
    from mitmproxy.addons.proxyserver import Proxyserver
    from mitmproxy.master import Master

    from warden.dlp import DlpRunner

logger = logging.getLogger("warden.gateway")

#: How often a process that shares the state database looks whether another one wrote
#: (a sign-in, a revocation, a SCIM deprovisioning). The control plane's revocations are
#: also pushed to the workers and acknowledged before they are answered
#: (warden.gateway.push); this look is the fallback for a worker the push did not reach.
CATCH_UP_EVERY_S = 0.2
#: How long a worker told to stop keeps serving the connections it has (no new ones).
DRAIN_S = 10.0


class Supervising(Protocol):
    """What the control plane needs from the supervisor (warden.gateway.supervisor)."""

    on_restart: Callable[[int], None] | None

    def not_ready(self) -> str: ...
    def ready_count(self) -> int: ...
    def ready_ids(self) -> list[int]: ...
    def problem(self) -> str: ...
    async def run(self, reload_policy: Callable[[], None]) -> None: ...


@dataclass(frozen=True)
class WorkerRole:
    worker_id: int
    audit_socket: Path
    #: Where the worker writes "ready" once its proxy port listens.
    status_fd: int | None = None


@dataclass(frozen=True)
class ControlRole:
    audit_socket: Path
    supervisor: Supervising


@dataclass(frozen=True)
class Parts:
    state: sqlite3.Connection
    trail: AuditTrail
    identity: IdentityParts
    policy: PolicyRuntime | None
    dlp_runner: DlpRunner | None


async def keep_in_step(parts: Parts, every_s: float = CATCH_UP_EVERY_S) -> None:
    """Reload the sessions index when another process of the host wrote to it, and take
    in the coaching acknowledgements the portal recorded.

    On PostgreSQL the sessions need no look: every commit NOTIFYs each process
    (warden/gateway/state/listen.py), and a look would be a network round trip on this event loop
    every 200 ms (and one per unknown credential), which a stalled database would hold."""
    on_sqlite = isinstance(parts.state, sqlite3.Connection)
    parts.identity.sessions.shared = on_sqlite
    # the acknowledgements' feed is a table of the SQLite file; on PostgreSQL they are not
    # shared between a host's processes yet (the feed raised here, ending this task)
    feed = parts.policy.share_acknowledgements() if parts.policy and on_sqlite else None
    while True:
        try:
            if on_sqlite and parts.identity.sessions.catch_up():
                logger.debug("sessions changed in another process; memory reloaded")
            if feed is not None:
                feed.catch_up(time.time())
        except sqlite3.Error:
            logger.exception("cannot read the state database; trying again")
        await asyncio.sleep(every_s)


def pushed_to(parts: Parts) -> Callable[[], Awaitable[bool]]:
    """What a worker does when the control plane pushes a revocation: re-read the sessions
    index now (SQLite: the generation check, at once; PostgreSQL: a reload off the loop)
    and make connections that cached an identity look again. False: not applied (the
    control plane then names this worker as late; the regular look tries again)."""
    sessions = parts.identity.sessions
    on_sqlite = isinstance(parts.state, sqlite3.Connection)

    async def apply() -> bool:
        try:
            if on_sqlite:
                sessions.catch_up()
            else:
                await asyncio.to_thread(sessions.reload)
        except Exception:  # any database error: not applied, not acknowledged
            logger.exception("cannot apply a pushed revocation; the regular look tries again")
            return False
        sessions.recheck()
        return True

    return apply


def _task(coro: Awaitable[None], name: str) -> asyncio.Task[None]:
    async def run() -> None:
        await coro

    return asyncio.create_task(run(), name=name)


async def run_worker(
    role: WorkerRole,
    master: Master,
    proxy_server: Proxyserver,
    parts: Parts,
    metrics: GatewayMetrics,
    state_dir: Path,
) -> None:
    from warden.gateway.process import proxy_not_listening
    from warden.gateway.reuseport import share_listening_port

    share_listening_port()
    loop = asyncio.get_running_loop()
    stopping: list[asyncio.Task[None]] = []

    async def drain() -> None:
        # Stop taking connections (the other workers' sockets get the new ones), let the
        # open ones finish for a while, then stop.
        master.options.update(server=False)
        deadline = time.monotonic() + DRAIN_S
        while proxy_server.connections and time.monotonic() < deadline:  # noqa: ASYNC110 - mitmproxy's connections dict has no event
            await asyncio.sleep(0.05)
        master.shutdown()

    def stop() -> None:
        if not stopping:
            stopping.append(loop.create_task(drain(), name="drain"))
        else:  # told twice (a second Ctrl-C at the supervisor): stop now, no more drain
            master.shutdown()

    # The supervisor decides when a worker stops: SIGTERM once to drain, again to stop now.
    # A Ctrl-C in a terminal reaches every process of the group; it counts at the supervisor.
    loop.add_signal_handler(signal.SIGINT, lambda: None)
    loop.add_signal_handler(signal.SIGTERM, stop)
    policy = parts.policy
    loop.add_signal_handler(
        signal.SIGHUP, policy.reload_now if policy is not None else (lambda: None)
    )

    async def report_ready() -> None:
        while proxy_not_listening(proxy_server):  # noqa: ASYNC110 - mitmproxy offers no event
            await asyncio.sleep(0.05)
        logger.info("worker %d: proxy listening", role.worker_id)
        if role.status_fd is not None:
            with contextlib.suppress(OSError):
                os.write(role.status_fd, b"ready\n")

    await parts.trail.start()
    if parts.dlp_runner is not None:
        await parts.dlp_runner.start()
    background = [
        _task(parts.identity.discover(), "idp-discovery"),
        _task(keep_in_step(parts), "sessions-catch-up"),
        _task(
            follow_pushes(socket_path(state_dir), role.worker_id, pushed_to(parts)),
            "revocation-push",
        ),
        _task(report_ready(), "ready"),
        _task(keep_writing(metrics, state_dir, role.worker_id), "metrics"),
    ]
    gc.collect()
    gc.freeze()
    if policy is not None:
        policy.share_quotas()
        await policy.start()
        background.append(_task(policy.keep_flushing(), "quota-flush"))
    try:
        await master.run()
    finally:
        for task in background + stopping:
            task.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        if policy is not None:
            await policy.stop()
        if parts.dlp_runner is not None:
            await parts.dlp_runner.close()
        await parts.identity.aclose()
        await parts.trail.stop()
        parts.state.close()
        logger.info("worker %d stopped", role.worker_id)


async def run_control_plane(
    role: ControlRole,
    config: Config,
    metrics: GatewayMetrics,
    parts: Parts,
    ca_cert: Path,
    scim: ScimRuntime,
    pac: list[web.RouteDef],
) -> None:
    trail, identity, policy = parts.trail, parts.identity, parts.policy
    supervisor = role.supervisor
    unsafe = config.unsafe_testing is not None
    metrics.unsafe_test_routing.set(1 if unsafe else 0)
    admin = AdminApi(load_or_create_admin_token(config.state_dir), identity.sessions, trail.admin)
    push = RevocationPush(
        socket_path(config.state_dir),
        supervisor.ready_ids,
        on_late=lambda wid: metrics.revocation_push_late.labels(str(wid)).inc(),
    )
    sessions = identity.sessions
    # revocations no request waits for (IdP re-checks, SCIM's retried deprovisioning)
    # reach the workers by the same push as the API's
    sessions.on_revoked = push.soon
    app = build_app(
        metrics,
        ca_cert,
        {"unsafe_test_routing": unsafe},
        routes=[
            *identity.portal.routes(),
            *admin.routes(),
            *(policy.routes() if policy else []),
            *(scim.routes(identity.settings.public_url) if scim.enabled else []),
            *pac,
        ],
        probes={"audit_writer": trail.writer_problem, "workers": supervisor.problem},
        starting=supervisor.not_ready,
        render_metrics=lambda: render_merged(metrics, config.state_dir),
        # a request that revoked is answered once every worker applied it
        middlewares=[push.middleware(lambda: sessions.revocations)],
    )
    metrics.audit_writer_up.set_function(lambda: 1.0 if trail.writer.running else 0.0)
    trail.writer.on_restart = metrics.audit_writer_restarts.inc
    supervisor.on_restart = lambda wid: metrics.proxy_worker_restarts.labels(str(wid)).inc()
    metrics.proxy_workers_up.set_function(lambda: float(supervisor.ready_count()))
    runner = await serve_control_plane(app, config)
    logger.info(
        "control plane on %s://%s:%d; %d proxy worker(s) on %s:%d",
        "https" if config.control.tls else "http",
        config.control.listen.host,
        config.control.listen.port,
        config.proxy.worker_count,
        config.proxy.listen.host,
        config.proxy.listen.port,
    )
    await trail.start()  # before the workers: they connect to its socket
    await push.start()  # and to this one
    trail.admin(
        "gateway.started",
        None,
        {
            "unsafe_test_routing": unsafe,
            "identity": identity.enforce,
            "workers": config.proxy.worker_count,
        },
    )
    background = [
        _task(identity.discover(), "idp-discovery"),
        _task(identity.keep_checking(), "idp-rechecks"),
        _task(trail.keep_purging(), "audit-retention"),
        _task(keep_in_step(parts), "sessions-catch-up"),
    ]
    if policy is not None:
        await policy.start()
    try:
        await supervisor.run(policy.reload_now if policy is not None else (lambda: None))
    finally:
        for task in background:
            task.cancel()
        if policy is not None:
            await policy.stop()
        await runner.cleanup()
        await push.stop()
        await identity.aclose()
        trail.admin("gateway.stopped", None, {})
        await trail.stop()
        parts.state.close()
        logger.info("stopped")
