"""The on-disk syslog spool: ordered, size-bounded segment files that survive a crash.

Layout: a directory of segment files ``<id>.seg`` read in ascending id order. Each file
starts with an 8-byte magic and holds records framed as ``length (u32 BE) | crc32 (u32
BE) | payload``, the CRC covering the length bytes and the payload. After a crash the last
record of a segment may be torn (a short header, a length past the end of the file, a CRC
that does not match); opening the spool detects that, cuts the segment back to its last
whole record and reports the loss in ``torn`` instead of misreading garbage as a record.

Delivery bookkeeping: ``read()`` hands out entries with their ``SpoolPosition``;
``commit(position)`` says everything up to it reached the collector, and a segment file is
deleted only once all of it is committed; ``rewind()`` goes back to the first uncommitted
record after a failed connection. Commit offsets live in memory only, so after a restart
the uncommitted part of the first segment is sent again: delivery is at least once.

``prepend()`` puts records ahead of everything else (a new segment with a lower id): the
shipper uses it for messages it had written to a connection that then failed before the
collector's TCP acknowledged them, which are older than anything already spooled.

Bound: ``append()`` refuses a record that would take the files past ``max_bytes`` and
counts it in ``dropped`` (persisted in the directory, so a restart does not forget it).
``prepend()`` ignores the bound: its records were already accepted once.

Durability: writes go straight to the file (no user-space buffer); ``sync()`` fsyncs what
was written, and ``sync_due()`` says when the policy wants that: after every write
(``always``), at most every ``fsync_interval`` seconds (``interval``), or never (the OS
decides; a crash of the process loses nothing, a power loss may). ``sync()`` may run in a
worker thread while the event loop keeps appending.

Not thread-safe apart from ``sync()``: one owner (the shipper's task) calls the rest.

Over 400 lines: segment files, their crash recovery and the size bound are one on-disk
format, read and written here.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

__all__ = [
    "FsyncPolicy",
    "Spool",
    "SpoolEntry",
    "SpoolPosition",
    "TornTail",
]

log = logging.getLogger(__name__)

FsyncPolicy = Literal["always", "interval", "never"]

MAGIC: Final = b"WSPOOL1\n"
_HEADER: Final = struct.Struct(">II")
# A syslog message is at most tens of KiB; a larger length field is corruption.
MAX_RECORD: Final = 16 * 1024 * 1024
# Segment ids start high so that prepend() can always go lower.
_FIRST_ID: Final = 10**12
_SUFFIX: Final = ".seg"
_DROPPED_FILE: Final = "dropped"
_READ_CHUNK: Final = 1024 * 1024


@dataclass(frozen=True, order=True)
class SpoolPosition:
    """The end of a record: segment id and the byte offset just after it."""

    segment: int
    end: int


@dataclass(frozen=True)
class SpoolEntry:
    message: bytes
    position: SpoolPosition


@dataclass(frozen=True)
class TornTail:
    """Bytes cut from a segment at open because they were not a whole, intact record."""

    segment: Path
    offset: int
    discarded: int
    reason: str


@dataclass
class _Segment:
    id: int
    path: Path
    size: int  # bytes in the file, magic included
    committed: int = len(MAGIC)  # offset of the first byte not yet delivered


@dataclass
class _SyncState:
    dirty: set[Path] = field(default_factory=set)
    dir_dirty: bool = False
    last: float = 0.0


class Spool:
    """Ordered, bounded, crash-tolerant store of syslog messages waiting for a collector."""

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int,
        segment_bytes: int = 1024 * 1024,
        fsync: FsyncPolicy = "interval",
        fsync_interval: float = 1.0,
    ) -> None:
        if fsync not in ("always", "interval", "never"):
            raise ValueError(f"spool fsync policy {fsync!r}: use 'always', 'interval' or 'never'")
        if max_bytes < 4096:
            raise ValueError(f"spool max_bytes {max_bytes} is too small: use at least 4096")
        self.directory = directory
        self.max_bytes = max_bytes
        # Two segments must fit in the bound, or a full one could never rotate away.
        self.segment_bytes = max(len(MAGIC) + 1, min(segment_bytes, max_bytes // 4))
        self.fsync: FsyncPolicy = fsync
        self.fsync_interval = fsync_interval
        self.torn: list[TornTail] = []
        self._segments: dict[int, _Segment] = {}
        self._order: list[int] = []
        self._write_fd: int | None = None
        self._write_id: int | None = None
        self._read_id: int | None = None
        self._read_offset = 0
        self._total = 0
        self._sync = _SyncState(last=time.monotonic())
        self._lock = threading.Lock()
        self._dropped_saved_at = 0.0
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.dropped = self._load_dropped()
        self._recover()
        self.rewind()

    # --- writing ---------------------------------------------------------------------

    def append(self, message: bytes) -> bool:
        """Add a message at the end; False (and ``dropped`` + 1) if the bound forbids it."""
        record = _frame(message)
        if self._total + len(record) > self.max_bytes:
            self._reclaim_write_segment()
        if self._total + len(record) > self.max_bytes:
            self.note_dropped()
            return False
        seg = self._writable(len(record))
        self._write(seg, record)
        return True

    def has_room(self, size: int) -> bool:
        """Would a message of ``size`` bytes be accepted by ``append()`` now?"""
        need = _HEADER.size + size + len(MAGIC)  # a new segment may be needed
        if self._total + need > self.max_bytes:
            self._reclaim_write_segment()
        return self._total + need <= self.max_bytes

    def extend(self, messages: Iterable[bytes]) -> int:
        """Append each message in order; return how many were dropped by the bound."""
        return sum(0 if self.append(m) else 1 for m in messages)

    def prepend(self, messages: list[bytes]) -> None:
        """Put messages ahead of everything spooled, in the order given; then ``rewind()``."""
        if not messages:
            return
        seg_id = self._order[0] - 1 if self._order else _FIRST_ID
        path = self._path(seg_id)
        tmp = path.with_suffix(".tmp")
        data = MAGIC + b"".join(_frame(m) for m in messages)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            _write_all(fd, data)
            if self.fsync != "never":
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        seg = _Segment(seg_id, path, len(data))
        self._segments[seg_id] = seg
        self._order.insert(0, seg_id)
        self._total += len(data)
        with self._lock:
            self._sync.dir_dirty = True

    def note_dropped(self, count: int = 1) -> None:
        """Count messages lost to the bound (persisted at most once a second)."""
        self.dropped += count
        now = time.monotonic()
        if self.dropped == count or now - self._dropped_saved_at >= 1.0:
            self._save_dropped()

    def take_dropped(self) -> int:
        """The dropped count so far, reset to zero (the caller reports it)."""
        count, self.dropped = self.dropped, 0
        self._save_dropped()
        return count

    # --- reading and delivery --------------------------------------------------------

    def read(self, max_count: int = 256, max_bytes: int = 512 * 1024) -> list[SpoolEntry]:
        """Up to ``max_count`` entries (about ``max_bytes``) from the read position on."""
        out: list[SpoolEntry] = []
        budget = max_bytes
        while len(out) < max_count and budget > 0:
            seg = self._segments.get(self._read_id) if self._read_id is not None else None
            if seg is None or self._read_offset >= seg.size:
                if not self._advance_reader():
                    break
                continue
            remaining = seg.size - self._read_offset
            chunk = _pread(seg.path, self._read_offset, min(remaining, _READ_CHUNK))
            pos = 0
            parsed: tuple[bytes, int] | str = "incomplete record"
            while len(out) < max_count and budget > 0:
                parsed = _parse_one(chunk, pos)
                if isinstance(parsed, str):
                    break
                payload, pos = parsed
                out.append(SpoolEntry(payload, SpoolPosition(seg.id, self._read_offset + pos)))
                budget -= len(payload)
            if pos > 0:
                self._read_offset += pos
            elif parsed == "incomplete record" and remaining > len(chunk):
                entry = self._read_large(seg)  # one record larger than a chunk
                if entry is not None:
                    out.append(entry)
                    budget -= len(entry.message)
            elif isinstance(parsed, str):
                self._corrupt(seg, self._read_offset, parsed)
        return out

    def commit(self, position: SpoolPosition) -> None:
        """Everything up to and including ``position`` was delivered: forget it."""
        for seg_id in list(self._order):
            if seg_id > position.segment:
                break
            seg = self._segments[seg_id]
            if seg_id < position.segment:
                seg.committed = seg.size
            else:
                seg.committed = max(seg.committed, min(position.end, seg.size))
            if seg.committed >= seg.size and seg_id != self._write_id:
                self._delete(seg)

    def rewind(self) -> None:
        """Read again from the first record not yet committed."""
        self._read_id = self._order[0] if self._order else None
        self._read_offset = self._segments[self._read_id].committed if self._read_id else 0

    def has_unread(self) -> bool:
        if self._read_id is None:
            return False
        seg = self._segments.get(self._read_id)
        if seg is not None and self._read_offset < seg.size:
            return True
        return any(
            self._segments[i].size > self._segments[i].committed
            for i in self._order
            if i > self._read_id
        )

    @property
    def pending_bytes(self) -> int:
        """Bytes of records not yet committed (framing included)."""
        return sum(s.size - s.committed for s in self._segments.values())

    @property
    def empty(self) -> bool:
        """True when every spooled record has been committed."""
        return self.pending_bytes == 0

    @property
    def size_bytes(self) -> int:
        """Bytes the segment files take on disk, the quantity ``max_bytes`` bounds."""
        return self._total

    # --- durability ------------------------------------------------------------------

    def sync_due(self) -> bool:
        with self._lock:
            dirty = bool(self._sync.dirty) or self._sync.dir_dirty
            last = self._sync.last
        if not dirty or self.fsync == "never":
            return False
        return self.fsync == "always" or time.monotonic() - last >= self.fsync_interval

    def sync(self) -> None:
        """fsync the segments written since the last call, and the directory. Thread-safe."""
        with self._lock:
            paths, self._sync.dirty = self._sync.dirty, set()
            dir_dirty, self._sync.dir_dirty = self._sync.dir_dirty, False
            self._sync.last = time.monotonic()
        for path in paths:
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue  # delivered and deleted meanwhile
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        if dir_dirty:
            _fsync_dir(self.directory)

    def close(self) -> None:
        if self._write_fd is not None:
            os.close(self._write_fd)
            self._write_fd = None
            self._write_id = None
        self._save_dropped()
        if self.fsync != "never":
            self.sync()

    # --- internals -------------------------------------------------------------------

    def _path(self, seg_id: int) -> Path:
        return self.directory / f"{seg_id:020d}{_SUFFIX}"

    def _writable(self, need: int) -> _Segment:
        if self._write_id is not None:
            seg = self._segments.get(self._write_id)
            if seg is not None and seg.size + need <= self.segment_bytes:
                return seg
            self._close_writer()
        seg_id = self._order[-1] + 1 if self._order else _FIRST_ID
        path = self._path(seg_id)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        _write_all(fd, MAGIC)
        seg = _Segment(seg_id, path, len(MAGIC))
        self._segments[seg_id] = seg
        self._order.append(seg_id)
        self._total += len(MAGIC)
        self._write_fd, self._write_id = fd, seg_id
        if self._read_id is None:
            self._read_id, self._read_offset = seg_id, len(MAGIC)
        with self._lock:
            self._sync.dir_dirty = True
        return seg

    def _write(self, seg: _Segment, record: bytes) -> None:
        assert self._write_fd is not None
        _write_all(self._write_fd, record)
        seg.size += len(record)
        self._total += len(record)
        with self._lock:
            self._sync.dirty.add(seg.path)

    def _close_writer(self) -> None:
        if self._write_fd is not None:
            os.close(self._write_fd)
        self._write_fd, previous = None, self._write_id
        self._write_id = None
        if previous is not None:
            seg = self._segments.get(previous)
            if seg is not None and seg.committed >= seg.size:
                self._delete(seg)

    def _reclaim_write_segment(self) -> None:
        """A fully delivered write segment still takes space; give it back."""
        if self._write_id is None:
            return
        seg = self._segments[self._write_id]
        if seg.committed >= seg.size:
            self._close_writer()

    def _delete(self, seg: _Segment) -> None:
        seg.path.unlink(missing_ok=True)
        self._total -= seg.size
        del self._segments[seg.id]
        self._order.remove(seg.id)
        with self._lock:
            self._sync.dirty.discard(seg.path)
            self._sync.dir_dirty = True
        if self._read_id == seg.id:
            self._read_id = self._order[0] if self._order else None
            self._read_offset = self._segments[self._read_id].committed if self._read_id else 0

    def _advance_reader(self) -> bool:
        later = [i for i in self._order if self._read_id is None or i > self._read_id]
        if not later:
            return False
        self._read_id = later[0]
        self._read_offset = self._segments[later[0]].committed
        return True

    def _read_large(self, seg: _Segment) -> SpoolEntry | None:
        head = _pread(seg.path, self._read_offset, _HEADER.size)
        length = _HEADER.unpack(head)[0] if len(head) == _HEADER.size else 0
        parsed = _parse_one(_pread(seg.path, self._read_offset, _HEADER.size + length), 0)
        if isinstance(parsed, str):
            self._corrupt(seg, self._read_offset, parsed)
            return None
        payload, size = parsed
        self._read_offset += size
        return SpoolEntry(payload, SpoolPosition(seg.id, self._read_offset))

    def _corrupt(self, seg: _Segment, offset: int, reason: str) -> None:
        """A record that was whole when written is not any more: cut the segment there."""
        log.error(
            "spool segment %s is damaged at byte %d (%s); its remaining %d bytes are dropped",
            seg.path,
            offset,
            reason,
            seg.size - offset,
        )
        self.torn.append(TornTail(seg.path, offset, seg.size - offset, reason))
        if seg.id == self._write_id:
            self._close_writer()
        with open(seg.path, "r+b") as fh:
            fh.truncate(offset)
        self._total -= seg.size - offset
        seg.size = offset
        seg.committed = min(seg.committed, offset)

    def _recover(self) -> None:
        for tmp in self.directory.glob("*.tmp"):
            tmp.unlink()  # an interrupted prepend(); its records are still in memory of no one
        ids = sorted(int(p.stem) for p in self.directory.glob(f"*{_SUFFIX}") if p.stem.isdigit())
        for seg_id in ids:
            path = self._path(seg_id)
            size = self._validate(path)
            if size <= len(MAGIC):
                path.unlink()
                continue
            self._segments[seg_id] = _Segment(seg_id, path, size)
            self._order.append(seg_id)
            self._total += size

    def _validate(self, path: Path) -> int:
        """Size of the intact part of a segment; a torn or damaged tail is cut off."""
        data = path.read_bytes()
        if not data.startswith(MAGIC):
            reason = "short file" if len(data) < len(MAGIC) else "bad magic"
            self._report_torn(path, 0, len(data), reason)
            return 0
        pos = len(MAGIC)
        while pos < len(data):
            parsed = _parse_one(data, pos)
            if isinstance(parsed, str):
                self._report_torn(path, pos, len(data) - pos, parsed)
                with open(path, "r+b") as fh:
                    fh.truncate(pos)
                    os.fsync(fh.fileno())
                break
            pos = parsed[1]
        return pos

    def _report_torn(self, path: Path, offset: int, discarded: int, reason: str) -> None:
        log.warning(
            "spool segment %s: %d bytes at offset %d are not a whole record (%s), probably "
            "cut by a crash; they are dropped and the records before them kept",
            path,
            discarded,
            offset,
            reason,
        )
        self.torn.append(TornTail(path, offset, discarded, reason))

    def _load_dropped(self) -> int:
        try:
            return int((self.directory / _DROPPED_FILE).read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def _save_dropped(self) -> None:
        self._dropped_saved_at = time.monotonic()
        path = self.directory / _DROPPED_FILE
        tmp = path.with_name(_DROPPED_FILE + ".new")
        tmp.write_text(str(self.dropped))
        os.replace(tmp, path)


def _frame(message: bytes) -> bytes:
    if len(message) > MAX_RECORD:
        raise ValueError(f"spool record of {len(message)} bytes exceeds {MAX_RECORD}")
    length = len(message).to_bytes(4, "big")
    return length + zlib.crc32(message, zlib.crc32(length)).to_bytes(4, "big") + message


def _parse_one(data: bytes, pos: int) -> tuple[bytes, int] | str:
    """The record at ``pos`` and the offset after it, or why there is no whole record."""
    if pos + _HEADER.size > len(data):
        return "incomplete record"
    length, crc = _HEADER.unpack_from(data, pos)
    if length > MAX_RECORD:
        return "impossible length"
    end = pos + _HEADER.size + length
    if end > len(data):
        return "incomplete record"
    payload = data[pos + _HEADER.size : end]
    if zlib.crc32(payload, zlib.crc32(data[pos : pos + 4])) != crc:
        return "crc mismatch"
    return payload, end


def _pread(path: Path, offset: int, size: int) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, size, offset)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
