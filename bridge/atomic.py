"""Atomic saves of local files: a new temporary file in the same folder, fsync, then rename.

A crash leaves the old file or the new one, never half of either, and no temporary file
behind when the write fails. The temporary file is made exclusively under an unguessable
name, never through a link (see :mod:`bridge.files`), private (0600) unless ``mode`` says
otherwise; the rename replaces whatever is at ``path``, a link included, never what a link
points to.
"""

from __future__ import annotations

from pathlib import Path

from bridge import files


def save_atomic(path: Path, data: bytes, *, mode: int | None = None, durable: bool = True
                ) -> Path:
    """``durable=False`` skips the fsync: for copies that can be made again and are checked
    before use (a power cut may then leave the old file, or an empty one, never a mix)."""
    # ``.tmp``: what a killed run leaves here is bridge's own, cleared with its folder.
    with files.writing(path, perms=0o600 if mode is None else mode, replace=True,
                       durable=durable, suffix=".tmp") as fd:
        files.write_all(fd, data)
    return path
