"""Secret files the gateway makes for itself at first start (admin token, keys): 0600 from
the first byte, never replaced once made, read back on every later start."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def read_or_create(path: Path, make: Callable[[], bytes]) -> bytes:
    """The file's content; on first use ``make()`` is written with O_CREAT|O_EXCL and mode
    0600, so it is never readable by others, and two starting processes never both write."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    data = make()
    with os.fdopen(fd, "wb") as f:
        f.write(data + b"\n")
    return data
