"""Hot reload: an invalid document is refused whole; the watcher polls mtime/size."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from warden.policy.engine import decide
from warden.policy.holder import PolicyFileWatcher, PolicyHolder, ReloadResult
from warden.policy.loader import PolicyError

from .conftest import POLICY, api, who

GOOD_V2 = POLICY.replace(
    "{id: acme-api, match: {kind: api}, action: allow}",
    "{id: acme-api, match: {kind: api}, action: block}",
)
BAD = (
    POLICY.replace("action: redact, dlp_profile: pii-strict", "action: redact, dlp_profile: nope")
    + "  extra: {bogus: 1}\n"
)


def test_reload_refuses_invalid_document_whole() -> None:
    holder = PolicyHolder.from_text(POLICY)
    before = holder.get()
    result = holder.reload(BAD)
    assert not result.ok and not result.changed
    assert holder.get() is before
    assert result.version == result.previous_version == before.version
    assert any("extra.bogus" in e for e in result.errors)
    assert decide(holder.get(), who(), api()).action == "allow"


def test_reload_valid_document() -> None:
    holder = PolicyHolder.from_text(POLICY)
    result = holder.reload(GOOD_V2)
    assert result.ok and result.changed and result.version != result.previous_version
    assert decide(holder.current, who(), api()).action == "block"
    assert holder.reload(GOOD_V2).changed is False


def test_reload_keeps_the_validation_context() -> None:
    holder = PolicyHolder.from_text(POLICY, known_tenants={"acme", "open", "plain"})
    result = holder.reload(POLICY + "  newcomer: {}\n")
    assert not result.ok and [i.code for i in result.issues] == ["unknown-tenant"]


def test_from_text_raises_with_every_issue() -> None:
    with pytest.raises(PolicyError) as exc:
        PolicyHolder.from_text(BAD)
    assert len(exc.value.issues) == 1  # structure first; references once it holds


def test_watcher_reloads_on_change_and_refuses_bad(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    holder = PolicyHolder.from_text(POLICY)
    results: list[ReloadResult] = []
    seen = threading.Event()

    def on_result(r: ReloadResult) -> None:
        results.append(r)
        seen.set()

    watcher = PolicyFileWatcher(path, holder, on_result, interval_s=0.02)
    watcher.start()
    try:
        path.write_text(GOOD_V2)
        assert seen.wait(5)
        first = results[-1]
        assert first.ok and decide(holder.get(), who(), api()).action == "block"
        seen.clear()
        v2 = holder.get().version
        path.write_text(BAD)
        assert seen.wait(5)
        second = results[-1]
        assert not second.ok and holder.get().version == v2
    finally:
        watcher.stop()
    assert watcher._thread is None


def test_check_now_without_change_does_nothing(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    watcher = PolicyFileWatcher(path, PolicyHolder.from_text(POLICY))
    assert watcher.check_now() is None
    time.sleep(0.01)
    path.write_text(POLICY + "\n# touched\n")
    result = watcher.check_now()
    assert result is not None and result.ok and not result.changed


def test_missing_file_is_reported_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    holder = PolicyHolder.from_text(POLICY)
    watcher = PolicyFileWatcher(path, holder)
    path.unlink()
    result = watcher.check_now()
    assert result is not None and not result.ok and "cannot read" in result.errors[0]
