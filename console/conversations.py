"""A conversation's turns, for the conversation screen: every flow that names the same
conversation id, one turn per logical flow, in time order.

A flow may leave several records (its request's, its answer's, a stream's start and end,
joined by ``details.flow_record``); a turn merges them: the time of the first, the model,
decision, findings and outcome of the last, the usage of the one that has it, and whether
any carries an ``evidence`` reference. Records are read within the reviewer's scope and
the conversation's tenant only. A conversation is one person's: when the flow it was
opened from names a subject, the records are read through the ``(tenant, subject, ts)``
index; otherwise through ``(tenant, ts)``. Both read at most `MAX_RECORDS` records.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Final

from .scope import ReviewerScope

#: Records of one conversation read at most (the newest of them): a conversation longer
#: than this shows its latest turns and says so.
MAX_RECORDS: Final = 5_000


@dataclass(slots=True)
class Turn:
    """One logical flow of the conversation."""

    key: str  # the record id of the flow's first record
    ts: str
    seq: int  # the record the detail opens: the flow's last
    model: str | None = None
    decision: str | None = None
    outcome: str = "-"
    status: int | None = None
    findings: dict[str, int] = field(default_factory=dict)
    tokens_in: int | None = None
    tokens_out: int | None = None
    estimated: bool = False
    evidence: bool = False
    client: str | None = None
    method: str | None = None
    path: str | None = None
    records: int = 0

    @property
    def tokens(self) -> str:
        if self.tokens_in is None and self.tokens_out is None:
            return "-"
        text = f"{self.tokens_in if self.tokens_in is not None else '-'} / "
        text += f"{self.tokens_out if self.tokens_out is not None else '-'}"
        return text + (" (est.)" if self.estimated else "")


@dataclass(frozen=True, slots=True)
class Conversation:
    tenant: str
    conversation: str
    subject: str | None
    email: str | None
    turns: tuple[Turn, ...]
    #: More records matched than `MAX_RECORDS`: the oldest turns are not shown.
    truncated: bool = False


def _member(key: str, value: str) -> str:
    return f'"{key}":{json.dumps(value, ensure_ascii=False)}'


def load_conversation(
    conn: sqlite3.Connection,
    scope: ReviewerScope,
    tenant: str,
    conversation: str,
    subject: str | None = None,
) -> Conversation:
    """The turns of ``conversation`` in ``tenant`` (of ``subject``, where given)."""
    if not scope.allows(tenant):
        return Conversation(tenant, conversation, subject, None, ())
    scope_sql, params = scope.sql("tenant")
    if subject is not None:
        # the review's user index: (tenant, coalesce(subject, ''), seq), once the writer
        # has built it on an older store
        user_index = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'records_review_user'"
        ).fetchone()
        source, person, person_args = (
            "records INDEXED BY records_review_user" if user_index else "records",
            "coalesce(subject, '') = ?",
            [subject],
        )
    else:
        source, person, person_args = "records INDEXED BY records_tenant_ts", "1", []
    # instr() finds candidates cheaply; json_extract makes the match exact (a prompt or a
    # details value cannot fake the member).
    rows = conn.execute(
        f"SELECT seq, ts, body FROM {source} WHERE tenant = ? AND {person} AND {scope_sql} "  # noqa: S608 - constant SQL, values bound
        "AND instr(body, ?) > 0 AND json_extract(body, '$.request.conversation') = ? "
        "ORDER BY ts DESC, seq DESC LIMIT ?",
        [tenant, *person_args, *params, _member("conversation", conversation), conversation,
         MAX_RECORDS + 1],
    ).fetchall()  # fmt: skip
    truncated = len(rows) > MAX_RECORDS
    rows = rows[:MAX_RECORDS]
    rows.reverse()
    turns: dict[str, Turn] = {}
    email: str | None = None
    for seq, ts, body in rows:
        data: dict[str, Any] = json.loads(body)
        details = data.get("details") or {}
        first = details.get("flow_record") or data["record_id"]
        turn = turns.get(first)
        if turn is None:
            turn = turns[first] = Turn(key=first, ts=ts, seq=seq)
        _merge(turn, seq, data)
        email = email or (data.get("principal") or {}).get("email")
    ordered = tuple(sorted(turns.values(), key=lambda t: (t.ts, t.seq)))
    return Conversation(tenant, conversation, subject, email, ordered, truncated)


def _merge(turn: Turn, seq: int, data: dict[str, Any]) -> None:
    """Fold one more record of the flow into its turn (records come oldest first)."""
    turn.records += 1
    turn.seq = seq
    destination = data.get("destination") or {}
    decision = data.get("decision") or {}
    request = data.get("request") or {}
    turn.model = destination.get("model") or turn.model
    turn.decision = decision.get("action") or turn.decision
    turn.outcome = data.get("outcome") or turn.outcome
    turn.status = data.get("status") or turn.status
    turn.client = request.get("client") or turn.client
    turn.method = request.get("method") or turn.method
    turn.path = request.get("path") or turn.path
    findings: dict[str, int] = {}
    for item in data.get("findings") or ():
        findings[item["entity_type"]] = findings.get(item["entity_type"], 0) + int(item["count"])
    if findings:  # every record of a flow repeats its findings: the last one's stand
        turn.findings = findings
    usage = data.get("usage")
    if usage and (usage.get("tokens_in") is not None or usage.get("tokens_out") is not None):
        turn.tokens_in = usage.get("tokens_in")
        turn.tokens_out = usage.get("tokens_out")
        turn.estimated = bool(usage.get("estimated"))
    if data.get("evidence") is not None:
        turn.evidence = True
