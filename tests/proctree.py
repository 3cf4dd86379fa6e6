"""A process tree of the test bed, from /proc (Linux): who descends from whom, who is alive."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path


def descendants(pid: int) -> dict[int, str]:
    """Every live descendant of ``pid``: pid -> command line."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found[child] = cmdline(child)
                frontier.append(child)
    return found


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper that never comes counts as gone)."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@contextlib.contextmanager
def frozen(pid: int) -> Iterator[list[int]]:
    """``pid`` and every descendant stopped with SIGSTOP (a paused VM, a stuck host), and
    resumed with SIGCONT on leaving, the descendants before ``pid``.

    A process that ends meanwhile needs no signal and is skipped: a PostgreSQL backend
    that exits as it is listed stays a zombie while its stopped parent cannot reap it,
    and is gone once the parent resumes (a clean-clone CI run failed on ESRCH there).
    ``pid`` is stopped first, so it starts no child that would escape the freeze."""
    stopped = [pid]
    os.kill(pid, signal.SIGSTOP)
    try:
        for child in descendants(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGSTOP)
                stopped.append(child)
        yield stopped
    finally:
        for each in reversed(stopped):
            with contextlib.suppress(ProcessLookupError):
                os.kill(each, signal.SIGCONT)
