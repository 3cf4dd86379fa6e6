"""Restoring pseudonyms in WebSocket server events: deltas of one output as one stream
(placeholders split across events), done events and other events as documents."""

from __future__ import annotations

import json
from typing import Any

import pytest

from warden.dlp.operators import PseudonymVault
from warden.dlp.socket_restore import MAX_OPEN_OUTPUTS, SocketRestorer, merge_vaults

VAULT = PseudonymVault({"<CUSTOMER_1>": "Jane Roe", "<PERSON_2>": "Max Muster"})


def delta(text: str, item: str = "msg_1", kind: str = "response.output_text") -> bytes:
    doc = {"type": f"{kind}.delta", "item_id": item, "output_index": 0, "content_index": 0}
    return json.dumps({**doc, "delta": text}).encode()


def done(text: str, item: str = "msg_1", kind: str = "response.output_text") -> bytes:
    doc = {"type": f"{kind}.done", "item_id": item, "output_index": 0, "content_index": 0}
    return json.dumps({**doc, "text": text}).encode()


def deltas_of(events: list[bytes]) -> str:
    docs = [json.loads(e) for e in events]
    return "".join(d.get("delta", "") for d in docs if d["type"].endswith(".delta"))


SPLITS = [
    ["Dear <CUSTOMER_1>, hi"],
    ["Dear <CUS", "TOMER_1>, hi"],
    ["Dear <", "C", "U", "STOMER_1", ">", ", hi"],
    ["Dear ", "<CUSTOMER_1", ">, hi"],
]


@pytest.mark.parametrize("parts", SPLITS)
@pytest.mark.parametrize(
    "kind",
    [
        "response.output_text",
        "response.output_audio_transcript",
        "response.function_call_arguments",
    ],
)
def test_a_placeholder_split_across_deltas_is_restored(parts: list[str], kind: str) -> None:
    restorer = SocketRestorer(VAULT)
    out: list[bytes] = []
    for part in parts:
        out += restorer.restore(delta(part, kind=kind))
    final = restorer.restore(done("".join(parts), kind=kind))
    assert deltas_of(out + final) == "Dear Jane Roe, hi"
    assert json.loads(final[-1])["text"] == "Dear Jane Roe, hi"


def test_a_tail_held_at_the_end_goes_out_before_the_done_event() -> None:
    restorer = SocketRestorer(VAULT)
    first = restorer.restore(delta("see <CUST"))
    assert deltas_of(first) == "see "
    final = restorer.restore(done("see <CUST"))
    assert [json.loads(e)["type"] for e in final] == [
        "response.output_text.delta",
        "response.output_text.done",
    ]
    assert deltas_of(first + final) == "see <CUST"


def test_a_held_tail_on_a_lane_names_the_lane() -> None:
    """On a multiplexed socket the client routes events by ``stream_id``: the tail the
    restorer sends ahead of the done event carries the lane the done event names."""
    restorer = SocketRestorer(VAULT)
    on_lane = {"stream_id": "lane-7"}
    restorer.restore(json.dumps({**json.loads(delta("see <CUST")), **on_lane}).encode())
    final = restorer.restore(json.dumps({**json.loads(done("see <CUST")), **on_lane}).encode())
    assert [json.loads(e)["stream_id"] for e in final] == ["lane-7", "lane-7"]


def test_outputs_are_restored_independently() -> None:
    restorer = SocketRestorer(VAULT)
    out = restorer.restore(delta("a <CUSTO", item="one"))
    out += restorer.restore(delta("b <PERSON_2> c", item="two"))
    out += restorer.restore(delta("MER_1> d", item="one"))
    docs = [json.loads(e) for e in out]
    assert [d["delta"] for d in docs] == ["a ", "b Max Muster c", "Jane Roe d"]


OTHER_EVENTS: list[tuple[bytes, Any]] = [
    (b"not json", b"not json"),
    (b'{"type":"response.completed","response":{"output":[{"text":"<CUSTOMER_1>"}]}}', "Jane Roe"),
    (b'["<CUSTOMER_1>"]', "Jane Roe"),
    (b'{"type":"session.created"}', b'{"type":"session.created"}'),
    (b'{"type":"x.delta","delta":5}', b'{"type":"x.delta","delta":5}'),
]


@pytest.mark.parametrize(("content", "expected"), OTHER_EVENTS)
def test_other_events(content: bytes, expected: Any) -> None:
    [out] = SocketRestorer(VAULT).restore(content)
    if isinstance(expected, bytes):
        assert out == expected
    else:
        assert expected.encode() in out and b"<CUSTOMER_1>" not in out


def test_the_newest_vault_wins() -> None:
    older = PseudonymVault({"<CUSTOMER_1>": "Jane Roe", "<EMAIL_1>": "a@b.example"})
    newer = PseudonymVault({"<CUSTOMER_1>": "Contoso Ltd"})
    merged = merge_vaults(older, newer)
    assert merged.original("<CUSTOMER_1>") == "Contoso Ltd"
    assert merged.original("<EMAIL_1>") == "a@b.example"


def test_open_outputs_are_bounded() -> None:
    restorer = SocketRestorer(VAULT)
    for i in range(MAX_OPEN_OUTPUTS + 50):
        restorer.restore(delta("x <CUS", item=f"item{i}"))
    assert len(restorer._outputs) == MAX_OPEN_OUTPUTS
    # beyond the bound an event is restored on its own: complete placeholders still are
    [out] = restorer.restore(delta("<CUSTOMER_1>", item="late"))
    assert json.loads(out)["delta"] == "Jane Roe"
