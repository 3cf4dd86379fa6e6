"""The CA's file-system operations: private directories, safe writes, the archive.

Files are born with their final mode and renamed into place; earlier CA generations move
into `archive/<UTC timestamp>/`.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from .errors import CAError
from .layout import ARCHIVE_DIR, GENERATION_FILES

DIR_MODE: Final = 0o700
SECRET_MODE: Final = 0o600
PUBLIC_MODE: Final = 0o644


def ensure_private_dir(path: Path) -> None:
    """Create `path` (and parents) if needed and make it 0700.

    The parents keep the process umask; only the CA directory itself is tightened. Doing
    the chmod on a directory that already exists exposes nothing: no key is in it yet.
    """
    try:
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        os.chmod(path, DIR_MODE)
    except OSError as e:
        raise CAError(
            f"cannot create the CA directory {path}: {e.strerror}",
            fix=f"create {path} yourself, owned by the user the proxy runs as, or "
            "choose another directory",
        ) from e


def write_files(directory: Path, contents: Mapping[str, tuple[bytes, int]]) -> None:
    """Write each `name: (data, mode)` to a temporary file, then rename them in order.

    A temporary file is opened with O_CREAT|O_EXCL and its final mode, so a secret is
    never readable by anyone else, not even for a moment (the umask can only narrow the
    mode further). Renames happen after every file is written and in the mapping's
    order, so the caller puts the file whose presence means "CA ready" last.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for name, (data, mode) in contents.items():
            tmp = directory / f".{name}.tmp"
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()  # left over by a crash; we own this name
            _write_new(tmp, data, mode)
            staged.append((tmp, directory / name))
        for tmp, final in staged:
            os.replace(tmp, final)
    except OSError as e:
        for tmp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        raise CAError(
            f"cannot write the CA files in {directory}: {e.strerror}",
            fix=f"make sure {directory} is writable by this user and the disk is not full",
        ) from e


def _write_new(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def archive_generation(ca_dir: Path, now: datetime.datetime) -> Path:
    """Move the current CA files into `ca_dir/archive/<UTC timestamp>/` and return it.

    `os.replace` within one file system keeps each file's mode, so the key stays 0600.
    Files that are not part of a CA generation (mitmproxy's config.yaml, say) stay put.
    """
    archive_root = ca_dir / ARCHIVE_DIR
    ensure_private_dir(archive_root)
    stamp = now.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = archive_root / stamp
    suffix = 1
    while True:
        try:
            target.mkdir(mode=DIR_MODE)
            break
        except FileExistsError:
            suffix += 1
            target = archive_root / f"{stamp}-{suffix}"
    os.chmod(target, DIR_MODE)
    try:
        for name in GENERATION_FILES:
            source = ca_dir / name
            if source.exists():
                os.replace(source, target / name)
    except OSError as e:
        raise CAError(
            f"cannot move the current CA into {target}: {e.strerror}",
            fix=f"check permissions in {ca_dir}; files already moved are in {target}",
        ) from e
    return target


def loose_permissions(path: Path) -> bool:
    """True when group or others have any access to `path`."""
    return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
