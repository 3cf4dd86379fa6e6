"""StartupErrorCheck: stop the gateway when start-up logs an error, then leave the chain.

mitmproxy's ``ErrorCheck`` watches the log while the master starts (a proxy port that is
taken, an unreadable CA) and exits with the errors on stderr. After start-up it has
nothing left to do, yet mitmproxy still visits it on every hook of every flow, as it
visits every addon in its chain: about 2.7 µs per hook, some 10 µs per request, ~1.5% of
the gateway's throughput (bench/proxy.py). This one removes itself from the chain once
the master has finished its last start-up check, and names the config key to change
when the proxy cannot listen (mitmproxy's own hint is a command-line flag warden lacks).
"""

from __future__ import annotations

import sys

from mitmproxy.addonmanager import AddonManager
from mitmproxy.addons import errorcheck

LISTEN_HINT = (
    "warden: the proxy could not listen on its address. Stop what uses that port or "
    "change proxy.listen.port (or proxy.listen.host) in the config."
)


class StartupErrorCheck(errorcheck.ErrorCheck):
    #: The master finds its start-up check by this name.
    name = "errorcheck"

    def __init__(self, addons: AddonManager) -> None:
        super().__init__(repeat_errors_on_stderr=True)
        self._addons = addons

    async def shutdown_if_errored(self) -> None:
        try:
            await super().shutdown_if_errored()  # type: ignore[no-untyped-call]  # prints, exits
        except SystemExit:
            if any("failed to listen" in r.getMessage() for r in self.logger.has_errored):
                print(LISTEN_HINT, file=sys.stderr)
            raise

    def finish(self) -> None:
        # The master calls this once, after its last start-up check and outside any hook
        # dispatch (remove() builds a new chain list, so a dispatch under way is unharmed).
        super().finish()  # type: ignore[no-untyped-call]
        self._addons.remove(self)
