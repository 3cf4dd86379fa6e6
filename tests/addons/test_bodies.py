"""Bounded content-decoding: every coding decodes, and a bomb stops at the limit without
ever allocating much more than it (issue 19, finding 5)."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from collections.abc import Callable

import brotli
import pytest
import zstandard

from warden.addons.bodies import STEP, BodyTooLarge, Decoder, UndecodableBody, decoded

TEXT = b'{"messages": [{"role": "user", "content": "hello warden"}]}' * 200


def _deflate_raw(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": zstandard.ZstdCompressor().compress,
    "identity": lambda b: b,
    "": lambda b: b,
}


@pytest.mark.parametrize("encoding", [*ENCODERS, "GZIP ", "Br"])
def test_each_coding_decodes_whole_and_chunk_by_chunk(encoding: str) -> None:
    raw = ENCODERS[encoding.strip().lower()](TEXT)
    assert decoded(raw, encoding, len(TEXT)) == TEXT
    decoder = Decoder(encoding, len(TEXT))
    out = b"".join(decoder.feed(raw[i : i + 7]) for i in range(0, len(raw), 7))
    assert out + b"".join(decoder.finish()) == TEXT


@pytest.mark.parametrize(
    "raw",
    [_deflate_raw(TEXT), _deflate_raw(TEXT)[:1] + _deflate_raw(TEXT)[1:]],
    ids=["raw-deflate", "raw-deflate-again"],
)
def test_raw_deflate_is_accepted_as_browsers_do(raw: bytes) -> None:
    assert decoded(raw, "deflate", len(TEXT)) == TEXT


def test_gzip_members_follow_each_other() -> None:
    assert decoded(gzip.compress(b"a" * 10) + gzip.compress(b"b" * 10), "gzip", 20) == (
        b"a" * 10 + b"b" * 10
    )


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd", "identity"])
def test_one_byte_over_the_limit_is_too_large(encoding: str) -> None:
    raw = ENCODERS[encoding](TEXT)
    with pytest.raises(BodyTooLarge) as caught:
        decoded(raw, encoding, len(TEXT) - 1)
    assert caught.value.limit == len(TEXT) - 1


@pytest.mark.parametrize(
    ("encoding", "raw"),
    [
        ("gzip", b"\x1f\x8b\x08\x00garbage-after-a-gzip-magic"),
        ("gzip", gzip.compress(TEXT)[:-20] + b"\xff" * 20),
        ("deflate", b"\x78\x9c\xff\xff\xff"),
        ("br", b"\xff\xff\xff\xff not brotli"),
        ("zstd", b"\x28\xb5\x2f\xfd\x08\xff not zstd"),
        ("gzip", gzip.compress(TEXT)[:-30]),
        ("br", ENCODERS["br"](TEXT)[:-5]),
        ("compress", b"anything"),
        ("gzip, br", ENCODERS["br"](gzip.compress(TEXT))),
        ("\x00\r\n", b"anything"),
    ],
    ids=[
        *("gzip-head", "gzip-tail", "deflate", "br", "zstd", "gzip-cut", "br-cut"),
        *("unknown", "list", "junk"),
    ],
)
def test_corrupt_or_unknown_codings_are_undecodable(encoding: str, raw: bytes) -> None:
    with pytest.raises(UndecodableBody):
        decoded(raw, encoding, 10 * len(TEXT))


def test_zstd_frame_asking_for_a_window_over_8_mib_is_undecodable() -> None:
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=24)
    raw = zstandard.ZstdCompressor(compression_params=params).compress(b"x" * (20 << 20))
    with pytest.raises(UndecodableBody, match="zstd"):
        decoded(raw, "zstd", 64 << 20)


MIB = 1024 * 1024


def _bombs() -> dict[str, bytes]:
    """256 MiB of zeros in each coding: 0.3 MB or less on the wire."""
    zeros = bytes(16 * MIB)
    member = gzip.compress(zeros, 9)
    z = zlib.compressobj(9)
    br = brotli.Compressor(quality=1)
    zs = zstandard.ZstdCompressor().compressobj()
    deflate, brotli_out, zstd_out = [], [], []
    for _ in range(16):
        deflate.append(z.compress(zeros))
        brotli_out.append(br.process(zeros))
        zstd_out.append(zs.compress(zeros))
    return {
        "gzip": member * 16,
        "deflate": b"".join(deflate) + z.flush(),
        "br": b"".join(brotli_out) + br.finish(),
        "zstd": b"".join(zstd_out) + zs.flush(),
    }


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    return _bombs()


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
@pytest.mark.parametrize("whole", [True, False], ids=["whole", "streamed"])
def test_a_bomb_stops_at_the_limit_without_allocating_its_size(
    bombs: dict[str, bytes], encoding: str, whole: bool
) -> None:
    """Allocations through Python's allocator, traced: the output up to the limit, the
    piece that passes it, zlib's copy of input it has not consumed and its state (a 32 KiB
    window): the limit plus a few steps, whatever the bomb's size. (brotli's and zstd's
    windows, at most 16 and 8 MiB, are their own C allocations; the gateway RSS test in
    tests/e2e/test_limits.py covers them.)"""
    raw = bombs[encoding]
    limit = 1 * MIB
    tracemalloc.start()
    try:
        with pytest.raises(BodyTooLarge):
            if whole:
                decoded(raw, encoding, limit)
            else:
                decoder = Decoder(encoding, limit)
                for i in range(0, len(raw), 16384):
                    for _ in decoder.pieces(raw[i : i + 16384]):
                        pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < limit + 5 * STEP, f"{encoding}: peak {peak} bytes for a {limit}-byte limit"
