"""The text log keeps one record per line whatever a logged value holds (issue 19, 9)."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from warden.gateway import logs

RECORD_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")
FORGED = "2026-12-02 06:00:00,000 INFO    warden.auth: login.ok tenant=acme sub=admin"

# Each value is what a client could put into a logged field (a portal callback's
# `error`, a CONNECT host, a reason): every way to end or rewrite a line.
ATTACKS = {
    "lf": "x\n" + FORGED,
    "crlf": "x\r\n" + FORGED,
    "cr": "x\r" + FORGED,
    "vertical tab": "x\x0b" + FORGED,
    "form feed": "x\x0c" + FORGED,
    "file separator": "x\x1c" + FORGED,
    "next line (NEL)": "x\x85" + FORGED,
    "line separator": "x\u2028" + FORGED,
    "paragraph separator": "x\u2029" + FORGED,
    "terminal escape": "x\x1b[2K\x1b[1G" + FORGED,
    "nul": "x\x00" + FORGED,
    "many lines": "x" + ("\n" + FORGED) * 50,
}


@pytest.fixture
def stderr() -> Iterator[io.StringIO]:
    """What `logs.setup`'s handler writes (then the root logger as it was)."""
    buffer, root = io.StringIO(), logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield buffer
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def setup(fmt: str, buffer: io.StringIO) -> None:
    logs.setup("info", fmt)
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)


@pytest.mark.parametrize("value", ATTACKS.values(), ids=ATTACKS.keys())
def test_a_logged_value_cannot_forge_a_text_line(stderr: io.StringIO, value: str) -> None:
    setup("text", stderr)
    logging.getLogger("warden.auth").info("login.failed reason=idp_error:%s", value)
    text = stderr.getvalue()
    assert text.endswith("\n")
    lines = text.splitlines()  # splits on every separator a reader might split on
    assert len(lines) == 1, lines
    assert RECORD_START.match(lines[0]) and "login.failed reason=idp_error:x\\" in lines[0]


@pytest.mark.parametrize("value", ATTACKS.values(), ids=ATTACKS.keys())
def test_a_logged_value_cannot_forge_a_json_line(stderr: io.StringIO, value: str) -> None:
    setup("json", stderr)
    logging.getLogger("warden.auth").info("reason=%s", value)
    lines = stderr.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert json.loads(lines[0])["msg"] == "reason=" + value  # escaped, not lost


def test_escaping_is_unambiguous_and_keeps_plain_text() -> None:
    assert logs.one_line("plain ascii, ünïcode, tabs\tand\\n") == (
        "plain ascii, ünïcode, tabs\\tand\\\\n"
    )
    assert logs.one_line("a\nb") != logs.one_line("a\\nb")


def test_a_traceback_keeps_its_lines_but_none_passes_for_a_record(stderr: io.StringIO) -> None:
    setup("text", stderr)
    try:
        raise ValueError("bad value\n" + FORGED)
    except ValueError:
        logging.getLogger("warden").exception("failed on %s", "x\n" + FORGED)
    lines = stderr.getvalue().splitlines()
    assert len(lines) > 2 and "Traceback" in lines[1]
    assert [ln for ln in lines if RECORD_START.match(ln)] == [lines[0]]
