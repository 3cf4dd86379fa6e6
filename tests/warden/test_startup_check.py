"""The start-up error check stops a gateway whose start-up logged an error, and leaves
mitmproxy's addon chain once start-up is over (no per-hook visit for every flow)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from mitmproxy import options
from mitmproxy.master import Master

from warden.gateway.startup_check import StartupErrorCheck


class _OnRunning:
    """Logs ``error`` (if any) when the master is running, then asks it to stop."""

    def __init__(self, master: Master, error: str | None) -> None:
        self.master = master
        self.error = error
        self.chain_while_running: list[object] = []

    def running(self) -> None:
        self.chain_while_running = list(self.master.addons.chain)
        if self.error:
            logging.getLogger("test").error(self.error)
        asyncio.get_running_loop().call_soon(self.master.shutdown)


def _master(error: str | None) -> tuple[Master, StartupErrorCheck, _OnRunning]:
    master = Master(options.Options(), with_termlog=False)
    check = StartupErrorCheck(master.addons)
    probe = _OnRunning(master, error)
    master.addons.add(probe, check)
    return master, check, probe


async def test_leaves_the_chain_after_a_clean_start() -> None:
    master, check, probe = _master(None)
    await master.run()
    assert check in probe.chain_while_running  # it watched the start-up
    assert check not in master.addons.chain
    assert master.addons.get("errorcheck") is None


async def test_an_error_during_start_up_still_stops_the_gateway(
    capsys: pytest.CaptureFixture[str],
) -> None:
    master, check, _ = _master("HTTP(S) proxy failed to listen on 127.0.0.1:1")
    with pytest.raises(SystemExit) as stopped:
        await master.run()
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert "failed to listen on 127.0.0.1:1" in err
    assert "proxy.listen.port" in err  # names the config key, not mitmproxy's flag
    check.finish()  # the master does not after an exit: take its log handler off the root


async def test_other_start_up_errors_get_no_listen_hint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    master, check, _ = _master("cannot read the CA")
    with pytest.raises(SystemExit):
        await master.run()
    err = capsys.readouterr().err
    assert "cannot read the CA" in err
    assert "proxy.listen.port" not in err
    check.finish()
