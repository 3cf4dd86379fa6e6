"""The review trail end to end: a streamed answer is one flow with its output tokens
counted, and an agent session's three calls show as one conversation (real gateway, real
aimock upstream, the console's own queries over the gateway's audit database)."""

from __future__ import annotations

import datetime
import json
import sqlite3
import uuid
from pathlib import Path

import pytest

from tests.peers import WardenProcess
from warden.console.conversations import load_conversation
from warden.console.flows import RECORDS_ALL, FlowFilter, FlowQuery, Sort
from warden.console.scope import ReviewerScope
from warden.console.summary import summarize

pytestmark = pytest.mark.e2e

CHAT = "https://api.openai.com/v1/chat/completions"
MESSAGES = "https://api.anthropic.com/v1/messages"
ADMIN = ReviewerScope.administrator()


def _audit(gateway: WardenProcess) -> sqlite3.Connection:
    path: Path = gateway.workdir / "state" / "audit" / "audit.db"
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def test_a_streamed_answer_is_one_flow_with_its_output_tokens(gateway: WardenProcess) -> None:
    model = f"gpt-4o-mini-{uuid.uuid4().hex[:12]}"  # finds this flow's records
    conn = _audit(gateway)
    now = datetime.datetime.now(datetime.UTC)
    before = summarize(conn, ADMIN, now, 2)
    body = {
        "model": model,
        "stream": True,  # and no stream_options.include_usage: aimock reports no usage
        "messages": [{"role": "user", "content": "stream please"}],
    }
    with gateway.http_client() as client, client.stream("POST", CHAT, json=body) as answer:
        assert answer.status_code == 200
        streamed = answer.read().decode()
    assert streamed.startswith("data:")
    query = FlowQuery(conn, ADMIN)
    assert query.count(FlowFilter(model=model)) == (1, False)  # one row ...
    # ... of the request's record, the stream's start and its end
    assert query.count(FlowFilter(model=model, records=RECORDS_ALL)) == (3, False)
    (row,) = query.fetch(FlowFilter(model=model), Sort(), None).rows
    assert row.tokens_out is not None and row.tokens_out > 0  # counted from the text
    (end,) = [
        r
        for r in gateway.audit_records()
        if (r["destination"] or {}).get("model") == model
        and r["details"].get("phase") == "stream_end"
    ]
    assert end["usage"]["estimated"] is True and end["usage"]["tokens_out"] == row.tokens_out
    assert end["request"]["method"] == "POST"
    assert end["request"]["path"] == "/v1/chat/completions"
    assert end["request"]["transport"] == "http"
    after = summarize(conn, ADMIN, datetime.datetime.now(datetime.UTC), 2)
    assert after.requests - before.requests == 1  # the summary counts the stream once
    assert after.tokens - before.tokens == (end["usage"]["tokens_in"] or 0) + row.tokens_out


def test_an_agent_sessions_three_calls_are_one_conversation(gateway: WardenProcess) -> None:
    """Claude Code names its session in every call (X-Claude-Code-Session-Id, the header
    name in the pinned CLI's binary); three calls, one conversation in the console."""
    session = str(uuid.uuid4())
    other = str(uuid.uuid4())
    headers = {
        "User-Agent": "claude-cli/2.0.14 (external, cli)",
        "anthropic-version": "2023-06-01",
        "x-api-key": "sk-ant-test",
    }
    body = {"model": "claude-sonnet-4", "max_tokens": 64,
            "messages": [{"role": "user", "content": "hello warden"}]}  # fmt: skip
    with gateway.http_client() as client:
        for sid in (session, other, session, session):
            r = client.post(
                MESSAGES, json=body, headers={**headers, "X-Claude-Code-Session-Id": sid}
            )
            assert r.status_code == 200, r.text
        plain = client.post(CHAT, json={"model": "gpt-4o-mini", "messages": body["messages"]})
        assert plain.status_code == 200
    conn = _audit(gateway)
    records = gateway.audit_records()
    mine = [r for r in records if (r.get("request") or {}).get("conversation") == session]
    tenant = mine[0]["tenant"]
    subject = (mine[0]["principal"] or {}).get("subject")
    found = load_conversation(conn, ADMIN, tenant, session, subject)
    assert len(found.turns) == 3  # one conversation of three turns, not six records
    assert all(t.client == "claude-code/2.0.14" for t in found.turns)
    assert all(t.path == "/v1/messages" and t.method == "POST" for t in found.turns)
    query = FlowQuery(conn, ADMIN)
    assert query.count(FlowFilter(conversation=session)) == (3, False)
    assert query.count(FlowFilter(conversation=other)) == (1, False)


@pytest.mark.parametrize("stream", [False, True])
def test_a_responses_chain_of_three_turns_is_one_conversation(
    gateway: WardenProcess, stream: bool
) -> None:
    """OpenAI Responses: each turn names the answer before it (previous_response_id);
    the gateway maps every turn to the thread's first answer, streamed or not."""
    responses = "https://api.openai.com/v1/responses"
    model = f"gpt-4.1-{uuid.uuid4().hex[:12]}"
    previous: str | None = None
    with gateway.http_client() as client:
        for _ in range(3):
            body = {"model": model, "input": "hello warden", "stream": stream}
            if previous is not None:
                body["previous_response_id"] = previous
            r = client.post(responses, json=body)
            assert r.status_code == 200, r.text
            if stream:
                created = next(line for line in r.text.splitlines() if '"response.created"' in line)
                previous = json.loads(created.removeprefix("data:").strip())["response"]["id"]
            else:
                previous = r.json()["id"]
    records = [r for r in gateway.audit_records() if (r["destination"] or {}).get("model") == model]
    answers = [r for r in records if r["details"].get("phase") not in ("request", "stream_start")]
    assert len(answers) == 3
    threads = {r["request"]["conversation"] for r in answers}
    assert len(threads) == 1 and None not in threads, threads
    (thread,) = threads
    conn = _audit(gateway)
    found = load_conversation(conn, ADMIN, answers[0]["tenant"], thread, None)
    assert len(found.turns) == 3
    assert FlowQuery(conn, ADMIN).count(FlowFilter(conversation=thread)) == (3, False)
