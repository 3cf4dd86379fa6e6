"""Sealed evidence end to end: `warden run`, the real openai SDK, aimock upstream.

A prompt that matches a DLP rule with ``evidence: capture`` leaves redacted; the original
is sealed to the investigators' keys, its hash is in the chain, `warden evidence open`
shows it with the investigator's key and not with another; a bundle of the flow exported
on the gateway host verifies in a fresh folder with nothing but the bundle and the key id.

Streamed answers: aimock streams an SSE answer that names a pseudonym, the gateway
restores it on the way, and the sealed answer is byte for byte what the client read
(raw, through a plain HTTP client); a stream the client leaves in the middle is sealed
with what it got until then, in the flow's record of the cut.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml
from textual.widgets import Input, Label

from tests.console.test_evidence import _open_dialog, _settle
from tests.console.test_flows import text_of
from tests.e2e.test_identity import SERVICE_SECRET, Bed, start_bed
from tests.e2e.test_policy import sdk, token
from tests.identity.devidp import service_client
from tests.peers import WARDEN, Aimock
from tests.wsclient import Upgrade, exchange
from tests.wsclient import text_of as answer_text
from warden.console import ReviewerScope, build_app
from warden.console.evidence_screen import EvidenceScreen

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
EMAIL = "jane.customer@example.com"
AWS = "AKIAIOSFODNN7EXAMPLE"
POLICY = {
    "dlp_profiles": ["pii-basic"],
    "defaults": {"default_action": "block", "scan_profile": "pii-basic"},
    "tenants": {
        "acme": {
            "rules": [
                {
                    "id": "acme-keys-evidence",
                    "match": {"entities": ["AWS_ACCESS_KEY_ID"]},
                    "action": "block",
                    "evidence": "capture",
                },
                {
                    "id": "acme-pii-evidence",
                    "match": {"entities": ["EMAIL_ADDRESS"]},
                    "action": "redact",
                    "dlp_profile": "pii-basic",
                    "evidence": "capture",
                },
                {
                    "id": "acme-customer-evidence",
                    "match": {"entities": ["CUSTOMER"]},
                    "action": "redact",
                    "dlp_profile": "pii-basic",
                    "evidence": "capture",
                },
                {"id": "acme-api", "match": {"kind": "api"}, "action": "allow"},
            ]
        }
    },
}


def keygen(path: Path) -> str:
    out = subprocess.run(
        [str(WARDEN), "evidence", "keygen", "-o", str(path)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert path.stat().st_mode & 0o777 == 0o600
    return out.stdout.strip()


@pytest.fixture(scope="module")
def bed(aimock: Aimock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    tmp = tmp_path_factory.mktemp("evidence")
    keys = tmp / "investigators"
    keys.mkdir()
    recipients = tmp / "recipients"
    recipients.mkdir()
    # the investigator's key pair is made off the gateway; only the public half goes there
    (recipients / "acme.txt").write_text(keygen(keys / "rita.key") + "\n")
    policy = tmp / "policy.yaml"
    policy.write_text(yaml.safe_dump(POLICY))
    clients = [service_client("svc-eng", SERVICE_SECRET, {"tenant": "acme", "department": "eng"})]
    b = start_bed(
        tmp,
        aimock,
        surrogate=False,
        extra_clients=clients,
        extra_config={
            "policy": {"file": str(policy)},
            "dlp": {
                "profiles_file": str(ROOT / "packaging" / "demo" / "dlp-profiles.yaml"),
                "workers": 1,
            },
            "audit": {
                "evidence": {"recipients_dir": str(recipients)},
                "checkpoints": {"every_records": 1},
            },
        },
    )
    yield b
    b.warden.stop()
    b.idp.stop()


def _flow_with_evidence(bed: Bed) -> dict[str, object]:
    records = bed.warden.audit_records("acme")
    captured = [r for r in records if "evidence_id" in (r.get("details") or {})]
    assert captured, records[-3:]
    return captured[-1]


def test_a_dlp_match_is_sealed_and_only_the_investigator_opens_it(bed: Bed, tmp_path: Path) -> None:
    result = sdk(
        bed, "openai", token(bed, "eng"), "gpt-4o-mini", f"hello warden, please write to {EMAIL}"
    )
    assert "text" in result, result
    upstream = json.dumps(
        [e["body"] for e in bed.aimock.journal() if e.get("path") == "/v1/chat/completions"][-1]
    )
    assert EMAIL not in upstream  # redacted on the way out
    record = _flow_with_evidence(bed)
    details = record["details"]
    assert isinstance(details, dict)
    assert record["decision"]["rule_id"] == "acme-pii-evidence"  # type: ignore[index]
    assert len(str(details["evidence_sha256"])) == 64
    # the chain (with the record carrying the hash) verifies
    verified = bed.warden.cli("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # the gateway's audit store holds ciphertext only
    db = Path(bed.warden.workdir) / "state" / "audit" / "audit.db"
    assert EMAIL.encode() not in db.read_bytes()
    rita = Path(bed.warden.workdir).parent / "investigators" / "rita.key"
    opened = bed.warden.cli("evidence", "open", str(record["record_id"]), "--key", str(rita),
                            "--reviewer", "Rita")  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    assert EMAIL in opened.stdout and "matches the record in the chain" in opened.stdout
    assert str(result["text"])[:20] in opened.stdout  # the answer the client got
    # another person's key: refused, clearly
    mallory = tmp_path / "mallory.key"
    keygen(mallory)
    refused = bed.warden.cli("evidence", "open", str(details["evidence_id"]), "--key", str(mallory))
    assert refused.returncode == 1 and "cannot open the evidence" in refused.stderr
    assert EMAIL not in refused.stdout + refused.stderr
    accesses = [
        (r["outcome"], r["details"]["reviewer"])
        for r in bed.warden.audit_records("acme")
        if r.get("event") == "evidence.access"
    ]
    assert accesses[-2:] == [("ok", "Rita"), ("failed", accesses[-1][1])]


def test_a_recipient_added_later_opens_later_captures(bed: Bed, tmp_path: Path) -> None:
    sam = tmp_path / "sam.key"
    added = bed.warden.cli("evidence", "add-recipient", "--tenant", "acme", "--name", "Sam",
                           keygen(sam))  # fmt: skip
    assert added.returncode == 0, added.stderr
    bad = bed.warden.cli("evidence", "add-recipient", "--tenant", "acme", "age1nonsense")
    assert bad.returncode == 2 and "not a valid age public key" in bad.stderr
    sdk(bed, "openai", token(bed, "eng"), "gpt-4o-mini", f"hello warden, second note for {EMAIL}")
    record = _flow_with_evidence(bed)
    opened = bed.warden.cli("evidence", "open", str(record["record_id"]), "--key", str(sam))
    assert opened.returncode == 0 and "second note" in opened.stdout, opened.stderr


def test_a_bundle_exported_here_verifies_elsewhere(bed: Bed, tmp_path: Path) -> None:
    sdk(bed, "openai", token(bed, "eng"), "gpt-4o-mini", f"hello warden, bundle this, {EMAIL}")
    record = _flow_with_evidence(bed)
    bundle = tmp_path / "host" / "bundle.json"
    bundle.parent.mkdir()
    made = bed.warden.cli("audit", "export-bundle", "--flow", str(record["record_id"]),
                          "-o", str(bundle))  # fmt: skip
    assert made.returncode == 0, made.stderr
    pem = tmp_path / "host" / "gateway.pub"
    pem.write_text(bed.warden.cli("audit", "public-key").stdout)
    # another machine: a fresh folder, no config, no store; the bundle and the key only
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(bundle, elsewhere / "bundle.json")
    shutil.copy(pem, elsewhere / "gateway.pub")

    def verify(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(WARDEN), "--config", str(elsewhere / "none.yaml"), "audit", "verify",
             "--bundle", "bundle.json", *extra],
            cwd=elsewhere, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    ok = verify("--key", "gateway.pub")
    assert ok.returncode == 0 and "OK: signed by the trusted key" in ok.stdout, ok.stdout
    assert "1 evidence blob(s)" in ok.stdout
    unpinned = verify()
    assert unpinned.returncode == 3 and "UNPINNED" in unpinned.stdout
    data = json.loads((elsewhere / "bundle.json").read_text())
    data["records"][0]["body"] = data["records"][0]["body"].replace("gpt-4o-mini", "gpt-4o")
    (elsewhere / "bundle.json").write_text(json.dumps(data))
    changed = verify("--key", "gateway.pub")
    assert changed.returncode == 1 and "was changed" in changed.stdout, changed.stdout


def test_a_blocked_request_is_sealed_with_the_block_it_got(bed: Bed) -> None:
    before = len(bed.aimock.journal())
    result = sdk(bed, "openai", token(bed, "eng"), "gpt-4o-mini", f"hello warden, key {AWS}")
    assert result["status"] == 403 and len(bed.aimock.journal()) == before
    record = _flow_with_evidence(bed)
    # the DLP profile blocked it before the rules decided again; the rule these findings
    # select (acme-keys-evidence) asked for evidence, so it is sealed all the same
    assert record["outcome"] == "blocked"
    findings = record["findings"]
    assert isinstance(findings, list)
    assert "AWS_ACCESS_KEY_ID" in {f["entity_type"] for f in findings}
    rita = Path(bed.warden.workdir).parent / "investigators" / "rita.key"
    opened = bed.warden.cli("evidence", "open", str(record["record_id"]), "--key", str(rita))
    assert opened.returncode == 0, opened.stderr
    assert AWS in opened.stdout and "--- answer (" in opened.stdout


async def test_the_console_opens_it_with_the_key_and_not_without(bed: Bed, tmp_path: Path) -> None:
    """The reviewer's side of the done-when, on the gateway's own audit database."""
    sdk(bed, "openai", token(bed, "eng"), "gpt-4o-mini", f"hello warden, console for {EMAIL}")
    record = _flow_with_evidence(bed)
    state = Path(bed.warden.workdir) / "state"
    app = build_app(
        state / "audit" / "audit.db",
        state / "state.db",
        state / "audit" / "audit-signing.pub",
        None,
        None,
        ReviewerScope.limited("rita@acme.example", ["acme"]),
        poll_interval=3600.0,
    )
    conn = sqlite3.connect(state / "audit" / "audit.db")
    (seq,) = conn.execute(
        "SELECT seq FROM records WHERE record_id = ?", (record["record_id"],)
    ).fetchone()
    conn.close()
    stranger = tmp_path / "stranger.key"
    keygen(stranger)
    rita = Path(bed.warden.workdir).parent / "investigators" / "rita.key"
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        dialog = await _open_dialog(app, pilot, seq)
        error = dialog.query_one("#evidence-error", Label)
        dialog.query_one("#evidence-key", Input).value = str(stranger)
        await pilot.press("enter")
        assert "this private key cannot open the evidence" in await _settle(app, pilot, error)
        assert not isinstance(app.screen, EvidenceScreen)
        dialog.query_one("#evidence-key", Input).value = str(rita)
        await pilot.press("enter")
        await _settle(app, pilot, error)
        await pilot.pause()
        assert isinstance(app.screen, EvidenceScreen)
        assert EMAIL in text_of(app.screen.query_one("#evidence-body"))


CUSTOMER = "Jane Roe"  # the demo profile pseudonymizes it to <CUSTOMER_1>


def _stream(bed: Bed, prompt: str, keep: int | None = None) -> bytes:
    """POST a streamed chat completion through the gateway as a plain HTTP client and
    return the body bytes as received; with ``keep``, leave after that many bytes."""
    proxy = httpx2.Proxy(
        bed.warden.proxy_url, headers={"Proxy-Authorization": f"Bearer {token(bed, 'eng')}"}
    )
    client = httpx2.Client(
        proxy=proxy, verify=ssl.create_default_context(cafile=str(bed.warden.ca_cert)), timeout=60
    )
    body = {
        "model": "gpt-4o-mini",
        "stream": True,
        "messages": [{"role": "user", "content": prompt}],
    }
    got = b""
    with client.stream(
        "POST",
        "https://api.openai.com/v1/chat/completions",
        json=body,
        headers={"authorization": "Bearer sk-test"},
    ) as answer:
        assert answer.status_code == 200, answer.read()
        for piece in answer.iter_raw():
            got += piece
            if keep is not None and len(got) >= keep:
                break
    client.close()  # a stream left unread closes its connection: the client is gone
    return got


def _opened_raw(
    bed: Bed, key: Path, evidence_id: str, part: str
) -> subprocess.CompletedProcess[str]:
    return bed.warden.cli("evidence", "open", evidence_id, "--key", str(key), "--raw", part)


def test_a_streamed_answer_is_sealed_as_the_client_received_it(bed: Bed, tmp_path: Path) -> None:
    received = _stream(bed, f"Draft a short apology to {CUSTOMER} for the late delivery.")
    assert b"data: [DONE]" in received and CUSTOMER.encode() in received  # restored
    assert b"<CUSTOMER_1>" not in received
    record = _flow_with_evidence(bed)
    details = record["details"]
    assert isinstance(details, dict)
    # one logical flow: the hash is in the stream's end record, which joins its start
    assert details["phase"] == "stream_end" and details.get("flow_record")
    assert record["decision"]["rule_id"] == "acme-customer-evidence"  # type: ignore[index]
    assert "evidence_truncated" not in details
    rita = Path(bed.warden.workdir).parent / "investigators" / "rita.key"
    answer = _opened_raw(bed, rita, str(details["evidence_id"]), "answer")
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout == received.decode()  # byte for byte what the client read
    request = _opened_raw(bed, rita, str(details["evidence_id"]), "request")
    assert f"apology to {CUSTOMER}" in request.stdout  # as typed, before pseudonymizing
    upstream = json.dumps(
        [e["body"] for e in bed.aimock.journal() if e.get("path") == "/v1/chat/completions"][-1]
    )
    assert CUSTOMER not in upstream
    db = Path(bed.warden.workdir) / "state" / "audit" / "audit.db"
    assert b"Draft a short apology to Jane" not in db.read_bytes()  # ciphertext only
    # the record with the hash is in the verified chain
    verified = bed.warden.cli("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    conn = sqlite3.connect(db)
    (count,) = conn.execute(
        "SELECT count(*) FROM records WHERE record_id = ? AND prev_hash IS NOT NULL "
        "AND json_extract(body, '$.details.evidence_sha256') = ?",
        (record["record_id"], details["evidence_sha256"]),
    ).fetchone()
    conn.close()
    assert count == 1
    # without the investigator's key: refused, and nothing of the answer shows
    mallory = tmp_path / "mallory.key"
    keygen(mallory)
    refused = _opened_raw(bed, mallory, str(details["evidence_id"]), "answer")
    assert refused.returncode == 1 and "cannot open the evidence" in refused.stderr
    assert CUSTOMER not in refused.stdout + refused.stderr


def test_a_streamed_flow_exports_with_its_evidence(bed: Bed, tmp_path: Path) -> None:
    """One logical flow: the stream's end record joins its first, and the flow's bundle
    (every record joining the first) carries the stream's blob."""
    _stream(bed, f"Draft a short apology to {CUSTOMER} for the late delivery.")
    details = _flow_with_evidence(bed)["details"]
    assert isinstance(details, dict)
    # the flow (its first record and every record joining it) exports with the blob
    bundle = tmp_path / "stream.json"
    made = bed.warden.cli("audit", "export-bundle", "--flow", str(details["flow_record"]),
                          "-o", str(bundle))  # fmt: skip
    assert made.returncode == 0, made.stderr
    checked = bed.warden.cli("audit", "verify", "--bundle", str(bundle))
    assert "1 evidence blob(s)" in checked.stdout, checked.stdout + checked.stderr
    assert checked.returncode in (0, 3), checked.stdout  # 3: consistent, key not pinned


def test_a_stream_the_client_leaves_is_sealed_with_what_it_got(bed: Bed) -> None:
    before = {r["record_id"] for r in bed.warden.audit_records("acme")}
    # aimock sends this answer four letters every 250 ms: the client leaves after the first
    # few events, long before its end
    received = _stream(bed, f"Write slowly to {CUSTOMER} about the delay", keep=1500)
    assert b"data: [DONE]" not in received
    found = _new_evidence(bed, before)
    assert found["outcome"] == "client_abort"
    details = found["details"]
    assert isinstance(details, dict) and details.get("flow_record")
    rita = Path(bed.warden.workdir).parent / "investigators" / "rita.key"
    opened = bed.warden.cli("evidence", "open", str(details["evidence_id"]), "--key", str(rita))
    assert opened.returncode == 0, opened.stderr
    assert "--- answer (text/event-stream" in opened.stdout and "cut: " in opened.stdout
    answer = _opened_raw(bed, rita, str(details["evidence_id"]), "answer").stdout.encode()
    # what the client read is all there (the gateway may have passed on a little more
    # before it noticed), and restored
    assert answer.startswith(received) and b"data: [DONE]" not in answer
    assert CUSTOMER.encode() in answer and b"<CUSTOMER_1>" not in answer


RESPONSES_SOCKET = "wss://api.openai.com/v1/responses"


def _socket(bed: Bed, prompt: str) -> Upgrade:
    """One ``response.create`` over the Responses WebSocket, as Codex CLI sends it."""
    create = {
        "type": "response.create",
        "model": "gpt-4o-mini",
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": prompt}]}
        ],
        "store": False,
    }
    up = exchange(
        bed.warden.proxy_url, bed.warden.ca_cert, RESPONSES_SOCKET, [create], token(bed, "eng")
    )
    assert up.status == 101, up.body
    return up


def _new_evidence(bed: Bed, before: set[str]) -> dict[str, Any]:
    """The first record naming evidence that was not in ``before`` (waited for: a turn's
    end record is written off the answer's path)."""

    def found() -> dict[str, Any] | None:
        for r in bed.warden.audit_records("acme"):
            if r["record_id"] not in before and "evidence_id" in (r.get("details") or {}):
                return r
        return None

    deadline = time.monotonic() + 60  # generous: a loaded 2-core host can take seconds
    record = found()
    while record is None and time.monotonic() < deadline:
        time.sleep(0.5)
        record = found()
    assert record is not None, "no evidence was recorded"
    return record


def test_a_websocket_turn_is_sealed_with_the_answer_the_client_got(
    bed: Bed, tmp_path: Path
) -> None:
    before = {r["record_id"] for r in bed.warden.audit_records("acme")}
    prompt = f"Write a note to {CUSTOMER} in small pieces."
    events = _socket(bed, prompt).events[0]
    assert events[-1]["type"] == "response.completed", events
    assert answer_text(events).startswith(f"Dear {CUSTOMER},")  # restored for the client
    record = _new_evidence(bed, before)
    details = record["details"]
    assert details["phase"] == "turn_end" and details["transport"] == "websocket"
    assert details.get("turn_record") and details.get("flow_record")
    rita = Path(bed.warden.workdir).parent / "investigators" / "rita.key"
    evidence_id = str(details["evidence_id"])
    answer = _opened_raw(bed, rita, evidence_id, "answer")
    assert answer.returncode == 0, answer.stderr
    sealed = [json.loads(line) for line in answer.stdout.splitlines()]
    # every server message the client read, as it read it (pseudonyms restored), in the
    # order they passed the gateway (an injected event may reach the client a little later)
    assert answer_text(sealed) == answer_text(events)
    assert sorted(json.dumps(e, sort_keys=True) for e in sealed) == sorted(
        json.dumps(e, sort_keys=True) for e in events
    )
    request = _opened_raw(bed, rita, evidence_id, "request")
    assert prompt in json.loads(request.stdout)["input"][0]["content"][0]["text"]
    verified = bed.warden.cli("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    mallory = tmp_path / "mallory.key"
    keygen(mallory)
    refused = _opened_raw(bed, mallory, evidence_id, "answer")
    assert refused.returncode == 1 and "cannot open the evidence" in refused.stderr
    assert CUSTOMER not in refused.stdout + refused.stderr


def test_a_websocket_message_the_profile_blocks_is_sealed_with_its_error(bed: Bed) -> None:
    before = {r["record_id"] for r in bed.warden.audit_records("acme")}
    events = _socket(bed, f"hello warden, key {AWS}").events[0]
    assert events[-1]["type"] == "error", events
    record = _new_evidence(bed, before)
    assert record["outcome"] == "blocked"
    rita = Path(bed.warden.workdir).parent / "investigators" / "rita.key"
    opened = bed.warden.cli("evidence", "open", str(record["record_id"]), "--key", str(rita))
    assert opened.returncode == 0, opened.stderr
    assert AWS in opened.stdout and "warden_dlp_blocked" in opened.stdout
