"""Child processes die with the gateway: the parent-death signal, set in the child.

A gateway killed with SIGKILL runs no clean-up, so its children (the DLP workers, the
audit writer) would live on under PID 1, holding memory, the audit database and its key.
Linux's ``prctl(PR_SET_PDEATHSIG)`` has the kernel signal the child when its parent dies.
Two details make it hold:

- the signal is tied to the thread that created the child; the gateway starts its
  children from the event loop's thread, which lives as long as the process;
- a parent that died before the child set the signal is caught by comparing the parent
  id with the one the parent gave, after setting it.

Elsewhere than Linux it does nothing (the pipes' end still stops the audit writer).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent_pid: int, sig: signal.Signals = signal.SIGKILL) -> None:
    """Call first thing in a child: ``sig`` arrives when ``parent_pid`` dies."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG) failed: %s", os.strerror(ctypes.get_errno()))
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)
