"""Redaction end to end with the real openai SDK through the gateway to aimock: what must
not leave never reaches the upstream (asserted on aimock's journal), pseudonyms come back
restored in plain and streamed answers, block entities stop the request readably, and a
DLP failure fails the flow closed."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.test_identity import SERVICE_SECRET, Bed, start_bed
from tests.e2e.test_policy import sdk, token
from tests.identity.devidp import service_client
from tests.peers import Aimock, WardenProcess, wait_until
from tests.proctree import alive, descendants, frozen
from warden.dlp.pool import WORKER_NAME

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
EMAIL, CARD, AWS = "jane.customer@example.com", "4111 1111 1111 1111", "AKIAIOSFODNN7EXAMPLE"
POLICY = {
    "dlp_profiles": ["pii-basic"],
    "defaults": {"default_action": "block"},
    "tenants": {
        "acme": {
            "rules": [
                {
                    "id": "acme-redact",
                    "match": {"kind": "api"},
                    "action": "redact",
                    "dlp_profile": "pii-basic",
                    "logging": "redacted",
                }
            ]
        }
    },
}


def make_bed(tmp: Path, aimock: Aimock, dlp: dict[str, Any]) -> Bed:
    policy = tmp / "policy.yaml"
    policy.write_text(yaml.safe_dump(POLICY))
    clients = [service_client("svc-eng", SERVICE_SECRET, {"tenant": "acme", "department": "eng"})]
    return start_bed(
        tmp,
        aimock,
        surrogate=False,
        extra_clients=clients,
        extra_config={
            "policy": {"file": str(policy)},
            "dlp": {"profiles_file": str(ROOT / "packaging" / "demo" / "dlp-profiles.yaml"), **dlp},
        },
    )


@pytest.fixture(scope="module")
def bed(aimock: Aimock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    b = make_bed(tmp_path_factory.mktemp("dlp"), aimock, {"workers": 1})
    yield b
    b.warden.stop()
    b.idp.stop()


def last_upstream(bed: Bed) -> str:
    entries = [e for e in bed.aimock.journal() if e.get("path") == "/v1/chat/completions"]
    return json.dumps(entries[-1]["body"])


def test_email_and_card_never_reach_the_upstream(bed: Bed) -> None:
    before = len(bed.aimock.journal())
    result = sdk(
        bed,
        "openai",
        token(bed, "eng"),
        "gpt-4o-mini",
        f"hello, write to {EMAIL} about card {CARD}",
    )
    assert len(bed.aimock.journal()) == before + 1, result
    upstream = last_upstream(bed)
    assert (
        EMAIL not in upstream
        and CARD not in upstream
        and "4111" not in upstream.replace("**** **** **** 1111", "")
    )
    assert "<EMAIL_ADDRESS_1>" in upstream and "**** **** **** 1111" in upstream
    out = bed.warden.cli("audit", "export", "--tenant", "acme").stdout
    records = [json.loads(line)["record"] for line in out.splitlines()]
    flow = [r for r in records if r["kind"] == "flow" and r["findings"]][-1]
    assert {(f["entity_type"], f["count"]) for f in flow["findings"]} == {
        ("EMAIL_ADDRESS", 1),
        ("CREDIT_CARD", 1),
    }
    assert flow["outcome"] == "redacted"
    assert (
        EMAIL not in out and CARD not in out
    )  # the audit trail holds types and counts, and the redacted prompt
    assert "<EMAIL_ADDRESS_1>" in flow.get("prompt", "")
    # The record committed before the prompt left has the same findings, never the prompt.
    (first,) = [r for r in records if r["record_id"] == flow["details"]["flow_record"]]
    assert first["details"]["phase"] == "request" and "prompt" not in first
    assert first["findings"] == flow["findings"] and first["outcome"] == "redacted"


def test_block_entity_stops_the_request_with_a_readable_error(bed: Bed) -> None:
    before = len(bed.aimock.journal())
    result = sdk(bed, "openai", token(bed, "eng"), "gpt-4o-mini", f"deploy with key {AWS} please")
    assert result["error"] == "PermissionDeniedError" and result["status"] == 403
    assert "AWS_ACCESS_KEY_ID" in result["message"] and AWS not in result["message"]
    assert len(bed.aimock.journal()) == before


@pytest.mark.parametrize("mode", ["plain", "stream"])
def test_pseudonym_is_restored_in_the_answer(bed: Bed, mode: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env.update(
        HTTPS_PROXY=bed.warden.proxy_url,
        SSL_CERT_FILE=str(bed.warden.ca_cert),
        WARDEN_PROXY_BEARER=token(bed, "eng"),
        OPENAI_API_KEY="sk-test",
    )
    client = Path(__file__).parent / "clients" / "sdk_client.py"
    import sys

    out = subprocess.run(
        [
            sys.executable,
            str(client),
            "openai",
            mode,
            "Draft a short apology to Jane Roe for the late delivery.",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(out.stdout)
    assert result.get("text", "").startswith("Dear Jane Roe,"), result
    upstream = last_upstream(bed)
    assert "Jane Roe" not in upstream and "<CUSTOMER_1>" in upstream


def _dlp_workers(warden: WardenProcess) -> set[int]:
    """The gateway's DLP worker processes, by the name they give themselves."""
    assert warden.proc is not None
    return {pid for pid in descendants(warden.proc.pid) if _comm(pid) == WORKER_NAME and alive(pid)}


def _comm(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "comm").read_text().strip()
    except OSError:
        return ""


def test_dlp_failure_fails_closed(aimock: Aimock, tmp_path: Path) -> None:
    """A DLP worker that stops answering (stopped with SIGSTOP, as a scan stuck in a
    pathological input would be) must not let the prompt out unscanned: the scan's time
    limit fails the flow closed with 503, and the stuck worker is replaced.

    (A time limit far below what a scan takes is no such fault: the pool reads an answer
    that is already there before its timer, so that scan is simply done.)"""
    b = make_bed(tmp_path, aimock, {"workers": 1, "timeout_s": 1.0})
    try:
        stuck = _dlp_workers(b.warden)
        assert len(stuck) == 1, stuck
        before = len(b.aimock.journal())
        with frozen(next(iter(stuck))):
            result = sdk(b, "openai", token(b, "eng"), "gpt-4o-mini", f"hello, write to {EMAIL}")
        assert result["status"] == 503 and "could not check this request" in result["message"]
        assert len(b.aimock.journal()) == before  # nothing left, redacted or not
        assert "DLP scan took longer than 1 s" in b.warden.log()

        # the stuck worker was killed and a new one serves: scanned, redacted, sent
        def served() -> bool:
            answer = sdk(b, "openai", token(b, "eng"), "gpt-4o-mini", f"hello, write to {EMAIL}")
            return bool(answer.get("status") != 503)

        # a new worker imports Presidio first (seconds); generous for a loaded machine
        wait_until(served, 120, "a replaced DLP worker to scan", b.warden.proc)
        assert _dlp_workers(b.warden).isdisjoint(stuck)
        assert EMAIL not in last_upstream(b)
    finally:
        b.warden.stop()
        b.idp.stop()
