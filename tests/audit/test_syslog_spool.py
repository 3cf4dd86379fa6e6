"""The on-disk syslog spool: order, commit and segment deletion, bound, torn tails, prepend."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from warden.audit.spool import MAGIC, Spool


def messages(n: int, start: int = 0) -> list[bytes]:
    return [f"message {i:04d} ".encode() * 3 for i in range(start, start + n)]


def drain(spool: Spool) -> list[bytes]:
    out: list[bytes] = []
    while batch := spool.read(7):
        out += [e.message for e in batch]
    return out


def segments(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.seg"))


def test_order_across_segments_and_reopen(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=300)
    sent = messages(40)
    assert spool.extend(sent) == 0
    assert len(segments(tmp_path)) > 3
    assert drain(spool) == sent
    spool.close()
    again = Spool(tmp_path, max_bytes=1 << 20)
    assert drain(again) == sent  # nothing committed: all of it comes back after a restart
    assert again.torn == []


def test_commit_deletes_only_fully_delivered_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=300)
    spool.extend(messages(40))
    first_segments = segments(tmp_path)
    batch = spool.read(10)
    spool.commit(batch[-1].position)
    remaining = segments(tmp_path)
    assert remaining[0] != first_segments[0]
    assert all(p in first_segments for p in remaining)
    spool.rewind()
    following = spool.read(1)[0]
    assert following.message == messages(1, 10)[0]
    # the segment holding message 10 is still there, because message 10 was not delivered
    assert (tmp_path / f"{following.position.segment:020d}.seg") in remaining
    spool.close()
    # a restart replays from the start of the first segment left: at least once
    reopened = drain(Spool(tmp_path, max_bytes=1 << 20))
    assert reopened[-30:] == messages(30, 10)


def test_rewind_after_failed_send_rereads_uncommitted(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.extend(messages(5))
    first = spool.read(2)
    spool.commit(first[-1].position)
    spool.read(2)  # "sent" but never acknowledged
    spool.rewind()
    assert [e.message for e in spool.read(10)] == messages(3, 2)


def test_everything_committed_means_empty(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=300)
    spool.extend(messages(20))
    assert spool.pending_bytes > 0
    assert spool.has_unread()
    batch = spool.read(100)
    assert spool.has_unread() is False
    spool.commit(batch[-1].position)
    assert spool.pending_bytes == 0
    assert spool.empty
    assert len(segments(tmp_path)) <= 1  # only the open write segment may stay


def test_bound_refuses_new_messages_and_counts_them(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=4096, segment_bytes=1024)
    accepted = [m for m in messages(200) if spool.append(m)]
    assert 0 < len(accepted) < 200
    assert spool.size_bytes <= 4096
    assert sum(p.stat().st_size for p in segments(tmp_path)) == spool.size_bytes
    assert spool.dropped == 200 - len(accepted)
    assert drain(spool) == messages(len(accepted))  # the oldest are kept, new ones dropped
    spool.close()
    assert Spool(tmp_path, max_bytes=4096).dropped == 200 - len(accepted)  # persisted
    reopened = Spool(tmp_path, max_bytes=4096)
    assert reopened.take_dropped() == 200 - len(accepted)
    assert reopened.dropped == 0
    assert Spool(tmp_path, max_bytes=4096).dropped == 0


def test_delivered_space_is_reused(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=4096, segment_bytes=1024)
    total = 0
    for round_ in range(10):
        batch = messages(20, round_ * 20)
        total += 20 - spool.extend(batch)
        entries = spool.read(1000)
        if entries:
            spool.commit(entries[-1].position)
    assert spool.dropped == 0 and total == 200


def test_prepend_goes_first(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.extend(messages(3))
    spool.prepend([b"older 1", b"older 2"])
    spool.rewind()
    assert drain(spool) == [b"older 1", b"older 2", *messages(3)]
    spool.close()
    assert drain(Spool(tmp_path, max_bytes=1 << 20)) == [b"older 1", b"older 2", *messages(3)]


@pytest.mark.parametrize("cut", [1, 5, 8, 20])
def test_torn_tail_is_detected_and_dropped(tmp_path: Path, cut: int) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.extend(messages(10))
    spool.close()
    last = segments(tmp_path)[-1]
    data = last.read_bytes()
    last.write_bytes(data[:-cut])  # a crash in the middle of the last write

    reopened = Spool(tmp_path, max_bytes=1 << 20)
    assert drain(reopened) == messages(9)
    assert len(reopened.torn) == 1
    torn = reopened.torn[0]
    assert torn.segment == last
    assert torn.discarded == len(messages(1, 9)[0]) + 8 - cut
    assert torn.reason == "incomplete record"
    assert last.stat().st_size == torn.offset  # cut back, so new records append cleanly
    reopened.append(b"after the crash")
    assert drain(reopened) == [b"after the crash"]


def test_flipped_bit_is_not_misread(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.extend(messages(4))
    spool.close()
    seg = segments(tmp_path)[0]
    data = bytearray(seg.read_bytes())
    data[-3] ^= 0x40  # inside the last record's payload
    seg.write_bytes(bytes(data))
    reopened = Spool(tmp_path, max_bytes=1 << 20)
    assert drain(reopened) == messages(3)
    assert reopened.torn[0].reason == "crc mismatch"


def test_corrupt_length_field_is_not_trusted(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.extend(messages(2))
    spool.close()
    seg = segments(tmp_path)[0]
    data = seg.read_bytes()
    second = len(MAGIC) + 8 + len(messages(1)[0])
    damaged = data[:second] + struct.pack(">I", 0x7FFFFFFF) + data[second + 4 :]
    seg.write_bytes(damaged)
    reopened = Spool(tmp_path, max_bytes=1 << 20)
    assert drain(reopened) == messages(1)
    assert reopened.torn[0].reason == "impossible length"


def test_foreign_file_is_reported_not_read(tmp_path: Path) -> None:
    (tmp_path / "00000001000000000000.seg").write_bytes(b"not a spool file at all")
    spool = Spool(tmp_path, max_bytes=1 << 20)
    assert drain(spool) == []
    assert spool.torn[0].reason == "bad magic"


def test_large_record_bigger_than_a_read_chunk(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=16 << 20, segment_bytes=8 << 20)
    big = b"x" * (1536 * 1024)
    spool.extend([b"a", big, b"b"])
    assert drain(spool) == [b"a", big, b"b"]


def test_sync_policy(tmp_path: Path) -> None:
    always = Spool(tmp_path / "a", max_bytes=1 << 20, fsync="always")
    assert not always.sync_due()
    always.append(b"x")
    assert always.sync_due()
    always.sync()
    assert not always.sync_due()
    never = Spool(tmp_path / "n", max_bytes=1 << 20, fsync="never")
    never.append(b"x")
    assert not never.sync_due()
    interval = Spool(tmp_path / "i", max_bytes=1 << 20, fsync="interval", fsync_interval=3600)
    interval.append(b"x")
    assert not interval.sync_due()  # the interval has not passed yet
    with pytest.raises(ValueError, match="fsync"):
        Spool(tmp_path / "bad", max_bytes=1 << 20, fsync="sometimes")  # type: ignore[arg-type]
