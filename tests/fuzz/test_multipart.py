"""Fuzzing the multipart/form-data reader (providers/multipart.py), which reads every file
upload to the Files APIs and Claude's web app.

Properties: any bytes under any boundary give parts or ``MultipartError``, never another
exception; a body encoded by httpx (the SDKs' HTTP client) from any fields and file
contents parses back to exactly those fields and contents.
"""

from __future__ import annotations

import httpx
from hypothesis import given
from hypothesis import strategies as st

from warden.providers.multipart import MultipartError, boundary_of, parse_form

_BOUNDARY = st.from_regex(r"[0-9A-Za-z'()+_,\-./:=?]{1,70}", fullmatch=True)
_PIECES = st.sampled_from(
    [
        b"--",
        b"\r\n",
        b"\r\n\r\n",
        b"Content-Disposition: form-data; name=",
        b'"',
        b";",
        b"filename*=UTF-8''%C3",
        b"\\",
    ]
)


@given(st.lists(st.one_of(st.binary(max_size=40), _PIECES), max_size=40), _BOUNDARY)
def test_any_body_gives_parts_or_the_readers_error(pieces: list[bytes], boundary: str) -> None:
    body = b"".join(pieces)
    for candidate in (body, f"--{boundary}\r\n".encode() + body + f"\r\n--{boundary}--".encode()):
        try:
            parts = parse_form(candidate, boundary)
        except MultipartError as exc:
            assert exc.reason.startswith(("the ", "a "))  # fixed text, never body bytes
        else:
            assert all(isinstance(p.data, bytes) for p in parts)


@given(
    st.dictionaries(
        st.from_regex(r"[a-z_]{1,12}", fullmatch=True), st.text(max_size=30), max_size=5
    ),
    st.binary(max_size=300),
    st.text(min_size=1, max_size=30).filter(lambda s: "\x00" not in s),
)
def test_httpx_bodies_round_trip(fields: dict[str, str], content: bytes, filename: str) -> None:
    fields.pop("upload", None)
    request = httpx.Request(
        "POST",
        "https://x.test/",
        files={"upload": (filename, content, "application/pdf")},
        data=fields,
    )
    boundary = boundary_of(request.headers["content-type"])
    assert boundary is not None
    parts = parse_form(request.read(), boundary)
    got = {p.name: p for p in parts}
    assert got["upload"].data == content
    assert {k: got[k].data.decode() for k in fields} == fields
