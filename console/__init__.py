"""console: the Textual review app — flows, detail, sessions, integrity, summary, export.

Entry point: `run_console` (``warden console``). The reviewer's `ReviewerScope` limits
every query and action to their tenants. The audit and state databases are opened
read-only; revocations go to the running gateway's control plane.
"""

from .app import ConsoleApp, build_app, run_console
from .db import ConsoleDataError
from .scope import OutOfScope, ReviewerScope

__all__ = [
    "ConsoleApp",
    "ConsoleDataError",
    "OutOfScope",
    "ReviewerScope",
    "build_app",
    "run_console",
]
