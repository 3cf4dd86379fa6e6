"""What every part of the employee's client shares: its error, its clock, its constants."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

WELL_KNOWN_URL = "http://warden.internal/.well-known/egress-warden"
DEFAULT_INTERVAL_S = 5.0  # RFC 8628 §3.2: when the server gives no interval
SLOW_DOWN_S = 5.0  # RFC 8628 §3.5: slow_down adds 5 s to this and every later poll
MIN_INTERVAL_S = 1.0
DEFAULT_EXPIRES_S = 600.0
MAX_BACKOFF_S = 60.0
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
CREDENTIALS_FILE = "credentials.json"
CA_FILE = "ca.pem"
BUNDLE_FILE = "ca-bundle.pem"  # the system's CAs plus the gateway's
ENV_FILE_MARKER = "# Egress Warden proxy settings, written by `warden login`"


class LoginError(Exception):
    """A failure the user can act on: the message names the cause and the fix."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Clock:
    """Monotonic time and sleep for the polling loop, wall time for showing expiries."""

    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    wall: Callable[[], float] = time.time
