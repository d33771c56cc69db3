"""The transport port: where files live. A handful of methods, and nothing about content.

Every transport lists a folder with sizes and mtimes in one call, downloads a file into the
local work area, uploads under a temporary name then renames (never overwriting a file that
is there), moves files on the server and deletes them. Failures of the connection or the disk
raise :class:`bridge.errors.TransientError` (retry later); a name that tries to leave its
folder raises :class:`UnsafeName`.
"""

from __future__ import annotations

import fnmatch
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bridge.errors import BridgeError, TransientError


class UnsafeName(BridgeError):
    """A remote name with a path separator, '..', or control characters."""

    exit_code = 1


class TargetExists(TransientError):
    """The final name is taken by a file bridge did not write; nothing was overwritten."""


@dataclass(frozen=True)
class Entry:
    name: str
    size: int
    mtime: float


class Transport(Protocol):
    def list(self, folder: str) -> list[Entry]: ...
    def stat(self, folder: str, name: str) -> Entry | None: ...
    def download(self, folder: str, name: str, dest: Path) -> None: ...
    def upload(self, src: Path, folder: str, name: str) -> None:
        """Write ``src`` as ``folder/name`` under a temporary name, then rename it; if the
        name exists, raise :class:`TargetExists` and leave it untouched."""
        ...
    def move(self, folder: str, name: str, to_folder: str, to_name: str) -> None: ...
    def delete(self, folder: str, name: str) -> None: ...
    def close(self) -> None: ...


def safe_name(name: str) -> str:
    """``name`` if it is a plain file name; otherwise :class:`UnsafeName`."""
    if (not name or name in (".", "..") or "/" in name or "\\" in name
            or any(ord(c) < 32 or ord(c) == 127 for c in name)):
        raise UnsafeName(f"refused file name {name!r}: it could leave its folder")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafeName(f"refused file name {name!r}: not valid UTF-8") from None
    return name


def temp_name(name: str) -> str:
    """The name a file is written under before its rename: hidden, and never taken as ready."""
    return f".{name}.part"


def matches(name: str, patterns: list[str], ignore: list[str]) -> bool:
    """Whether a listed name is one the flow takes (a plain function: tested without disks)."""
    if any(fnmatch.fnmatchcase(name, p) for p in ignore):
        return False
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def join(folder: str, name: str) -> str:
    return posixpath.join(folder, name) if folder else name
