"""Audit messages at a real collector: rsyslogd over UDP, TCP and TLS, outages, spool bound.

Each test runs its own rsyslogd (tests/audit/rsyslog.py) and asserts what rsyslog parsed:
PRI, app-name, msgid, STRUCTURED-DATA (via mmpstrucdata) and the JSON payload.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.audit.rsyslog import (
    MISSING,
    Rsyslog,
    TlsFiles,
    available,
    free_port,
    make_tls_files,
    payload,
    structured_data,
)
from warden.audit.spool import Spool
from warden.audit.syslog import ShipperLimits, SyslogShipper
from warden.audit.syslog_format import Facility, Severity, SyslogFormatter
from warden.audit.syslog_transport import TransportKind, open_transport


@pytest.fixture(autouse=True)
def _rsyslog_installed() -> None:
    # Like aimock in tests/conftest.py: a missing peer is an error, not a silent skip.
    if not available():
        pytest.fail(MISSING)


FAST = ShipperLimits(backoff_initial=0.05, backoff_max=0.2, ack_timeout=3.0, idle_interval=0.01)
FORMAT = SyslogFormatter(hostname="gw1.example", procid="4242", facility=Facility.LOCAL4)
SD = "warden@32473"


def flow(n: int, outcome: str = "allowed", **extra: Any) -> dict[str, Any]:
    """A record in the shape of `AuditRecord.to_dict()`."""
    return {
        "v": 1,
        "record_id": f"rec-{n:05d}",
        "ts": "2025-01-31T12:00:00.123Z",
        "kind": "flow",
        "tenant": "acme",
        "outcome": outcome,
        "status": 200,
        "event": None,
        "principal": {
            "issuer": "https://idp.example",
            "subject": "u-1",
            "email": "ann@example.com",
            "department": "finance",
            "groups": ["staff"],
            "auth_method": "oidc",
            "session_id": "s-1",
            "client_addr": "10.0.0.7",
        },
        "destination": {
            "provider": "openai",
            "service": "openai-api",
            "host": "api.openai.com",
            "api_kind": "api",
            "api": "chat.completions",
            "model": "gpt-4o",
        },
        "decision": {"action": "allow", "rule_id": "r1", "policy_version": "v3", "reason": None},
        "findings": [{"entity_type": "EMAIL_ADDRESS", "count": 2, "segment": 0}],
        "usage": {"tokens_in": 10, "tokens_out": 20, "estimated": False},
        "timing": {
            "started_at": "2025-01-31T12:00:00.100Z",
            "upstream_latency_ms": 5,
            "ttfb_ms": 7,
            "total_ms": 23,
        },
        "details": {},
    } | extra


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def collector(tmp_path: Path, tls_files: TlsFiles) -> Iterator[Rsyslog]:
    with Rsyslog(tmp_path / "rsyslog", tls=tls_files) as peer:
        yield peer


def make_shipper(
    kind: TransportKind,
    port: int,
    folder: Path,
    *,
    ca: Path | None = None,
    server_name: str | None = None,
    max_bytes: int = 1 << 20,
    limits: ShipperLimits = FAST,
    max_datagram: int = 8192,
) -> SyslogShipper:
    transport = open_transport(
        kind, "127.0.0.1", port, ca_file=ca, server_name=server_name, max_datagram=max_datagram
    )
    spool = Spool(folder / "spool", max_bytes=max_bytes, segment_bytes=64 * 1024)
    return SyslogShipper(transport, spool, alarm=FORMAT.spool_full_alarm, limits=limits)


def port_of(collector: Rsyslog, kind: TransportKind) -> int:
    return {"udp": collector.udp_port, "tcp": collector.tcp_port, "tls": collector.tls_port}[kind]


async def until(predicate: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def wait_messages(collector: Rsyslog, count: int, within: float = 10.0) -> list[dict]:
    """Poll rsyslog's output file until ``count`` messages are there or time runs out."""
    deadline = time.monotonic() + within
    while True:
        got = collector.messages()
        if len(got) >= count or time.monotonic() >= deadline:
            return got
        await asyncio.sleep(0.02)


def record_ids(messages: list[dict]) -> list[str]:
    return [structured_data(m)[SD]["record_id"] for m in messages]


@pytest.mark.parametrize("kind", ["udp", "tcp", "tls"])
async def test_fields_as_rsyslog_parsed_them(
    kind: TransportKind, collector: Rsyslog, tls_files: TlsFiles, tmp_path: Path
) -> None:
    shipper = make_shipper(
        kind, port_of(collector, kind), tmp_path, ca=tls_files.ca, server_name="collector.test"
    )
    await shipper.start()
    blocked = flow(
        1,
        "blocked",
        decision={
            "action": "block",
            "rule_id": "r9",
            "policy_version": "v3",
            "reason": 'no "PII"] here',
        },
    )
    login = {
        "record_id": "auth-1",
        "ts": "2025-01-31T12:00:01.000Z",
        "kind": "auth",
        "tenant": "acme",
        "outcome": "ok",
        "event": "login.ok",
    }
    checkpoint = {
        "tenant": "acme",
        "tenant_seq": 1000,
        "head_hash": "ab" * 32,
        "ts": "2025-01-31T12:00:10.000Z",
        "signature": "c2lnbmF0dXJl",
        "key_id": "k1",
    }
    for record in (blocked, login, checkpoint):
        shipper.offer(FORMAT.record(record))
    got = await wait_messages(collector, 3)
    await shipper.stop()
    assert len(got) == 3, collector.output()
    first, second, third = got

    assert {m["inputname"] for m in got} == {kind}
    assert first["app-name"] == "egress-warden"
    assert first["hostname"] == "gw1.example" and first["procid"] == "4242"
    assert first["protocol-version"] == "1"
    assert first["timereported"].startswith("2025-01-31T12:00:00.123")
    assert [m["msgid"] for m in got] == ["flow", "auth", "checkpoint"]
    assert int(first["syslogfacility"]) == Facility.LOCAL4
    assert [int(m["syslogseverity"]) for m in got] == [
        Severity.WARNING,
        Severity.INFO,
        Severity.INFO,
    ]
    assert int(first["pri"]) == Facility.LOCAL4 * 8 + Severity.WARNING

    sd = structured_data(first)[SD]
    assert sd["record_id"] == "rec-00001"
    assert sd["tenant"] == "acme" and sd["outcome"] == "blocked"
    assert sd["reason"] == 'no "PII"] here'  # escaped by us, unescaped by rsyslog
    assert sd["subject"] == "u-1" and sd["model"] == "gpt-4o"
    assert sd["findings"] == "EMAIL_ADDRESS:2"
    assert payload(first) == blocked
    assert structured_data(second)[SD]["record_id"] == "auth-1"
    assert payload(third) == checkpoint
    assert structured_data(third)[SD]["head_hash"] == "ab" * 32


async def test_cef_payload(collector: Rsyslog, tmp_path: Path) -> None:
    shipper = make_shipper("tcp", collector.tcp_port, tmp_path)
    await shipper.start()
    cef = SyslogFormatter(hostname="gw1", payload="cef")
    shipper.offer(cef.record(flow(7, "blocked")))
    got = await wait_messages(collector, 1)
    await shipper.stop()
    assert got[0]["msg"].startswith("CEF:0|Egress Warden|warden|0.1|flow:blocked|flow blocked|6|")
    assert "externalId=rec-00007" in got[0]["msg"]
    assert structured_data(got[0])[SD]["record_id"] == "rec-00007"


async def test_udp_truncates_with_a_note(collector: Rsyslog, tmp_path: Path) -> None:
    shipper = make_shipper("udp", collector.udp_port, tmp_path, max_datagram=1024)
    await shipper.start()
    big = flow(3, details={"text": "é" * 2000})
    whole = FORMAT.record(big)
    shipper.offer(whole)
    got = await wait_messages(collector, 1)
    await shipper.stop()
    assert len(got) == 1
    assert len(got[0]["rawmsg"].encode()) <= 1024
    sd = structured_data(got[0])
    assert sd["truncated@32473"] == {"size": str(len(whole))}
    assert sd[SD]["record_id"] == "rec-00003"


async def test_collector_down_then_up_replays_everything_in_order(
    tmp_path: Path, tls_files: TlsFiles
) -> None:
    port = free_port()
    shipper = make_shipper("tcp", port, tmp_path)
    await shipper.start()
    for n in range(300):
        shipper.offer(FORMAT.record(flow(n)))
    await until(lambda: shipper.stats.spooled == 300)
    assert shipper.stats.connects == 0 and not shipper.spool.empty

    with Rsyslog(tmp_path / "rsyslog", tcp_port=port) as collector:
        for n in range(300, 350):
            shipper.offer(FORMAT.record(flow(n)))
        await shipper.drained(10)
        got = await wait_messages(collector, 350)
        await shipper.stop()
    assert record_ids(got) == [f"rec-{n:05d}" for n in range(350)]
    assert not list((tmp_path / "spool").glob("*.seg")) or shipper.spool.empty


async def test_collector_restart_loses_nothing(tmp_path: Path) -> None:
    port = free_port()
    collector = Rsyslog(tmp_path / "rsyslog", tcp_port=port)
    collector.start()
    shipper = make_shipper("tcp", port, tmp_path)
    await shipper.start()
    try:
        for n in range(100):
            shipper.offer(FORMAT.record(flow(n)))
        assert len(await wait_messages(collector, 100)) == 100
        collector.stop()
        for n in range(100, 200):  # the first write notices the closed connection
            shipper.offer(FORMAT.record(flow(n)))
        await until(lambda: shipper.stats.failures >= 1 and shipper.stats.spooled >= 1)
        collector.start()
        for n in range(200, 250):
            shipper.offer(FORMAT.record(flow(n)))
        await shipper.drained(10)
        got = await wait_messages(collector, 250)
    finally:
        await shipper.stop()
        collector.stop()
    assert record_ids(got) == [f"rec-{n:05d}" for n in range(250)]


async def test_spool_bound_exceeded_sends_an_alarm_with_the_count(tmp_path: Path) -> None:
    port = free_port()
    shipper = make_shipper("tcp", port, tmp_path, max_bytes=16 * 1024)
    await shipper.start()
    for n in range(100):
        shipper.offer(FORMAT.record(flow(n)))
    await until(lambda: shipper.stats.spooled + shipper.stats.dropped == 100)
    dropped = shipper.stats.dropped
    assert 0 < dropped < 100

    with Rsyslog(tmp_path / "rsyslog", tcp_port=port) as collector:
        await shipper.drained(10)
        got = await wait_messages(collector, 101 - dropped)
        await shipper.stop()
    alarm, *rest = got
    assert alarm["msgid"] == "alarm"
    assert int(alarm["syslogseverity"]) == Severity.ERR
    assert structured_data(alarm)[SD]["dropped"] == str(dropped)
    assert payload(alarm)["reason"] == f"syslog spool full, {dropped} records dropped"
    # the oldest records were kept, the newest dropped
    assert record_ids(rest) == [f"rec-{n:05d}" for n in range(100 - dropped)]


async def test_tls_collector_with_a_certificate_from_another_ca_is_refused(
    tmp_path: Path, tls_files: TlsFiles
) -> None:
    other = make_tls_files(tmp_path / "other-ca", ca_name="Someone Else's CA")
    with Rsyslog(tmp_path / "rsyslog", tls=other) as collector:
        shipper = make_shipper(
            "tls", collector.tls_port, tmp_path, ca=tls_files.ca, server_name="collector.test"
        )
        await shipper.start()
        for n in range(20):
            shipper.offer(FORMAT.record(flow(n)))
        await until(lambda: shipper.stats.spooled == 20 and shipper.stats.last_error is not None)
        await asyncio.sleep(0.2)
        await shipper.stop()
        assert collector.messages() == []
    assert shipper.stats.connects == 0
    assert "CERTIFICATE_VERIFY_FAILED" in (shipper.stats.last_error or "")
    assert len(Spool(tmp_path / "spool", max_bytes=1 << 20).read(100)) == 20
