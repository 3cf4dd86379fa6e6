"""Structured logging for the gateway process: text for people, JSON lines for collectors.

Log messages carry values from outside (a portal callback's ``error``, a CONNECT host, a
client's reason to fail). In text format one record must stay one line, so a CR, LF or
any other control or line-separator character in a message is written escaped (``\\n``,
``\\x1b``, ``\\u2028``): nobody can forge a line that looks like the gateway's own. A
traceback is ours and keeps its lines, each continuation line indented so it cannot pass
for a record either. JSON lines escape by construction.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators: each can end or
# rewrite a line in a terminal, a pager or a log shipper that splits on them.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def one_line(text: str) -> str:
    """``text`` with every control and line-separator character escaped (and ``\\`` as
    ``\\\\``, so an escape sequence in the input stays distinguishable from ours)."""
    return _UNSAFE.sub(_escape_char, text.replace("\\", "\\\\"))


class TextFormatter(logging.Formatter):
    """One line per record: the message escaped, a traceback's lines indented."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = one_line(record.message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        head, sep, tail = text.partition("\n")  # only a traceback or stack adds lines
        if not sep:
            return head
        return head + "\n" + "\n".join("    " + one_line(line) for line in tail.split("\n"))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        # json escapes the C0 controls; these three also end a line for str.splitlines.
        text = json.dumps(entry, ensure_ascii=False)
        return (
            text.replace("\x85", "\\u0085")
            .replace("\u2028", "\\u2028")
            .replace("\u2029", "\\u2029")
        )


def setup(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # mitmproxy logs every client connect/disconnect at info; that is noise for an operator.
    logging.getLogger("mitmproxy").setLevel(max(logging.WARNING, root.level))
