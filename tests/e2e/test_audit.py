"""The audit trail end to end: flows through the gateway land in the hash-chained SQLite
log and at a real rsyslog, ``warden audit verify`` passes, and a SIGKILL under load loses
no record of a flow whose answer the client saw."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.audit.rsyslog import Rsyslog, free_port, payload
from tests.peers import UNSAFE_ENV, WARDEN, Aimock, WardenProcess, wait_until
from warden.cli.doctor.ports import _gateway_health
from warden.config import load_config

pytestmark = pytest.mark.e2e

CHAT = "https://api.openai.com/v1/chat/completions"


def body(prompt: str, stream: bool = False) -> dict[str, Any]:
    return {
        "model": "gpt-4o-mini",
        "stream": stream,
        "messages": [{"role": "user", "content": prompt}],
    }


def warden_cli(w: WardenProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return w.cli(*args)


def exported(w: WardenProcess) -> list[dict[str, Any]]:
    return w.audit_records()


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rsyslog]:
    with Rsyslog(tmp_path_factory.mktemp("rsyslog"), tcp_port=free_port()) as peer:
        yield peer


@pytest.fixture(scope="module")
def audited(
    aimock: Aimock, collector: Rsyslog, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WardenProcess]:
    w = WardenProcess(
        tmp_path_factory.mktemp("audited"),
        {
            "unsafe_testing": {"route_catalog_hosts_to": aimock.url},
            "catalog": {"unsanctioned": [{"host": "*.deepseek.com", "reason": "not approved"}]},
            "audit": {
                "syslog": {"transport": "tcp", "host": "127.0.0.1", "port": collector.tcp_port},
                "checkpoints": {"every_records": 5, "every_seconds": 1},
            },
        },
        env=UNSAFE_ENV,
    )
    w.start()
    yield w
    w.stop()


def test_flows_are_recorded_verified_and_shipped(
    audited: WardenProcess, collector: Rsyslog
) -> None:
    rid = f"req-{uuid.uuid4().hex}"
    with audited.http_client(20) as c:
        r = c.post(
            CHAT,
            json=body("hello warden"),
            headers={"X-Request-Id": rid, "Authorization": "Bearer sk-x"},
        )
        assert r.status_code == 200
        with c.stream("POST", CHAT, json=body("stream please", stream=True)) as s:
            assert b"".join(s.iter_bytes()).count(b"data:") > 3
    with pytest.raises(httpx.ProxyError), audited.http_client(20) as c:
        c.get("https://chat.deepseek.com/")
    time.sleep(0.3)
    records = exported(audited)
    plain = [
        r for r in records if r["kind"] == "flow" and r["details"].get("upstream_request_id") == rid
    ]
    assert len(plain) == 1
    rec = plain[0]
    assert rec["outcome"] == "allowed" and rec["status"] == 200 and rec["tenant"] == "_system"
    assert rec["destination"] == {
        "provider": "openai",
        "service": "openai",
        "host": "api.openai.com",
        "api_kind": "api",
        "api": "openai.chat_completions",
        "model": "gpt-4o-mini",
    }
    assert rec["usage"]["tokens_in"] > 0 and rec["usage"]["tokens_out"] > 0
    assert rec["principal"]["client_addr"] == "127.0.0.1"
    assert "hello warden" not in json.dumps(records)  # prompts are not stored by default
    # A streamed flow: a record before the first byte, a second when the stream ends.
    ends = [r for r in records if r["details"].get("phase") == "stream_end"]
    assert ends and ends[-1]["details"]["flow_record"] in {r["record_id"] for r in records}
    assert any(
        r["outcome"] == "refused_host" and r["destination"]["host"] == "chat.deepseek.com"
        for r in records
    )
    assert any(r["kind"] == "admin" and r["event"] == "gateway.started" for r in records)

    verified = warden_cli(audited, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "OK: every chain verifies" in verified.stdout

    # The same records reached rsyslog, as RFC 5424 with our structured data.
    ids = {r["record_id"] for r in records}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        shipped = {
            payload(m).get("record_id") for m in collector.messages() if m.get("msgid") == "flow"
        }
        if rec["record_id"] in shipped:
            break
        time.sleep(0.1)
    msgs = [m for m in collector.messages() if m.get("msgid") == "flow"]
    assert rec["record_id"] in {payload(m)["record_id"] for m in msgs}
    assert all(m["app-name"] == "egress-warden" for m in msgs)
    assert {payload(m)["record_id"] for m in msgs} <= ids
    assert any(m.get("msgid") == "checkpoint" for m in collector.wait_for(len(msgs) + 1, 5))


def test_crafted_model_names_cannot_keep_a_flow_out_of_the_trail(
    audited: WardenProcess,
) -> None:
    # The client chooses the model name. Names the record schema refuses (control
    # characters, a lone surrogate, over-long text) once made the record invalid, and the
    # answer went out unrecorded. Now the name is fitted to the schema and recorded.
    hostile = {"control": "\u001b[2J\nmini", "surrogate": "\ud800", "long": "m" * 400}
    marks = {case: f"{case}-{uuid.uuid4().hex}-" for case in hostile}
    with audited.http_client(20) as c:
        for case, tail in hostile.items():
            raw = json.dumps({**body("hello warden"), "model": marks[case] + tail})
            r = c.post(CHAT, content=raw.encode(), headers={"Content-Type": "application/json"})
            assert r.status_code == 200, (case, r.text)
    records = [r for r in exported(audited) if r["kind"] == "flow"]
    for case, mark in marks.items():
        mine = [r for r in records if (r["destination"]["model"] or "").startswith(mark)]
        # one record before the request left, one with its answer, naming the first
        assert [r["details"].get("phase") for r in mine] == ["request", None], case
        assert mine[1]["details"]["flow_record"] == mine[0]["record_id"]
        for rec in mine:
            model = rec["destination"]["model"]
            assert len(model) <= 256 and model.isprintable()
    verified = warden_cli(audited, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_tampering_is_caught_by_verify(audited: WardenProcess, tmp_path: Path) -> None:
    import shutil
    import sqlite3

    copy = tmp_path / "state"
    # not the audit writer's socket (the supervisor's workers reach it there)
    shutil.copytree(
        audited.workdir / "state" / "audit", copy / "audit", ignore=shutil.ignore_patterns("*.sock")
    )
    cfg = tmp_path / "w.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\n")
    conn = sqlite3.connect(copy / "audit" / "audit.db")
    triggers = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")]
    for t in triggers:
        conn.execute(f"DROP TRIGGER {t}")
    seq, raw = conn.execute(
        "SELECT seq, body FROM records WHERE kind='flow' AND instr(body, '\"status\":200') > 0"
        " ORDER BY seq LIMIT 1"
    ).fetchone()
    conn.execute(
        "UPDATE records SET body = ? WHERE seq = ?",
        (raw.replace('"status":200', '"status":201'), seq),
    )
    conn.commit()
    conn.close()
    out = subprocess.run(
        [str(WARDEN), "--config", str(cfg), "audit", "verify"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert "FAILED: 1 finding(s)" in out.stdout and f"edited seq {seq} " in out.stdout


def test_sigkill_under_load_loses_no_answered_flow(aimock: Aimock, tmp_path: Path) -> None:
    w = WardenProcess(
        tmp_path, {"unsafe_testing": {"route_catalog_hosts_to": aimock.url}}, env=UNSAFE_ENV
    )
    w.start()
    answered: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def load() -> None:
        try:
            with w.http_client(20) as c:
                while not stop.is_set():
                    rid = f"kill-{uuid.uuid4().hex}"
                    try:
                        r = c.post(CHAT, json=body("hello warden"), headers={"X-Request-Id": rid})
                    except httpx.HTTPError:
                        return
                    if r.status_code == 200:
                        with lock:
                            answered.append(rid)
        except httpx.HTTPError:
            return

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while len(answered) < 150 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert w.proc is not None
    os.kill(w.proc.pid, signal.SIGKILL)
    w.proc.wait(10)
    stop.set()
    for t in threads:
        t.join(10)
    with lock:
        seen = list(answered)
    assert len(seen) >= 150
    recorded = {r["details"].get("upstream_request_id") for r in exported(w)}
    missing = [rid for rid in seen if rid not in recorded]
    assert not missing, f"{len(missing)} answered flows have no record"
    verified = warden_cli(w, "audit", "verify")
    assert verified.returncode == 0, verified.stdout


def test_retention_purges_old_records_and_the_chain_still_verifies(tmp_path: Path) -> None:
    """Retention through the gateway's own code path (``AuditTrail.purge_expired``, with a
    per-tenant override) on a real audit database written 90 days ago and today: old
    records go, the rest verifies from the new anchor, the other tenant keeps everything."""
    import datetime

    from warden.audit import (
        AuditLog,
        AuditRecord,
        CheckpointSigner,
        format_ts,
        load_or_create_signing_key,
        load_public_key,
        verify,
    )
    from warden.config.audit import AuditSettings
    from warden.gateway.wiring.audit import AuditTrail

    signer = CheckpointSigner(load_or_create_signing_key(tmp_path))
    log = AuditLog.open(tmp_path / "audit.db")
    now = datetime.datetime.now(datetime.UTC)
    for when in (now - datetime.timedelta(days=90), now):
        for tenant in ("acme", "globex"):
            log.append(
                [
                    AuditRecord.new(
                        kind="admin", tenant=tenant, outcome="ok", event="test.write", now=when
                    )
                    for _ in range(3)
                ]
            )
        log.add_checkpoints(signer, ["acme", "globex"], format_ts(when))
    log.close()
    trail = AuditTrail(
        AuditSettings(retention_days=365), tmp_path, tenant_retention_days={"acme": 30}
    )
    removed = trail.purge_expired(now)
    assert removed == {"acme": 3, "globex": 0}
    report = verify(tmp_path / "audit.db", load_public_key(tmp_path / "audit-signing.pub"))
    assert report.ok, report.describe()


def _writer_pid(w: WardenProcess) -> int:
    assert w.proc is not None
    children = Path(f"/proc/{w.proc.pid}/task/{w.proc.pid}/children").read_text().split()
    for pid in children:
        if b"warden.audit.writer_process" in Path(f"/proc/{pid}/cmdline").read_bytes():
            return int(pid)
    raise AssertionError(f"no audit writer among the gateway's children {children}")


def test_a_killed_audit_writer_refuses_flows_until_it_is_back(
    aimock: Aimock, tmp_path: Path
) -> None:
    w = WardenProcess(
        tmp_path, {"unsafe_testing": {"route_catalog_hosts_to": aimock.url}}, env=UNSAFE_ENV
    )
    w.start()
    try:
        answered: list[str] = []
        refused: list[dict[str, Any]] = []
        with w.http_client(20) as c:

            def ask() -> int:
                rid = f"writer-{uuid.uuid4().hex}"
                r = c.post(CHAT, json=body("hello warden"), headers={"X-Request-Id": rid})
                if r.status_code == 200:
                    answered.append(rid)
                else:
                    refused.append(r.json())
                return r.status_code

            # doctor is imported at the top: importing it here took ~3 s under load, longer
            # than the outage
            config = load_config(w.config_path, env=UNSAFE_ENV)
            assert ask() == 200
            first = _writer_pid(w)
            os.kill(first, signal.SIGKILL)
            time.sleep(0.3)
            # The outage lasts about a second (the writer is started again by itself): what
            # is read during it is read first, and at once.
            health = httpx.get(f"{w.control_url}/healthz", timeout=5)
            seen = _gateway_health(config, 5)  # warden doctor's view of the running gateway
            metrics = w.metrics(by_worker=True)  # the control plane's own series
            assert ask() == 503  # refused, not sent unrecorded
            assert refused[-1]["error"]["code"] == "warden_audit_unavailable"
            assert health.status_code == 503
            assert "audit writer" in health.json()["failing"]["audit_writer"]
            assert seen is not None and "audit writer" in seen[1]
            assert re.search(r'^warden_audit_writer_up(\{worker="control"\})? 0\.0$', metrics, re.M)
            # back after about a second, by itself
            deadline = time.monotonic() + 15
            while httpx.get(f"{w.control_url}/healthz", timeout=5).status_code != 200:
                assert time.monotonic() < deadline, "the audit writer did not come back"
                time.sleep(0.2)
            assert _writer_pid(w) != first
            # the proxy worker connects to the new writer a moment later (it looks every
            # 0.2 s); bounded, generous for a loaded machine
            wait_until(lambda: ask() == 200, 15, "flows to pass again")
            metrics = w.metrics()
            assert "warden_audit_writer_up 1.0" in metrics
            assert "warden_audit_writer_restarts_total 1.0" in metrics
    finally:
        w.stop()
    recorded = {r["details"].get("upstream_request_id") for r in exported(w)}
    assert set(answered) <= recorded  # every answer the client saw has its record
    verified = warden_cli(w, "audit", "verify")
    assert verified.returncode == 0, verified.stdout
