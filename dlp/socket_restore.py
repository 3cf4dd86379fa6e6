"""Restoring pseudonyms in WebSocket server events (OpenAI Responses WebSocket mode and
Realtime): one JSON event per message, where a streamed text arrives as ``*.delta``
events and a placeholder may be split across two of them (``<CUST`` + ``OMER_1>``).

The deltas of one output (its event family, item id, output and content index) go
through one ``PseudonymRestorer``: it holds back only a tail that may still become a
placeholder. The output's ``*.done`` event carries the whole text and is restored as a
document; a tail still held then (the model's text really ended in ``<CUST``) is sent
first as one more delta, so the deltas add up to the done event's text. Every other event
is restored as a complete JSON document (``restore_json_response``). An event that is not
JSON passes unchanged.

This is a new entry beside ``restore.py`` (which restores SSE streams), not a change to it.
"""

from __future__ import annotations

import json
from typing import Any

from .operators import PseudonymVault
from .restore import PseudonymRestorer, restore_json_response

__all__ = ["MAX_OPEN_OUTPUTS", "SocketRestorer", "merge_vaults"]

#: Outputs restored as streams at once; beyond, deltas are restored event by event (a
#: peer that opens endless outputs gets no more memory).
MAX_OPEN_OUTPUTS = 256
#: Placeholders a session's vault keeps (the newest win).
MAX_SESSION_PLACEHOLDERS = 10_000

type _Key = tuple[str, object, object, object]


def merge_vaults(older: PseudonymVault | None, newer: PseudonymVault) -> PseudonymVault:
    """One vault for a session: ``newer``'s values win where both name a placeholder (each
    scan numbers its placeholders from 1, and the answer now in flight is to the newest)."""
    values: dict[str, str] = {}
    for vault in (older, newer):
        for placeholder in vault or ():
            value = vault.original(placeholder) if vault is not None else None
            if value is not None:
                values[placeholder] = value
    if len(values) > MAX_SESSION_PLACEHOLDERS:
        values = dict(list(values.items())[-MAX_SESSION_PLACEHOLDERS:])
    return PseudonymVault(values)


def _dumps(doc: object) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


#: What the held tail's delta copies from the ``.done`` event: where the text belongs, and
#: on a multiplexed socket the lane (``stream_id``) the client routes it by.
_TAIL_KEYS = ("stream_id", "item_id", "output_index", "content_index")


class SocketRestorer:
    """Pseudonyms restored in one session's server events (see the module doc)."""

    def __init__(self, vault: PseudonymVault) -> None:
        self.vault = vault
        self._outputs: dict[_Key, PseudonymRestorer] = {}

    def restore(self, content: bytes) -> list[bytes]:
        """``content`` restored: one event, or two when a held tail goes out first."""
        try:
            doc = json.loads(content)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return [content]
        if not isinstance(doc, dict):
            return [restore_json_response(None, content, self.vault)]
        kind = doc.get("type")
        if isinstance(kind, str) and isinstance(doc.get("delta"), str) and kind.endswith(".delta"):
            return [self._delta(doc, kind[: -len(".delta")], content)]
        if isinstance(kind, str) and kind.endswith(".done"):
            family = kind[: -len(".done")]
            restorer = self._outputs.pop(self._key(family, doc), None)
            held = restorer.flush() if restorer is not None else ""
            done = restore_json_response(None, content, self.vault)
            if held:
                tail = {k: doc[k] for k in _TAIL_KEYS if k in doc}
                return [_dumps({"type": f"{family}.delta", **tail, "delta": held}), done]
            return [done]
        return [restore_json_response(None, content, self.vault)]

    @staticmethod
    def _key(family: str, doc: dict[str, Any]) -> _Key:
        return (family, doc.get("item_id"), doc.get("output_index"), doc.get("content_index"))

    def _delta(self, doc: dict[str, Any], family: str, content: bytes) -> bytes:
        key = self._key(family, doc)
        restorer = self._outputs.get(key)
        if restorer is None:
            if len(self._outputs) >= MAX_OPEN_OUTPUTS:
                return restore_json_response(None, content, self.vault)
            restorer = self._outputs[key] = PseudonymRestorer(self.vault)
        delta = doc["delta"]
        new = restorer.feed(delta)
        if new == delta:
            return content
        doc["delta"] = new
        return _dumps(doc)
