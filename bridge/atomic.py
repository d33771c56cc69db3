"""Atomic saves of local files: a temporary name in the same folder, fsync, then rename.

A crash leaves the old file or the new one, never half of either, and no temporary file
behind when the write fails.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def save_atomic(path: Path, data: bytes, *, mode: int | None = None, durable: bool = True
                ) -> Path:
    """``durable=False`` skips the fsync: for copies that can be made again and are checked
    before use (a power cut may then leave the old file, or an empty one, never a mix)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            if durable:
                os.fsync(stream.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path
