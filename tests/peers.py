"""Real peers for the tests: processes started on loopback, on free ports, stopped by PID.

Each peer is a real program (aimock, the gateway itself, ...) run as a subprocess; the
harness only starts it, waits until it answers, and stops it with SIGTERM (then SIGKILL).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
NODE_BIN = ROOT / "node_modules" / ".bin"
WARDEN = Path(sys.executable).parent / "warden"
UNSAFE_ENV = {"WARDEN_UNSAFE_TESTING": "route-llm-traffic-to-loopback"}
#: ``WARDEN_TEST_OWN_PROCESS=1``: every gateway a test starts runs with
#: ``control.own_process: true`` (the control plane apart from the proxy), to run a suite
#: written for the one-process default against the supervised layout.
OWN_PROCESS_ENV = "WARDEN_TEST_OWN_PROCESS"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    proc: subprocess.Popen[bytes] | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"{what}: the process exited with {proc.returncode} before it was ready"
            )
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{what} was not ready within {timeout} s")


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _number(value: float) -> str:
    return {float("inf"): "+Inf", float("-inf"): "-Inf"}.get(value, repr(float(value)))


def merged_over_workers(exposition: str) -> str:
    """A Prometheus exposition with the ``worker`` label merged away (counters summed,
    gauges the largest), one ``name{labels} value`` a line, as one process prints it."""
    from prometheus_client.parser import text_string_to_metric_families

    totals: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            labels = tuple((k, v) for k, v in sample.labels.items() if k != "worker")
            key = (sample.name, labels)
            if key not in totals:
                totals[key] = sample.value
            elif family.type == "gauge":  # a state (writer up, test routing on): any process
                totals[key] = max(totals[key], sample.value)
            else:
                totals[key] += sample.value
    lines = []
    for (name, labels), value in totals.items():
        inner = ",".join(f'{k}="{v}"' for k, v in labels)
        lines.append(f"{name}{{{inner}}} {_number(value)}" if inner else f"{name} {_number(value)}")
    return "\n".join(lines) + "\n"


@dataclass
class Peer:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            list(self.argv),
            env={**os.environ, **self.env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self, timeout: float = 10) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait()

    def log(self) -> str:
        return (
            self.log_path.read_text(errors="replace")
            if self.log_path and self.log_path.exists()
            else ""
        )


class Aimock(Peer):
    """The @copilotkit/aimock LLM mock: OpenAI and Anthropic APIs, with a request journal."""

    def __init__(self, fixtures: Path, log_path: Path) -> None:
        self.port = free_port()
        super().__init__(
            "aimock",
            [
                "node",
                str(NODE_BIN / "llmock"),
                "-p",
                str(self.port),
                "-f",
                str(fixtures),
                "--log-level",
                "warn",
            ],
            log_path=log_path,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        super().start()
        wait_until(lambda: port_open(self.port), 30, "aimock", self.proc)

    def journal(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/__aimock/journal", timeout=5) as r:
            data = json.load(r)
        return data if isinstance(data, list) else data.get("entries", data.get("requests", []))


class WardenProcess(Peer):
    """``warden run`` as a user runs it: its own process, a YAML config, a state folder."""

    #: How long ``start`` waits for /healthz. Generous: DLP workers that load Presidio and the NER model take several seconds
    #: each on a loaded 2-core CI machine; an event wait, so a healthy start is not slower.
    ready_timeout_s: float = 120

    def __init__(
        self,
        workdir: Path,
        config: dict[str, Any],
        env: Mapping[str, str] | None = None,
        *,
        workers: int = 1,
    ) -> None:
        """``workers`` above 1: ``proxy.workers``, a supervisor and that many proxy
        processes sharing the port (``self.proc`` is the supervisor)."""
        self.workdir = workdir
        self.proxy_port = free_port()
        self.control_port = free_port()
        config = {
            # Tests of the proxy itself run without sign-in; identity tests pass their own.
            "identity": {"mode": "off"},
            "state_dir": str(workdir / "state"),
            # The test bed's "other sites" run on loopback too.
            "proxy": {
                "listen": {"host": "127.0.0.1", "port": self.proxy_port},
                "allow_loopback_destinations": True,
                **({"workers": workers} if workers != 1 else {}),
            },
            "control": {"listen": {"host": "127.0.0.1", "port": self.control_port}},
            **config,
        }
        if os.environ.get(OWN_PROCESS_ENV) == "1":  # run a suite with the control plane apart
            config["control"] = {**config["control"], "own_process": True}
        self.config_path = workdir / "warden.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        super().__init__(
            "warden",
            [str(WARDEN), "--config", str(self.config_path), "run"],
            env=dict(env or {}),
            log_path=workdir / "warden.log",
        )

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def control_url(self) -> str:
        cfg = yaml.safe_load(self.config_path.read_text())
        scheme = "https" if (cfg.get("control") or {}).get("tls") else "http"
        return f"{scheme}://127.0.0.1:{self.control_port}"

    @property
    def ca_cert(self) -> Path:
        return self.workdir / "state" / "ca" / "mitmproxy-ca-cert.pem"

    @property
    def proxy_pids(self) -> list[int]:
        """The processes that run the proxy: the supervisor's workers (the default, and
        ``proxy.workers`` above 1), or ``warden run`` itself with
        ``control.own_process: false`` and one worker."""
        from tests.proctree import descendants

        if self.proc is None:
            return []
        workers = [
            pid
            for pid, argv in descendants(self.proc.pid).items()
            if "warden.gateway.supervisor" in argv and "--worker-id" in argv
        ]
        return sorted(workers) or [self.proc.pid]

    def start(self) -> None:
        super().start()

        def healthy() -> bool:
            ctx = (
                ssl.create_default_context(cafile=str(self.ca_cert))
                if self.ca_cert.exists()
                else None
            )
            with urllib.request.urlopen(f"{self.control_url}/healthz", timeout=1, context=ctx) as r:
                return r.status == 200 and port_open(self.proxy_port)

        try:
            # Returns as soon as the gateway is healthy; the bound only says when a start
            # that never completes is reported (see ``ready_timeout_s``).
            wait_until(healthy, self.ready_timeout_s, "warden", self.proc)
        except (TimeoutError, RuntimeError) as exc:
            self.stop()
            raise RuntimeError(f"{exc}\n--- warden log ---\n{self.log()}") from None

    def http_client(self, timeout: float = 30) -> httpx.Client:
        """An httpx client that goes through this gateway's proxy and trusts its CA (and
        ignores any proxy in the test's own environment)."""
        return httpx.Client(
            proxy=self.proxy_url,
            verify=ssl.create_default_context(cafile=str(self.ca_cert)),
            timeout=timeout,
            trust_env=False,
        )

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """`warden --config <this gateway's config> ARGS`, with the test bed's consent."""
        return subprocess.run(
            [str(WARDEN), "--config", str(self.config_path), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **UNSAFE_ENV, **self.env},
        )

    def audit_records(self, tenant: str | None = None) -> list[dict[str, Any]]:
        """Every audit record as `warden audit export` gives it (the plain record dicts)."""
        out = self.cli(
            "audit", "export", "--format", "jsonl", *(["--tenant", tenant] if tenant else [])
        )
        assert out.returncode == 0, out.stderr
        return [json.loads(line)["record"] for line in out.stdout.splitlines()]

    def metrics(self, by_worker: bool = False) -> str:
        """``/metrics`` as one gateway's figures, whatever its processes: with a supervisor
        (the default) every sample is labelled ``worker`` and each worker writes its
        figures every 2 s, so this waits until each has written since the call (bounded)
        and merges the samples over ``worker`` (`merged_over_workers`). ``by_worker``:
        the exposition as served, at once."""
        if by_worker:
            with urllib.request.urlopen(f"{self.control_url}/metrics", timeout=5) as r:
                return str(r.read().decode())
        since = time.time()
        run = Path(yaml.safe_load(self.config_path.read_text())["state_dir"]) / "run"
        files = list(run.glob("metrics-*.prom")) if self.proxy_pids != [self.pid] else []

        def fresh() -> bool:
            return all(f.stat().st_mtime > since for f in files)

        if files:
            wait_until(fresh, 30, "the workers' metrics", self.proc)
        with urllib.request.urlopen(f"{self.control_url}/metrics", timeout=5) as r:
            text = str(r.read().decode())
        return merged_over_workers(text) if files else text

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else 0
