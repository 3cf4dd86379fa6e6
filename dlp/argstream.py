"""Restoring pseudonyms inside the strings of a JSON document that arrives in pieces: the
arguments of a streamed tool call (``{"to": "<CUSTOMER_1>"}`` as ``{"to": "<CUS`` +
``TOMER_1>"}``).

A placeholder sits inside a JSON string, so it may be split across pieces anywhere, even
inside an escape, and it may be written with escapes (``\\u003cCUSTOMER_1\\u003e``, as
encoders that escape HTML characters do). ``JsonTextRestorer`` follows the document's
strings, decodes escapes to compare what a string says with the vault's placeholders, and
replaces a placeholder's raw text with its value JSON-escaped, so the joined pieces stay
valid JSON and parse to the original value. Everything else passes through byte for byte.
It holds back at most one escape and the raw text of a proper placeholder prefix.

Linear time: runs of characters that cannot start a placeholder or an escape are copied
in one step (a regular expression finds the next interesting character).
"""

from __future__ import annotations

import json
import re

from .operators import PseudonymVault

_SIMPLE_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_OUTSIDE = re.compile(r'"')
_INSIDE = re.compile(r'["\\<]')
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")


def _decode_escape(raw: str) -> str:
    """One escape (``\\n``, ``\\u003c``) as the character it stands for; an invalid one
    stands for itself (it cannot be part of a placeholder)."""
    if raw[1] == "u":
        return chr(int(raw[2:], 16)) if _HEX4.fullmatch(raw[2:]) else raw
    return _SIMPLE_ESCAPES.get(raw[1], raw)


class JsonTextRestorer:
    def __init__(self, vault: PseudonymVault) -> None:
        self._vault = vault
        self._prefixes = frozenset(p[:i] for p in vault for i in range(1, len(p)))
        self._in_string = False
        self._escape = ""  # the raw text of an unfinished escape
        self._held_raw: list[str] = []  # raw text of each held character
        self._held = ""  # the held characters, decoded: a proper prefix of a placeholder

    @property
    def held(self) -> int:
        return len(self._escape) + sum(map(len, self._held_raw))

    def feed(self, piece: str) -> str:
        if not self._vault:
            return piece
        out: list[str] = []
        pos, end = 0, len(piece)
        while pos < end:
            if self._escape:
                need = (
                    6
                    if self._escape[1:2] == "u" or (len(self._escape) == 1 and piece[pos] == "u")
                    else 2
                )
                take = piece[pos : pos + need - len(self._escape)]
                self._escape += take
                pos += len(take)
                if len(self._escape) == need:
                    raw, self._escape = self._escape, ""
                    self._char(raw, _decode_escape(raw), out)
                continue
            if not self._in_string:
                m = _OUTSIDE.search(piece, pos)
                stop = end if m is None else m.end()
                out.append(piece[pos:stop])
                pos = stop
                self._in_string = m is not None
                continue
            if not self._held:
                m = _INSIDE.search(piece, pos)
                stop = end if m is None else m.start()
                out.append(piece[pos:stop])
                pos = stop
                if m is None:
                    break
            ch = piece[pos]
            pos += 1
            if ch == "\\":
                self._escape = ch
            elif ch == '"':
                self._release(out)
                out.append(ch)
                self._in_string = False
            else:
                self._char(ch, ch, out)
        return "".join(out)

    def flush(self) -> str:
        """What is held when the document ends (only a broken document leaves any)."""
        out = [*self._held_raw, self._escape]
        self._held_raw, self._held, self._escape = [], "", ""
        return "".join(out)

    def _char(self, raw: str, char: str, out: list[str]) -> None:
        if not self._held and char != "<":
            out.append(raw)
            return
        self._held_raw.append(raw)
        self._held += char
        while self._held:
            if self._held[0] != "<":
                i = self._held.find("<")
                i = len(self._held) if i < 0 else i
                out.extend(self._held_raw[:i])
                del self._held_raw[:i]
                self._held = self._held[i:]
                continue
            original = self._vault.original(self._held)
            if original is not None:
                out.append(json.dumps(original, ensure_ascii=False)[1:-1])
                self._held_raw, self._held = [], ""
                return
            if self._held in self._prefixes:
                return
            out.append(self._held_raw.pop(0))  # this "<" starts no placeholder
            self._held = self._held[1:]

    def _release(self, out: list[str]) -> None:
        out.extend(self._held_raw)
        self._held_raw, self._held = [], ""


def restore_json_text(text: str, vault: PseudonymVault) -> str:
    """A whole JSON document (as text) with the vault's placeholders in its strings
    restored; text that is not JSON is restored as far as it follows JSON's string rules."""
    r = JsonTextRestorer(vault)
    return r.feed(text) + r.flush()
