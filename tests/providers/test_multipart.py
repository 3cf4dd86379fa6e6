"""The multipart/form-data reader: the parts SDKs send, and an attack table of bodies it
must refuse with its own error (never a traceback, never a guess)."""

from __future__ import annotations

import time

import httpx
import pytest

from warden.providers.multipart import MAX_PARTS, MultipartError, boundary_of, parse_form


def encoded(files: dict[str, tuple[str, bytes, str]], data: dict[str, str]) -> tuple[str, bytes]:
    """A body as httpx (the openai and anthropic Python SDKs' HTTP client) encodes it."""
    request = httpx.Request("POST", "https://x.test/", files=files, data=data)
    return request.headers["content-type"], request.read()


def test_an_sdk_body_gives_its_file_and_fields() -> None:
    content_type, body = encoded(
        {"file": ("q3 report.pdf", b"%PDF-1.7\r\n--x\r\n", "application/pdf")},
        {"purpose": "assistants"},
    )
    boundary = boundary_of(content_type)
    assert boundary is not None
    parts = {p.name: p for p in parse_form(body, boundary)}
    assert parts["purpose"].data == b"assistants" and parts["purpose"].filename is None
    assert parts["file"].filename == "q3 report.pdf"
    assert parts["file"].content_type == "application/pdf"
    assert parts["file"].data == b"%PDF-1.7\r\n--x\r\n"  # a near-delimiter inside the data stays


def test_rfc5987_filename_and_quoted_escapes() -> None:
    body = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a\\"b.txt"; '
        b"filename*=UTF-8''r%C3%A9sum%C3%A9.txt\r\n\r\nhi\r\n--b--\r\n"
    )
    (part,) = parse_form(body, "b")
    assert part.filename == "résumé.txt"


@pytest.mark.parametrize(
    ("content_type", "boundary"),
    [
        ("multipart/form-data; boundary=abc", "abc"),
        ('Multipart/Form-Data; charset=utf-8; boundary="a b:c"', "a b:c"),
        ("multipart/mixed; boundary=abc", None),
        ("application/json", None),
        ("multipart/form-data", None),
        ("multipart/form-data; boundary=", None),
        ("multipart/form-data; boundary=" + "a" * 71, None),
        ('multipart/form-data; boundary="ends with space "', None),
        (None, None),
    ],
)
def test_boundary_of(content_type: str | None, boundary: str | None) -> None:
    assert boundary_of(content_type) == boundary


PART = b'Content-Disposition: form-data; name="f"; filename="x"\r\n\r\ndata\r\n'


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "no multipart delimiter"),
        (b"--b\r\n" + PART, "ends before its closing delimiter"),  # no close delimiter
        (b"--b\r\n" + PART[:-2], "ends before its closing delimiter"),
        (b"--bX\r\n" + PART + b"--b--", "not followed by a line break"),
        (b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--", "no Content-Disposition"),
        (b"--b\r\nContent-Disposition: attachment; name=f\r\n\r\nx\r\n--b--", "not form-data"),
        (b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--", "no field name"),
        (b"--b\r\nno colon here\r\n\r\nx\r\n--b--", "not 'Name: value'"),
        (b"--b\r\nX: " + b"y" * 9000 + b"\r\n\r\nx\r\n--b--", "do not end within the bound"),
        (b"--b\r\n" + PART + b"--b\r\n" + PART * 0 + b"\r\nx\r\n--b--", "no Content-Disposition"),
        ((b"--b\r\n" + PART) * (MAX_PARTS + 1) + b"--b--", f"more than {MAX_PARTS} parts"),
    ],
)
def test_hostile_bodies_are_refused(body: bytes, reason: str) -> None:
    with pytest.raises(MultipartError, match=reason):
        parse_form(body, "b")


def test_a_boundary_rfc2046_forbids_is_refused() -> None:
    with pytest.raises(MultipartError, match="boundary is not valid"):
        parse_form(b"--\r\n", "bad\nboundary")


def test_parsing_is_linear_in_the_body() -> None:
    # Many near-delimiters ("\r\n--" without the boundary) in a large part: one pass.
    # The bound is generous (a loaded 2-core CI machine); quadratic work would take minutes.
    data = b"\r\n--a" * 400_000
    body = b"--bound\r\nContent-Disposition: form-data; name=f\r\n\r\n" + data + b"\r\n--bound--"
    started = time.perf_counter()
    (part,) = parse_form(body, "bound")
    assert part.data == data
    assert time.perf_counter() - started < 5
