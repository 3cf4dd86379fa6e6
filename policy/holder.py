"""The policy in force: ``PolicyHolder`` swaps in a new document only when all of it is
valid, and ``PolicyFileWatcher`` reloads it when its file changes (polling, no inotify).

Readers call ``get()`` on every request: a plain attribute read of an immutable
``CompiledPolicy``, so a reload never pauses them.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from .engine import CompiledPolicy, compile_policy
from .loader import Issue, PolicyError, load_policy

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """``ok``: the new policy is in force (``version``). Otherwise ``errors`` say why and
    the previous policy (``previous_version``) stays in force."""

    ok: bool
    version: str
    previous_version: str
    errors: tuple[str, ...] = ()
    issues: tuple[Issue, ...] = ()

    @property
    def changed(self) -> bool:
        return self.ok and self.version != self.previous_version


class PolicyHolder:
    """Holds the current ``CompiledPolicy``; the validation context is kept for reloads."""

    def __init__(
        self,
        policy: CompiledPolicy,
        *,
        known_tenants: Collection[str] | None = None,
        known_departments: Mapping[str, Collection[str]] | None = None,
        known_dlp_profiles: Collection[str] | None = None,
    ) -> None:
        self._policy = policy
        #: The document text of the policy in force, when it came from text (a fleet
        #: publishes it: warden/gateway/wiring/policy_fleet.py).
        self._text: str | None = None
        self._lock = threading.Lock()
        self._context = {
            "known_tenants": known_tenants,
            "known_departments": known_departments,
            "known_dlp_profiles": known_dlp_profiles,
        }

    @classmethod
    def from_text(
        cls,
        text: str,
        *,
        known_tenants: Collection[str] | None = None,
        known_departments: Mapping[str, Collection[str]] | None = None,
        known_dlp_profiles: Collection[str] | None = None,
    ) -> PolicyHolder:
        """A holder for ``text``; ``PolicyError`` (every problem) if it is invalid."""
        doc = load_policy(
            text,
            known_tenants=known_tenants,
            known_departments=known_departments,
            known_dlp_profiles=known_dlp_profiles,
        )
        holder = cls(
            compile_policy(doc),
            known_tenants=known_tenants,
            known_departments=known_departments,
            known_dlp_profiles=known_dlp_profiles,
        )
        holder._text = text
        return holder

    def get(self) -> CompiledPolicy:
        return self._policy

    @property
    def current(self) -> CompiledPolicy:
        return self._policy

    def in_force(self) -> tuple[CompiledPolicy, str | None]:
        """The policy in force and its document text (None: not loaded from text), read
        together so that a concurrent reload cannot pair one with the other's."""
        with self._lock:
            return self._policy, self._text

    def reload(self, text: str, *, expect_version: str | None = None) -> ReloadResult:
        """Validate and compile ``text``; put it in force only if all of it is valid.

        ``expect_version``: the version its publisher computed (a fleet's instance taking
        another's document); a different reading here is refused too, since the audit
        records would name a version nobody published.
        """
        with self._lock:
            previous = self._policy.version
            try:
                doc = load_policy(text, **self._context)  # type: ignore[arg-type]
                compiled = compile_policy(doc)
            except PolicyError as exc:
                return ReloadResult(
                    False, previous, previous, tuple(map(str, exc.issues)), tuple(exc.issues)
                )
            if expect_version is not None and compiled.version != expect_version:
                return ReloadResult(
                    False,
                    previous,
                    previous,
                    (
                        f"this instance reads the document as {compiled.version}, its "
                        f"publisher as {expect_version}: run the same warden release on "
                        "every instance of the fleet",
                    ),
                )
            self._policy = compiled
            self._text = text
            return ReloadResult(True, compiled.version, previous)

    def reload_file(self, path: str | Path) -> ReloadResult:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            v = self._policy.version
            return ReloadResult(False, v, v, (f"{path}: cannot read the policy file: {exc}",))
        return self.reload(text)


class PolicyFileWatcher:
    """Reloads ``holder`` from ``path`` when the file's mtime, size or inode change.

    A daemon thread polls every ``interval_s``; ``on_result`` receives each reload's
    result (log it and audit it). ``stop()`` ends the thread; ``check_now()`` reloads if
    the file changed (for SIGHUP, call ``holder.reload_file`` to reload regardless).
    """

    def __init__(
        self,
        path: str | Path,
        holder: PolicyHolder,
        on_result: Callable[[ReloadResult], None] | None = None,
        interval_s: float = 2.0,
    ) -> None:
        self.path = Path(path)
        self._holder = holder
        self._on_result = on_result
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen = self._stat()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="policy-file-watcher", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def check_now(self) -> ReloadResult | None:
        """Reload if the file changed since last seen; the result, or ``None``."""
        seen = self._stat()
        if seen == self._seen:
            return None
        self._seen = seen
        result = self._holder.reload_file(self.path)
        if self._on_result is not None:
            self._on_result(result)
        return result

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.check_now()
            except Exception:  # a failing callback must not end the watcher
                _log.exception("policy reload from %s failed", self.path)

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)
