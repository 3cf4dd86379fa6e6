"""One policy in force for a fleet on PostgreSQL (``state.backend: postgresql``).

The newest row of ``policy_published`` (warden/policy/published.py) is the version in
force. This module keeps an instance in step with it:

- **publish**: when this instance's policy file changes (the file watcher) or is reloaded
  (SIGHUP, ``systemctl reload``) with content it had not read yet, the new version is
  validated here first, put in force here, then published. A SIGHUP with an unchanged file
  publishes nothing: a host whose file is older than the fleet's must not roll the fleet
  back because every host was reloaded.
- **follow**: each commit to the table notifies every instance (LISTEN/NOTIFY, the
  ``state.notify`` triggers), whose listener thread takes the newest row: its sha256 and
  size are checked, then the document is validated against this instance's own tenants
  and DLP profiles and must read as the version its publisher computed. A version that
  fails any of that is refused: the previous one stays in force, an audit record
  (``policy.reload``, ``ok: false``, ``source: fleet``) and the log say why, and
  ``warden_policy_fleet_in_step`` drops to 0.
- **start**: the listener runs every callback once it is connected, so an instance that
  starts takes the version in force before it serves; the first instance of a fleet (no
  row yet) publishes its file.

Only the process that owns the policy file publishes (the single process, or the
supervisor's control plane); proxy workers follow.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from warden.policy import ReloadResult
from warden.policy.published import PublishedPolicies, PublishedPolicy, document_sha256

if TYPE_CHECKING:
    from warden.gateway.metrics import GatewayMetrics
    from warden.gateway.wiring.policy import PolicyRuntime

logger = logging.getLogger("warden.policy")

#: The table whose commits reach every instance (warden/gateway/state/store.py notifies it).
TABLES = ("policy_published",)


def instance_name(control_port: int) -> str:
    return f"{socket.gethostname()}:{control_port}"


class FleetPolicy:
    def __init__(
        self,
        runtime: PolicyRuntime,
        store: PublishedPolicies,
        origin: str,
        *,
        publisher: bool,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self.runtime = runtime
        self.store = store
        self.origin = origin
        self.publisher = publisher
        self.metrics = metrics
        self._lock = threading.Lock()
        #: The newest serial this instance has looked at (taken or refused).
        self.serial = 0
        #: A local change the database did not take (it was down): published on reconnect.
        self._unpublished = False
        _, text = runtime.holder.in_force()
        #: The file's content as this instance last read it (SIGHUP publishes only changes).
        self._file_sha = document_sha256(text) if text is not None else ""
        runtime.fleet = self

    # -- follow ------------------------------------------------------------------------

    def follow(self) -> None:
        """Take the version in force (the listener's thread: on every notification of
        the table, and once after each (re)connection)."""
        with self._lock:
            if self._unpublished and self.publisher:
                self._publish_in_force()
            latest = self.store.latest()
            if latest is None:
                if self.publisher:  # the first instance of the fleet: its file is the policy
                    self._publish_in_force()
                return
            if latest.serial <= self.serial:
                return
            self.serial = latest.serial
            self._take(latest)

    def _take(self, latest: PublishedPolicy) -> None:
        compiled, text = self.runtime.holder.in_force()
        same = text is not None and document_sha256(text) == latest.document_sha256
        if same and compiled.version == latest.version:
            self._in_step(True)
            return
        problems = latest.problems()
        if problems:
            version = compiled.version
            result = ReloadResult(False, version, version, tuple(problems))
        else:
            result = self.runtime.holder.reload(latest.document, expect_version=latest.version)
        self.runtime.report(
            result, "fleet", {"serial": latest.serial, "published_by": latest.published_by[:200]}
        )
        if not result.ok:
            logger.error(
                "refused the fleet's policy #%d (%s, from %s); %s stays in force here",
                latest.serial,
                latest.version[:80],
                latest.published_by[:200],
                result.previous_version,
            )
            if self.metrics is not None:
                self.metrics.policy_fleet_refused.inc()
        self._in_step(result.ok)

    def _in_step(self, ok: bool) -> None:
        if self.metrics is not None:
            self.metrics.policy_fleet_in_step.set(1 if ok else 0)

    # -- publish -----------------------------------------------------------------------

    def published_locally(self, result: ReloadResult) -> None:
        """After this instance read its changed file (the watcher's thread or
        ``reload_file``) and found it valid: the fleet takes it, even when its version is
        the one in force here (the fleet may be on another one, or on one refused here)."""
        if not self.publisher or not result.ok:
            return
        with self._lock:
            self._publish_in_force()

    def _publish_in_force(self) -> None:
        compiled, text = self.runtime.holder.in_force()
        if text is None:
            return
        self._file_sha = document_sha256(text)
        try:
            serial = self.store.publish(compiled.version, text, time.time(), self.origin)
        except Exception as exc:  # the database is down: publish once it is back
            self._unpublished = True
            logger.error(
                "cannot publish policy %s to the fleet (%s); in force on this instance "
                "only, published when the state database is back",
                compiled.version,
                exc,
            )
            self._in_step(False)
            return
        self._unpublished = False
        if serial is not None:
            self.serial = max(self.serial, serial)
            logger.info("published policy %s to the fleet (#%d)", compiled.version, serial)
        self._in_step(True)

    def reload_file(self, path: Path) -> None:
        """SIGHUP: publish the file if its content changed since this instance read it;
        otherwise take the fleet's version again (a worker only does that)."""
        if self.publisher:
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                version = self.runtime.holder.get().version
                errors = (f"{path}: cannot read the policy file: {exc}",)
                self.runtime.report(ReloadResult(False, version, version, errors), "file", {})
                return
            if document_sha256(text) != self._file_sha:
                self._file_sha = document_sha256(text)
                result = self.runtime.holder.reload(text)
                self.runtime.report(result, "file", {})  # publishes through published_locally
                return
            logger.info("policy file unchanged since read: the fleet's version stays in force")
        with self._lock:
            self.serial = 0  # look again even at a version seen before
            latest = self.store.latest()
            if latest is not None:
                self.serial = latest.serial
                self._take(latest)
