"""The gateway's life as an operator's supervisor sees it (issue 19, 9).

- ``/healthz`` answers 503 ``starting`` until the proxy port listens: a load balancer or
  systemd that trusts a 200 must find a proxy behind it. DLP is configured, so start-up
  spends seconds importing Presidio in the workers, with the control plane already up.
- When the gateway is killed (SIGKILL: no handler runs), its child processes, the DLP
  workers and the audit writer, die with it instead of living on under PID 1.
- With ``control.own_process`` the proxy runs in a worker process of its own and the
  control plane (the portal) in the supervisor's (issue 19, 7: portal load off the proxy's
  event loop); by default the gateway is one process.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.peers import Peer, WardenProcess, port_open, wait_until
from tests.proctree import alive as _alive
from tests.proctree import descendants as _children

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def _health(port: int) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def test_healthz_says_starting_until_the_proxy_listens_and_children_die_with_it(
    tmp_path: Path,
) -> None:
    w = WardenProcess(tmp_path, {})
    cfg = yaml.safe_load(w.config_path.read_text())
    cfg["dlp"] = {"profiles_file": str(ROOT / "packaging" / "demo" / "dlp-profiles.yaml")}
    cfg["dlp"]["workers"] = 1
    w.config_path.write_text(yaml.safe_dump(cfg))
    Peer.start(w)  # not WardenProcess.start: this test watches the start itself
    assert w.proc is not None
    children: dict[int, str] = {}
    try:
        answers: list[tuple[int, str]] = []

        def ready() -> bool:
            status, body = _health(w.control_port)
            # A 200 promises a proxy: the port must already accept connections.
            answers.append((status, str(body.get("status"))))
            if status == 200:
                assert port_open(w.proxy_port), "healthz said 200 before the proxy listened"
                return True
            assert status == 503 and body["status"] == "starting", body
            return False

        # Generous: the worker imports Presidio and spaCy (seconds; more on a busy CI).
        wait_until(ready, 120, "a healthy gateway", w.proc)
        starting = [a for a in answers if a[0] == 503]
        assert all(s == "starting" for _, s in starting)
        children = _children(w.proc.pid)
        kinds = " ".join(children.values())
        assert "warden.audit.writer_process" in kinds and "multiprocessing" in kinds, children
        assert "warden.gateway.supervisor" not in kinds, children  # the default: one process
        assert w.proxy_pids == [w.proc.pid]

        w.proc.send_signal(signal.SIGKILL)  # the gateway alone, not its process group
        w.proc.wait(30)
        wait_until(
            lambda: not any(_alive(pid) for pid in children),
            60,  # generous: PR_SET_PDEATHSIG acts at once; a busy CI may delay the exit
            "the gateway's children to exit",
        )
    finally:
        if w.proc.poll() is None:
            os.killpg(w.proc.pid, signal.SIGKILL)
        for pid in children:  # leave nothing behind when the test fails
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0)


def test_with_own_process_the_portal_runs_beside_the_proxy(tmp_path: Path) -> None:
    w = WardenProcess(tmp_path, {})
    cfg = yaml.safe_load(w.config_path.read_text())
    cfg["control"]["own_process"] = True
    w.config_path.write_text(yaml.safe_dump(cfg))
    w.start()
    try:
        assert w.proc is not None
        kinds = " ".join(_children(w.proc.pid).values())
        assert "warden.audit.writer_process" in kinds
        assert "warden.gateway.supervisor" in kinds and "--worker-id 1" in kinds, kinds
        (worker,) = w.proxy_pids
        assert worker != w.proc.pid  # the proxy's loop is not the portal's
        assert _health(w.control_port)[0] == 200 and port_open(w.proxy_port)
        w.proc.send_signal(signal.SIGINT)
        assert w.proc.wait(60) == 0, w.log()
        assert "Traceback" not in w.log()
    finally:
        w.stop()
