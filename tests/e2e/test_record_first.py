"""No prompt leaves without its record: the record is committed before the request goes up.

The real gateway, its real audit writer process and aimock as the provider (aimock's
journal is what reached the provider). Two faults:

- A full disk. Filling a disk needs a filesystem of our own (tmpfs, a loop device), which
  needs privileges a CI runner does not have. Instead the test lowers the audit writer
  process's file-size limit (RLIMIT_FSIZE, with prlimit(2), which any user may do to their
  own processes): from then on the kernel refuses to grow the audit database's files
  (EFBIG; a full disk says ENOSPC) and SQLite fails the commit, as it does on a full disk.
  Lifting the limit is the disk getting room again. No code of ours is bent for the test.
- The audit writer process SIGKILLed under load.
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.peers import UNSAFE_ENV, Aimock, WardenProcess

pytestmark = pytest.mark.e2e

CHAT = "https://api.openai.com/v1/chat/completions"
MARK = re.compile(r"rf-[0-9a-f]{32}")


def ask_body(mark: str) -> dict[str, Any]:
    # The model name carries the mark: it is in what reaches aimock and in the record.
    return {"model": mark, "messages": [{"role": "user", "content": "hello warden"}]}


@pytest.fixture
def gateway(aimock: Aimock, tmp_path: Path) -> Iterator[WardenProcess]:
    w = WardenProcess(
        tmp_path, {"unsafe_testing": {"route_catalog_hosts_to": aimock.url}}, env=UNSAFE_ENV
    )
    w.start()
    yield w
    w.stop()


def writer_pid(w: WardenProcess) -> int:
    assert w.proc is not None
    children = Path(f"/proc/{w.proc.pid}/task/{w.proc.pid}/children").read_text().split()
    for pid in children:
        if b"warden.audit.writer_process" in Path(f"/proc/{pid}/cmdline").read_bytes():
            return int(pid)
    raise AssertionError(f"no audit writer among the gateway's children {children}")


def marks_upstream(aimock: Aimock) -> set[str]:
    return {m for entry in aimock.journal() for m in MARK.findall(json.dumps(entry))}


def request_records(w: WardenProcess) -> dict[str, dict[str, Any]]:
    """The records committed before a request left, by the mark in their model name."""
    return {
        r["destination"]["model"]: r
        for r in w.audit_records()
        if r["kind"] == "flow" and r["details"].get("phase") == "request"
    }


def health(w: WardenProcess) -> httpx.Response:
    return httpx.get(f"{w.control_url}/healthz", timeout=5)


def test_a_full_disk_lets_no_prompt_out_and_turns_health_red(
    gateway: WardenProcess, aimock: Aimock
) -> None:
    w = gateway
    with w.http_client() as c:
        ok = f"rf-{uuid.uuid4().hex}"
        assert c.post(CHAT, json=ask_body(ok)).status_code == 200
    assert health(w).status_code == 200
    pid = writer_pid(w)
    soft, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (1024, hard))  # "the disk is full"
    try:
        marks = [f"rf-{uuid.uuid4().hex}" for _ in range(40)]

        def ask(mark: str) -> httpx.Response:
            with w.http_client() as c:
                return c.post(CHAT, json=ask_body(mark))

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(ask, marks))
        assert [a.status_code for a in answers] == [503] * len(marks)
        error = answers[0].json()["error"]
        assert error["code"] == "warden_audit_unavailable"
        assert "was not sent" in error["message"] and answers[0].headers["retry-after"] == "30"
        assert not set(marks) & marks_upstream(aimock), "a prompt left without its record"
        red = health(w)
        assert red.status_code == 503
        assert "audit records cannot be written" in red.json()["failing"]["audit_writer"]
        assert w.proc is not None and w.proc.poll() is None
        assert writer_pid(w) == pid  # the writer lives: it is the disk that refuses
    finally:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))  # room again
    back = f"rf-{uuid.uuid4().hex}"
    with w.http_client() as c:
        assert c.post(CHAT, json=ask_body(back)).status_code == 200
    assert health(w).status_code == 200
    recorded = request_records(w)
    assert {ok, back} <= set(recorded) and not set(marks) & set(recorded)
    # The answer's record names the request's record.
    answer = [
        r
        for r in w.audit_records()
        if r["kind"] == "flow" and r["destination"]["model"] == back and r["status"] == 200
    ]
    assert [r["details"].get("flow_record") for r in answer] == [recorded[back]["record_id"]]
    assert "prompt" not in recorded[back]
    verified = w.cli("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_killed_writer_under_load_lets_no_prompt_out_unrecorded(
    gateway: WardenProcess, aimock: Aimock
) -> None:
    w = gateway
    answered: list[str] = []
    refused: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def load() -> None:
        with w.http_client() as c:
            while not stop.is_set():
                mark = f"rf-{uuid.uuid4().hex}"
                try:
                    r = c.post(CHAT, json=ask_body(mark))
                except httpx.HTTPError:
                    continue
                with lock:
                    (answered if r.status_code == 200 else refused).append(mark)

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 60
        while len(answered) < 60:
            assert time.monotonic() < deadline, "the load did not get going"
            time.sleep(0.05)
        first = writer_pid(w)
        os.kill(first, signal.SIGKILL)
        # The writer comes back by itself after about a second; the load goes on.
        deadline = time.monotonic() + 30
        while health(w).status_code != 200 or writer_pid(w) == first:
            assert time.monotonic() < deadline, "the audit writer did not come back"
            time.sleep(0.1)
        after = len(answered)
        deadline = time.monotonic() + 30
        while len(answered) < after + 30:
            assert time.monotonic() < deadline, "no answers after the writer came back"
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert refused, "the outage refused no flow: the kill did not happen under load"
    upstream = marks_upstream(aimock) & set(answered + refused)
    # Any record of the flow counts (the old code wrote one after the answer).
    recorded = {r["destination"]["model"] for r in w.audit_records() if r["kind"] == "flow"}
    missing = upstream - recorded
    assert not missing, f"{len(missing)} of {len(upstream)} prompts left without a record"
    assert set(answered) <= upstream
    verified = w.cli("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
