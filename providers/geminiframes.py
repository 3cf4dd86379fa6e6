"""Gemini's web app answers in Google's length-prefixed frames, not SSE: decoding and reading.

The body of ``StreamGenerate`` is ``)]}'`` (an anti-JSON-hijacking prefix), then frames,
each ``<length>`` + ``\\n<JSON>\\n``: the length counts UTF-16 code units (JavaScript's
``String.length``) from the newline after the digits to the newline after the JSON, both
included. A frame's JSON is a list of envelopes; the answer rides in
``["wrb.fr", null, "<inner JSON>"]``, whose inner document carries the conversation ids at
``[1]`` (``[conversation id, response id]``) and the candidates at ``[4]``: each
``[candidate id, [text], ...]``, the text being the whole answer so far (cumulative), not
a delta; ``[37][0][0]`` of a candidate holds the thoughts, also cumulative. (As read by
HanaokaYuzu/Gemini-API, ``src/gemini_webapi/utils/parsing.py``
``parse_response_by_frame`` and ``client.py``; we read the format, not its code.)

``FrameDecoder`` splits the bytes into ``Raw`` pieces (the prefix, white space between
frames) and ``Frame`` bodies, so a rewriter can write every byte it does not change back
as it came. Linear time: every character is looked at once (frame bodies are cut with
one UTF-16 encoding of the slice at hand), nothing already read is searched again, and a
frame's pieces are joined once when it is complete. Bounded: a frame longer than
``max_frame`` units is ``too_large``; a length of more than 12 digits, a character other
than a digit or white space where a length should be, a frame cut inside a surrogate
pair, or bytes that are not UTF-8 lose the framing: ``broken``.

``GeminiWebStream`` reads the frames as a ``StreamParser``: the text each frame adds
(the cumulative text's new tail, or the whole text when it changed other than by
growing), and the conversation id. Gemini's app reports no usage; the caller estimates
it (``Usage.estimated``).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from . import jsonbody
from .jsonbody import BodyError
from .shapes import StreamEvent
from .sse import DEFAULT_MAX_EVENT_BYTES
from .streambase import StreamParser

PREFIX = ")]}'"
#: A length has at most this many digits (a trillion units is past any bound anyway).
MAX_LENGTH_DIGITS = 12


@dataclass(frozen=True, slots=True)
class Raw:
    """Text between frames (the prefix, white space), to be written back as it came."""

    text: str


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame: ``body`` is the text its length counts (newlines included)."""

    body: str

    @property
    def json_text(self) -> str:
        return self.body.strip()


def utf16_units(text: str) -> int:
    """JavaScript's ``String.length`` of ``text``."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def encode_frame(body: str) -> str:
    """A frame's wire form: its length in UTF-16 units, then its body."""
    return f"{utf16_units(body)}{body}"


class FrameDecoder:
    """Bytes of a frame stream in, ``Raw`` and ``Frame`` items out (see the module doc)."""

    def __init__(self, max_frame: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._max = max_frame
        self._utf8 = codecs.getincrementaldecoder("utf-8")("strict")
        self._state = "prefix"  # prefix, header, body
        self._prefix = ""  # what of the prefix has been seen
        self._digits = ""
        self._need = 0  # units still missing from the current frame
        self._pieces: list[str] = []
        self._length_text = ""  # the digits of the frame being read
        self.broken = False
        self.too_large = False
        #: Once broken: the bytes held or not read, for a caller that passes them on.
        self.rest = b""

    def feed(self, chunk: bytes) -> list[Raw | Frame]:
        if self.broken:
            return []
        try:
            text = self._utf8.decode(chunk)
        except UnicodeDecodeError as exc:
            return self._undecodable(exc)
        return self._read(text)

    def _undecodable(self, exc: UnicodeDecodeError) -> list[Raw | Frame]:
        """What came before bytes that are not UTF-8 is read; the framing is lost there."""
        raw = bytes(exc.object)
        out = self._read(raw[: exc.start].decode("utf-8", "replace"))
        if not self.broken:
            self._break(raw[exc.start :])
        else:
            self.rest += raw[exc.start :]
        return out

    def _break(self, unread: bytes = b"") -> None:
        held = self._prefix + self._digits
        if self._state == "body":
            held += self._length_text + "".join(self._pieces)
        self.rest = held.encode("utf-8", "backslashreplace") + unread
        self._prefix = self._digits = ""
        self._pieces = []
        self._need = 0
        self.broken = True

    def close(self) -> list[Raw | Frame]:
        """The end of the stream: what it holds that is whole (a cut frame is dropped)."""
        if self.broken:
            return []
        try:
            text = self._utf8.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            return self._undecodable(exc)
        out = self._read(text)
        if self._state == "prefix" and self._prefix:
            out.append(Raw(self._prefix))  # a body shorter than the prefix
            self._prefix = ""
        if self._digits or self._pieces or self._need:
            self._break()  # the stream ended inside a frame
        return out

    @property
    def pending(self) -> bool:
        """True while part of a frame (or its length) is held."""
        return bool(self._digits or self._pieces or self._need)

    def _read(self, text: str) -> list[Raw | Frame]:
        out: list[Raw | Frame] = []
        if self._state == "prefix":
            seen = self._prefix + text
            if len(seen) < len(PREFIX) and PREFIX.startswith(seen):
                self._prefix = seen  # maybe the prefix: wait for more
                return out
            self._prefix, self._state = "", "header"
            if seen.startswith(PREFIX):
                out.append(Raw(PREFIX))
                seen = seen[len(PREFIX) :]
            text = seen
        pos, end = 0, len(text)
        while pos < end:
            if self._state == "header":
                pos = self._read_header(text, pos, out)
            else:
                pos = self._read_body(text, pos, out)
            if self.broken:
                if not self.rest:
                    self._break(text[pos:].encode("utf-8", "backslashreplace"))
                break
        return out

    def _read_header(self, text: str, pos: int, out: list[Raw | Frame]) -> int:
        end = len(text)
        start = pos
        if not self._digits:
            while pos < end and text[pos] in " \t\r\n":
                pos += 1
            if pos > start:
                out.append(Raw(text[start:pos]))
        while pos < end and text[pos].isascii() and text[pos].isdigit():
            self._digits += text[pos]
            pos += 1
            if len(self._digits) > MAX_LENGTH_DIGITS:
                self.broken = True
                return pos
        if pos < end:
            if not self._digits:
                self.broken = True  # neither white space nor a length: framing lost
                return pos
            self._need = int(self._digits)
            self._length_text, self._digits = self._digits, ""
            if self._need > self._max:
                self.too_large = self.broken = True
                return end
            self._state = "body"
        return pos

    def _read_body(self, text: str, pos: int, out: list[Raw | Frame]) -> int:
        piece = text[pos : pos + self._need]  # at most need characters: units >= characters
        encoded = piece.encode("utf-16-le", "surrogatepass")
        if len(encoded) > 2 * self._need:  # astral characters: cut at the unit count
            cut = encoded[: 2 * self._need]
            if 0xD800 <= int.from_bytes(cut[-2:], "little") <= 0xDBFF:
                self.broken = True  # the length ends inside a surrogate pair
                return pos
            piece = cut.decode("utf-16-le")
            encoded = cut
        self._pieces.append(piece)
        self._need -= len(encoded) // 2
        if self._need == 0:
            out.append(Frame("".join(self._pieces)))
            self._pieces, self._length_text = [], ""
            self._state = "header"
        return pos + len(piece)


def envelopes(frame: Frame) -> list[object]:
    """The envelopes of a frame (``[]`` when its JSON cannot be read)."""
    try:
        doc = jsonbody.loads_answer(frame.json_text)
    except BodyError:
        return []
    return doc if isinstance(doc, list) else []


def inner_document(envelope: object) -> object | None:
    """The inner document of a ``["wrb.fr", null, "<JSON>"]`` envelope, else ``None``."""
    if not (isinstance(envelope, list) and len(envelope) > 2 and envelope[0] == "wrb.fr"):
        return None
    raw = envelope[2]
    if not isinstance(raw, str):
        return None
    try:
        return jsonbody.loads_answer(raw)
    except BodyError:
        return None


def _at(doc: object, *path: int) -> object:
    for step in path:
        if not isinstance(doc, list) or step >= len(doc):
            return None
        doc = doc[step]
    return doc


def answer_texts(inner: object) -> tuple[str | None, str | None]:
    """(cumulative text of the first candidate, its cumulative thoughts)."""
    text = _at(inner, 4, 0, 1, 0)
    thoughts = _at(inner, 4, 0, 37, 0, 0)
    return (
        text if isinstance(text, str) else None,
        thoughts if isinstance(thoughts, str) else None,
    )


def conversation_id(inner: object) -> str | None:
    cid = _at(inner, 1, 0)
    return cid if isinstance(cid, str) and 0 < len(cid) <= 128 else None


class GeminiWebStream(StreamParser):
    """A ``StreamParser`` for Gemini's web answers (see the module doc)."""

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._frames = FrameDecoder(max_event_bytes)
        self._text = ""
        self._thoughts = ""
        self.conversation_id: str | None = None

    @property
    def broken(self) -> bool:
        return self._frames.broken

    @property
    def too_large(self) -> bool:
        return self._frames.too_large

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        return self._events(self._frames.feed(chunk))

    def close(self) -> list[StreamEvent]:
        return self._events(self._frames.close())

    def _events(self, items: list[Raw | Frame]) -> list[StreamEvent]:
        out = []
        for item in items:
            if not isinstance(item, Frame):
                continue
            for envelope in envelopes(item):
                inner = inner_document(envelope)
                if inner is None:
                    continue
                self.conversation_id = conversation_id(inner) or self.conversation_id
                text, thoughts = answer_texts(inner)
                added = self._grown("_thoughts", thoughts) + self._grown("_text", text)
                out.append(StreamEvent(added or None, None, "wrb.fr"))
        return out

    def _grown(self, name: str, new: str | None) -> str:
        """What ``new`` (cumulative) adds to what was seen: its tail, or all of it when it
        changed other than by growing."""
        if new is None:
            return ""
        old: str = getattr(self, name)
        setattr(self, name, new)
        return new[len(old) :] if new.startswith(old) else new
