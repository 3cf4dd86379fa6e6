"""The evidence stages: the body as the client sent it is sealed, off the event loop."""

from __future__ import annotations

import gzip
import threading
from pathlib import Path

import pytest
from mitmproxy import http
from mitmproxy.test import tflow, tutils

from tests.audit.sealing import add_recipient, investigator
from warden.addons.evidence import ERROR_KEY, EvidenceCapture, EvidenceSeal, EvidenceSnapshot
from warden.addons.flowcontext import CatalogDestination, Decision, FlowContext, ResolvedPrincipal
from warden.addons.response import AnswerStream
from warden.audit.evidence import EvidenceEnvelope, SealedEvidence, load_identities, open_sealed
from warden.audit.evidence_store import EvidenceSealer, load_evidence
from warden.audit.schema import open_audit_db_readonly

ORIGINAL = b'{"messages":[{"role":"user","content":"mail jane@example.com"}]}'


class RecordingSealer(EvidenceSealer):
    """The real sealer, noting which thread it ran on (the property under test)."""

    threads: list[str]

    def capture(self, envelope: EvidenceEnvelope) -> SealedEvidence:
        self.threads.append(threading.current_thread().name)
        return super().capture(envelope)


def _flow(evidence: bool) -> http.HTTPFlow:
    flow = tflow.tflow()
    flow.request.content = ORIGINAL
    flow.request.path = "/v1/chat/completions?api-key=secret"
    FlowContext().replace(
        destination=CatalogDestination("openai", "openai", "api", "api.openai.com"),
        principal=ResolvedPrincipal("acme", "https://idp.example", "u-1", "jwt"),
        decision=Decision("redact", "pii", "v1", "r", "pii-basic", evidence=evidence),
    ).save(flow)
    return flow


@pytest.fixture
def setup(tmp_path: Path) -> tuple[EvidenceCapture, RecordingSealer, Path]:
    who = investigator(tmp_path)
    add_recipient(tmp_path / "keys", "acme", who.public)
    sealer = RecordingSealer(tmp_path / "audit.db", tmp_path / "keys", 1024 * 1024)
    sealer.threads = []
    return EvidenceCapture(sealer), sealer, who.key_file


async def test_the_original_body_is_sealed_not_the_redacted_one(
    setup: tuple[EvidenceCapture, RecordingSealer, Path],
) -> None:
    capture, sealer, key = setup
    flow = _flow(evidence=True)
    EvidenceSnapshot(capture).request(flow)
    flow.request.content = ORIGINAL.replace(b"jane@example.com", b"<EMAIL_ADDRESS_1>")
    flow.response = tutils.tresp(content=b"")
    flow.response.headers["content-encoding"] = "gzip"
    flow.response.raw_content = gzip.compress(b"answer for jane@example.com")
    await EvidenceSeal(capture).response(flow)
    details = capture.details_of(flow)
    assert set(details) == {"evidence_id", "evidence_sha256"}
    assert sealer.threads and sealer.threads[0] != threading.main_thread().name
    conn = open_audit_db_readonly(sealer.writer.db_path)
    stored = load_evidence(conn, str(details["evidence_id"]))
    conn.close()
    assert stored is not None and stored.sha256 == details["evidence_sha256"]
    envelope = open_sealed(stored.ciphertext, load_identities(key))
    assert envelope.request.data == ORIGINAL
    assert envelope.answer is not None and envelope.answer.data == b"answer for jane@example.com"
    assert envelope.path == "/v1/chat/completions"  # the query never


async def test_nothing_is_sealed_unless_the_rule_asks(
    setup: tuple[EvidenceCapture, RecordingSealer, Path],
) -> None:
    capture, sealer, _ = setup
    flow = _flow(evidence=False)
    EvidenceSnapshot(capture).request(flow)
    flow.response = tutils.tresp()
    await EvidenceSeal(capture).response(flow)
    assert capture.details_of(flow) == {} and sealer.threads == []


def _opened(
    sealer: EvidenceSealer, capture: EvidenceCapture, flow: http.HTTPFlow, key: Path
) -> EvidenceEnvelope:
    conn = open_audit_db_readonly(sealer.writer.db_path)
    stored = load_evidence(conn, str(capture.details_of(flow)["evidence_id"]))
    conn.close()
    assert stored is not None
    return open_sealed(stored.ciphertext, load_identities(key))


class _Restore:
    """A restoring step as the redactor adds one (bytes in, bytes out), holding a tail."""

    def feed(self, chunk: bytes) -> bytes:
        return chunk.replace(b"<EMAIL_ADDRESS_1>", b"jane@example.com")

    def close(self) -> bytes:
        return b"data: [DONE]\n\n"


def _streamed(flow: http.HTTPFlow) -> AnswerStream:
    flow.response = tutils.tresp(content=b"")
    flow.response.headers["content-type"] = "text/event-stream"
    stream = AnswerStream(flow, None)
    stream.add(_Restore())
    flow.response.stream = stream
    return stream


SSE = [b'data: {"d":"mail "}\n\n', b'data: {"d":"<EMAIL_ADDRESS_1>"}\n\n', b""]


async def test_a_streamed_answer_is_sealed_as_the_client_got_it(
    setup: tuple[EvidenceCapture, RecordingSealer, Path],
) -> None:
    capture, sealer, key = setup
    flow = _flow(evidence=True)
    EvidenceSnapshot(capture).request(flow)
    stream = _streamed(flow)
    seal = EvidenceSeal(capture)
    seal.responseheaders(flow)
    sent = b"".join(piece for chunk in SSE for piece in stream(chunk))
    await seal.response(flow)
    envelope = _opened(sealer, capture, flow, key)
    assert b"jane@example.com" in sent  # restored for the client ...
    assert envelope.answer is not None and envelope.answer.data == sent  # ... and sealed so
    assert envelope.answer.content_type == "text/event-stream"
    assert envelope.answer_note is None and "evidence_truncated" not in capture.details_of(flow)


async def test_a_long_stream_keeps_the_cap_and_says_truncated(tmp_path: Path) -> None:
    who = investigator(tmp_path)
    add_recipient(tmp_path / "keys", "acme", who.public)
    sealer = EvidenceSealer(tmp_path / "audit.db", tmp_path / "keys", 1024)
    capture = EvidenceCapture(sealer)
    flow = _flow(evidence=True)
    stream = _streamed(flow)
    EvidenceSeal(capture).responseheaders(flow)
    event = b'data: {"d":"' + b"x" * 80 + b'"}\n\n'
    sent = 0
    for _ in range(200):  # ~19 KiB through a 1 KiB cap
        sent += sum(len(p) for p in stream(event))
    sent += sum(len(p) for p in stream(b""))
    await EvidenceSeal(capture).response(flow)
    assert capture.details_of(flow)["evidence_truncated"] is True
    envelope = _opened(sealer, capture, flow, who.key_file)
    assert envelope.answer is not None and envelope.answer.truncated
    assert len(envelope.answer.data) == 1024 and envelope.answer.size == sent
    assert envelope.answer.data == (event * 20)[:1024]


async def test_a_stream_cut_by_the_client_is_sealed_with_what_passed(
    setup: tuple[EvidenceCapture, RecordingSealer, Path],
) -> None:
    capture, sealer, key = setup
    flow = _flow(evidence=True)
    stream = _streamed(flow)
    seal = EvidenceSeal(capture)
    seal.responseheaders(flow)
    sent = b"".join(stream(SSE[0]))
    flow.error = tflow.terr("Client disconnected.")
    await seal.error(flow)
    envelope = _opened(sealer, capture, flow, key)
    assert envelope.answer is not None and envelope.answer.data == sent
    assert envelope.answer_note == "cut: Client disconnected."
    assert envelope.request.data == ORIGINAL  # no snapshot: the request as it is now


async def test_a_stream_of_an_uncaptured_flow_is_not_read(
    setup: tuple[EvidenceCapture, RecordingSealer, Path],
) -> None:
    capture, sealer, _ = setup
    flow = _flow(evidence=False)
    stream = _streamed(flow)
    EvidenceSeal(capture).responseheaders(flow)
    assert stream._readers == []
    for chunk in SSE:
        stream(chunk)
    await EvidenceSeal(capture).response(flow)
    assert capture.details_of(flow) == {} and sealer.threads == []


async def test_a_stream_the_gateway_could_not_read_seals_the_request_and_says_why(
    setup: tuple[EvidenceCapture, RecordingSealer, Path],
) -> None:
    capture, sealer, key = setup
    flow = _flow(evidence=True)
    EvidenceSnapshot(capture).request(flow)
    flow.response = tutils.tresp()
    flow.response.stream = True
    await EvidenceSeal(capture).response(flow)
    conn = open_audit_db_readonly(sealer.writer.db_path)
    stored = load_evidence(conn, str(capture.details_of(flow)["evidence_id"]))
    conn.close()
    assert stored is not None
    envelope = open_sealed(stored.ciphertext, load_identities(key))
    assert envelope.answer is None and envelope.answer_note == "streamed"


async def test_a_tenant_without_keys_is_recorded_not_silently_skipped(tmp_path: Path) -> None:
    capture = EvidenceCapture(EvidenceSealer(tmp_path / "audit.db", tmp_path / "none", 1024))
    flow = _flow(evidence=True)
    flow.response = tutils.tresp()
    await EvidenceSeal(capture).response(flow)
    assert "has no investigator keys" in str(capture.details_of(flow)[ERROR_KEY])


async def test_a_stream_replaced_by_an_error_answer_seals_the_answer_sent(
    setup: tuple[EvidenceCapture, RecordingSealer, Path],
) -> None:
    """The audit stage withholds a stream whose first record cannot be written (503): the
    client got that answer, not the stream, and that is what is sealed."""
    capture, sealer, key = setup
    flow = _flow(evidence=True)
    _streamed(flow)
    seal = EvidenceSeal(capture)
    seal.responseheaders(flow)
    flow.response = tutils.tresp(status_code=503, content=b'{"error": "withheld"}')
    await seal.response(flow)
    envelope = _opened(sealer, capture, flow, key)
    assert envelope.answer is not None and envelope.answer.data == b'{"error": "withheld"}'
