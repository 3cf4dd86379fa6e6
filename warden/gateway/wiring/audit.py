"""The audit trail of a running gateway: the SQLite writer, signed checkpoints, syslog.

``AuditTrail.record`` is what the proxy awaits before it releases a response: it returns
once the record is committed, and then hands a copy to the syslog shipper (which never
blocks). Auth and admin events are written the same way, without anyone waiting.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import logging
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from warden.audit import (
    AuditLog,
    AuditRecord,
    AuditUnavailable,
    Checkpoint,
    CheckpointPolicy,
    Principal,
    load_or_create_signing_key,
    purge,
)
from warden.audit.errors import AuditStoreError
from warden.audit.failure import FailurePolicy
from warden.audit.fields import fit_details, fit_text
from warden.audit.instance import InstanceIdError, resolve_instance_id
from warden.audit.record import SYSTEM_TENANT
from warden.audit.spool import Spool
from warden.audit.syslog import ShipperLimits, SyslogShipper
from warden.audit.syslog_format import Facility, SyslogFormatter
from warden.audit.syslog_transport import open_transport
from warden.audit.writer_client import AuditWriterClient
from warden.audit.writer_process import AuditWriterProcess, WriterSettings
from warden.config.audit import AuditSettings
from warden.identity.events import WINDOW_S, AnonymousEventThrottle, AuthEvent

logger = logging.getLogger("warden.audit")

_FAILED_EVENTS = {"login.failed", "credential.rejected", "logout.backchannel_rejected"}


class AdminEvent(Protocol):
    """What the runtimes that record admin events take: `AuditTrail.admin`'s signature."""

    def __call__(
        self,
        event: str,
        tenant: str | None,
        details: Mapping[str, str | int | bool],
        outcome: str = "ok",
        *,
        principal: Principal | None = None,
    ) -> None: ...


class AuditTrail:
    def __init__(
        self,
        settings: AuditSettings,
        audit_dir: Path,
        tenant_on_failure: Mapping[str, str] | None = None,
        tenant_retention_days: Mapping[str, int] | None = None,
        *,
        workers_socket: Path | None = None,
        worker_id: int | None = None,
        instance_id: str | None = None,
        ship_to_fleet: bool = False,
    ) -> None:
        """``workers_socket``: with ``worker_id`` None, the writer this trail starts also
        takes the host's gateway workers' records there (the supervisor); with a
        ``worker_id``, this trail is a worker's and hands its records to that writer.

        ``instance_id`` is ``fleet.instance_id`` (None: the one kept in the audit folder,
        derived at first start; `audit.instance`); every record names it. With
        ``ship_to_fleet`` the writer also copies committed records to PostgreSQL
        (`audit.fleet`)."""
        self.settings = settings
        self.worker_id = worker_id
        self.fail_open = settings.on_failure == "fail_open"
        self.on_failure = FailurePolicy.of(settings.on_failure, tenant_on_failure)
        self.retention = dict(tenant_retention_days or {})
        audit_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.db_path = audit_dir / "audit.db"
        synchronous = settings.synchronous.upper()
        # Opened here to report a bad path or schema at start-up, then handed to the child.
        AuditLog.open(self.db_path, synchronous=synchronous).close()  # type: ignore[arg-type]
        load_or_create_signing_key(audit_dir)
        try:
            self.instance_id = resolve_instance_id(audit_dir, instance_id)
        except InstanceIdError as exc:
            raise AuditStoreError(str(exc), fix="see the message") from None
        cp = settings.checkpoints
        self._loop: asyncio.AbstractEventLoop | None = None
        # Anonymous failures (bad credentials, forged callbacks): a record per source and
        # minute plus a count, not one each; a flood from outside cannot fill the disk.
        self.throttle = AnonymousEventThrottle(time.monotonic)
        self._summaries: asyncio.Task[None] | None = None
        self.shipper: SyslogShipper | None = None
        self.formatter: SyslogFormatter | None = None
        if settings.syslog is not None:
            s = settings.syslog
            self.formatter = SyslogFormatter(
                hostname=socket.gethostname(),
                app_name=s.app_name,
                facility=Facility[s.facility.upper()],
                payload=s.payload,
            )
            transport = open_transport(
                s.transport,
                s.host,
                s.port,
                ca_file=s.ca_file,
                server_name=s.server_name,
                client_cert=s.client_cert_file,
                client_key=s.client_key_file,
            )
            # A spool per process: each worker ships the records of the flows it served.
            spool_dir = audit_dir / ("spool" if worker_id is None else f"spool-worker-{worker_id}")
            spool = Spool(spool_dir, max_bytes=s.spool_max_mb * 1024 * 1024)
            self.shipper = SyslogShipper(
                transport,
                spool,
                alarm=self.formatter.spool_full_alarm,
                limits=ShipperLimits(queue_messages=s.queue_messages),
            )
        dsn_env: str | None = None
        if ship_to_fleet:
            from warden.gateway.state import postgres  # psycopg: only in a fleet

            dsn_env = postgres.DSN_ENV
        if worker_id is not None and workers_socket is not None:
            self.writer: AuditWriterProcess = AuditWriterClient(workers_socket)
        else:
            self.writer = AuditWriterProcess(
                WriterSettings(
                    self.db_path,
                    audit_dir,
                    synchronous,  # type: ignore[arg-type]
                    CheckpointPolicy(cp.every_records, cp.every_seconds, cp.heartbeat_seconds),
                    listen=workers_socket,
                    instance=self.instance_id,
                    ship_dsn_env=dsn_env,
                ),
                on_checkpoint=self._checkpoint_committed,
            )

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.writer.start()
        if self.shipper is not None:
            await self.shipper.start()
        self._summaries = asyncio.create_task(self._keep_summarising(), name="auth-summaries")

    async def _keep_summarising(self, every_s: float = WINDOW_S / 4) -> None:
        while True:
            await asyncio.sleep(every_s)
            self.summarise()

    def summarise(self, force: bool = False) -> None:
        """Record the counts of throttled anonymous failures whose window ended."""
        for summary in self.throttle.due(force):
            self._record_event(summary)

    async def stop(self) -> None:
        if self._summaries is not None:
            self._summaries.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._summaries
        self.summarise(force=True)  # no count is lost at shutdown
        await self.writer.close()
        if self.shipper is not None:
            await self.shipper.stop()

    def _ship(self, data: Mapping[str, object]) -> None:
        if self.shipper is None or self.formatter is None:
            return
        try:
            self.shipper.offer(self.formatter.record(data))
        except RuntimeError:  # stopping: what is not shipped stays in the database
            logger.debug("syslog shipper stopped; record kept in the database only")

    def _checkpoint_committed(self, cp: Checkpoint) -> None:
        # Called on the event loop (the writer process reports checkpoints through its pipe).
        if self._loop is None or self.shipper is None:
            return
        data = {
            "kind": "checkpoint",
            "tenant": cp.tenant,
            "tenant_seq": cp.tenant_seq,
            "head_hash": cp.head_hash.hex(),
            "ts": cp.ts,
            "signature": base64.b64encode(cp.signature).decode(),
            "key_id": cp.key_id,
            "instance": self.instance_id,
        }
        self._loop.call_soon_threadsafe(self._ship, data)

    async def record(self, rec: AuditRecord) -> None:
        """Commit ``rec`` (then ship it). Raises AuditUnavailable unless failing open."""
        await self.record_data(rec.to_dict())

    async def record_data(self, data: dict[str, Any]) -> None:
        """`record` for a record as plain data (``AuditRecord.to_dict``'s shape), checked
        by the writer process before it commits; one it refuses fails like any other."""
        if self.worker_id is not None:  # which of the host's workers served the flow
            details = data.get("details")
            if isinstance(details, dict):
                details["worker"] = self.worker_id
        try:
            await self.writer.write_data(data)
        except AuditUnavailable as exc:
            logger.error(
                "audit record %s could not be written (%s): %s",
                data.get("record_id"),
                data.get("outcome"),
                exc,
            )
            if self.on_failure.fails_closed(str(data.get("tenant"))):
                raise
            return
        if self.shipper is not None:
            self._ship({**data, "instance": self.instance_id})  # as the writer committed it

    def writer_problem(self) -> str:
        """For /healthz: why flows are refused because of the audit writer, or ""."""
        if self.fail_open:
            return ""
        if not self.writer.running:
            return "the audit writer process is not running: flows are refused until it restarts"
        failure = self.writer.commit_failure
        if failure is not None:
            # Red until a record is committed again (the next flow, login or event tries).
            return (
                f"audit records cannot be written ({failure[:300]}): flows are refused until "
                "a write succeeds; free disk space or fix the audit database"
            )
        return ""

    def fails_closed(self, tenant: str) -> bool:
        """True when a flow of ``tenant`` must not go on without its record."""
        return self.on_failure.fails_closed(tenant)

    def purge_expired(self, now: datetime.datetime) -> dict[str, int]:
        """Apply retention to every tenant that has records (blocking: run in a thread)."""
        log = AuditLog.open(self.db_path)
        removed: dict[str, int] = {}
        try:
            for tenant in list(log.heads()):
                days = self.retention.get(tenant, self.settings.retention_days)
                result = purge(log, tenant, days, now)
                removed[tenant] = result.records_deleted
        finally:
            log.close()
        return removed

    async def keep_purging(self, every_s: float = 86400.0) -> None:
        """Retention, once at start and then daily (a task of the gateway)."""
        while True:
            try:
                now = datetime.datetime.now(datetime.UTC)
                removed = await asyncio.to_thread(self.purge_expired, now)
                if any(removed.values()):
                    self.admin("audit.retention", None, {k: v for k, v in removed.items() if v})
            except Exception:
                logger.exception("audit retention failed; trying again later")
            await asyncio.sleep(every_s)

    def submit(self, rec: AuditRecord) -> None:
        """Write without waiting (auth and admin events)."""
        try:
            future = self.writer.submit(rec)
        except AuditUnavailable:
            logger.error("audit event %s could not be queued", rec.event)
            return
        future.add_done_callback(lambda f: self._after_submit(f, rec))

    def _after_submit(self, future: object, rec: AuditRecord) -> None:
        if getattr(future, "exception", lambda: None)() is None and self._loop is not None:
            self._loop.call_soon_threadsafe(
                self._ship, {**rec.to_dict(), "instance": self.instance_id}
            )

    # -- AuthEvents ------------------------------------------------------------------

    def emit(self, event: AuthEvent) -> None:
        if self.throttle.admit(event):
            self._record_event(event)

    def _record_event(self, event: AuthEvent) -> None:
        logger.info(
            "%s tenant=%s sub=%s method=%s client=%s%s%s",
            event.name,
            event.tenant or "-",
            event.subject or "-",
            event.auth_method or "-",
            event.client_addr or "-",
            f" reason={event.reason}" if event.reason else "",
            f" repeats={event.details['repeats']}" if "repeats" in event.details else "",
        )
        principal = Principal(
            issuer=event.issuer if event.subject else None,
            subject=event.subject if event.issuer else None,
            email=fit_text(event.email, max_len=320),  # an IdP's claim
            auth_method=event.auth_method,
            client_addr=event.client_addr or None,
        )
        details = fit_details(event.details)  # a CONNECT host, a client's reason to fail
        if event.reason:
            details["reason"] = fit_text(event.reason, max_len=200) or "-"
        self.submit(
            AuditRecord.new(
                kind="auth",
                tenant=event.tenant or SYSTEM_TENANT,
                event=event.name,
                outcome="failed" if event.name in _FAILED_EVENTS else "ok",
                principal=principal,
                details=details,
            )
        )

    def admin(
        self,
        event: str,
        tenant: str | None,
        details: Mapping[str, str | int | bool],
        outcome: str = "ok",
        *,
        principal: Principal | None = None,
    ) -> None:
        """An admin event; ``principal`` is the person it is about (a SCIM change names
        the person it changed), so filtering by that person finds it."""
        logger.info("%s tenant=%s %s", event, tenant or "-", dict(details))
        self.submit(
            AuditRecord.new(
                kind="admin",
                tenant=tenant or SYSTEM_TENANT,
                event=event,
                outcome=outcome,
                principal=principal,
                details=fit_details(details),  # SCIM userNames, a reviewer's subject text
            )
        )
