"""The transport port: where files live. A handful of methods, and nothing about content.

Every transport lists a folder with sizes and mtimes in one call, downloads a file into the
local work area, uploads under a temporary name then renames (never overwriting a file that
is there), moves files on the server and deletes them. Failures of the connection or the disk
raise :class:`bridge.errors.TransientError` (retry later); a name that tries to leave its
folder raises :class:`UnsafeName`; a file that cannot be taken as it is (a link, a FIFO or a
device where a file was listed, another file than the one listed, a file the server lists but
will not serve) raises :class:`Refused`.

Temporary names are unguessable (``.NAME.<random>.part``, see :mod:`bridge.files`) and made
exclusively wherever the protocol can say so, so nothing planted under them is ever followed.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import io
import os
import posixpath
import re
import stat as st
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bridge.errors import BridgeError, TransientError


class UnsafeName(BridgeError):
    """A remote name with a path separator, '..', or control characters."""

    exit_code = 1


class TargetExists(TransientError):
    """The final name is taken by a file bridge did not write; nothing was overwritten."""


class Refused(BridgeError):
    """This file cannot be taken as it is: a link, a FIFO or a device where a file was
    listed, another file than the one listed, or a file the server lists but refuses to
    serve. Not transient (the same file is refused again) and not the configuration: an
    issue on that file."""

    exit_code = 1


@dataclass(frozen=True)
class Entry:
    name: str
    size: int
    mtime: float
    #: (device, inode) of a local file: what a download checks it opened. Not compared:
    #: two listings of a file that did not change are equal entries.
    identity: tuple[int, int] | None = field(default=None, compare=False)
    #: None for a regular file; else what the entry is ("a symbolic link", "a FIFO"...):
    #: listed to be told, never opened nor followed (:func:`kind_of`).
    kind: str | None = field(default=None, compare=False)


#: The ``kind`` of a folder in a listing asked with ``folders=True``: only a done-file's
#: name is looked for among them (one that is a folder is refused, not waited for).
FOLDER = "a folder"


def kind_of(mode: int) -> str | None:
    """What an entry of a listing is, by its (lstat) mode: None for a regular file, "" for a
    folder (not listed), else its kind as said to a person."""
    if st.S_ISREG(mode):
        return None
    if st.S_ISDIR(mode):
        return ""
    if st.S_ISLNK(mode):
        return "a symbolic link"
    if st.S_ISFIFO(mode):
        return "a FIFO"
    if st.S_ISSOCK(mode):
        return "a socket"
    if st.S_ISCHR(mode) or st.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def observed_size(entry: Entry) -> int:
    """The size a folder's observation keeps for ``entry``: a regular file's own, else one
    no file has (below zero), so that a file put in the place of a link refused, with the
    link's size (its target's length) and mtime, is a change, taken, never the link
    remembered as told."""
    return entry.size if entry.kind is None else -1 - entry.size


class Transport(Protocol):
    def list(self, folder: str, folders: bool = False) -> list[Entry]:
        """The regular files of ``folder``, and its other entries but folders (links, FIFOs:
        with their ``kind``, to be told, never taken); none for a folder that does not
        exist. ``folders``: its folders too, of kind :data:`FOLDER`."""
        ...
    def is_folder(self, folder: str) -> bool:
        """Whether ``folder`` exists (and is a folder): asked when a listing is empty, to
        tell an idle source from a missing one."""
        ...
    def stat(self, folder: str, name: str) -> Entry | None: ...
    def download(self, folder: str, name: str, dest: Path, expect: Entry | None = None
                 ) -> None:
        """Copy ``folder/name`` to ``dest``, a path of bridge's own (what is there is
        replaced; a link there is replaced, never followed). With ``expect`` (what list or
        stat said of it), at most ``expect.size + 1`` bytes are copied (enough to see it
        grew, never a full disk) and a local file must be the very one listed."""
        ...
    def upload(self, src: Path | bytes, folder: str, name: str, mode: int | None = None, *,
               fence: Callable[[], None] | None = None, durable: bool = True) -> None:
        """Write ``src`` (a file of bridge's own, or the bytes themselves: a done-file
        needs no file made for it first) as ``folder/name`` under a temporary name, then
        rename it; if the
        name exists, raise :class:`TargetExists` and leave it untouched. ``mode`` gives the
        file those permission bits (default: the server's usual mode for a new file).
        ``fence`` is called once the whole file is written, right before the rename (or
        link) that publishes it: what it raises is raised, with the temporary file removed
        and nothing published. The file's bytes are durable before the rename; the rename
        is made durable too (the folder synced, where the transport can) unless
        ``durable`` is false: then the next upload into the same folder (an output's
        done-file) makes both durable with one sync."""
        ...
    def move(self, folder: str, name: str, to_folder: str, to_name: str) -> None: ...
    def delete(self, folder: str, name: str) -> None: ...
    def close(self) -> None: ...


@contextlib.contextmanager
def upload_source(src: Path | bytes) -> Iterator[io.BytesIO | io.FileIO]:
    """What an upload reads: bytes, or bridge's own file opened without following a link
    at its name (unbuffered: a transport reads it in blocks of its own)."""
    from bridge import files  # which imports this module's Refused

    if isinstance(src, bytes):
        yield io.BytesIO(src)
        return
    with files.reading(src, regular=False) as fd, \
            os.fdopen(fd, "rb", buffering=0, closefd=False) as fin:
        yield fin


#: A control character (C0 or DEL): never part of a name bridge handles.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def safe_name(name: str) -> str:
    """``name`` if it is a plain file name; otherwise :class:`UnsafeName`."""
    if (not name or name in (".", "..") or "/" in name or "\\" in name
            or _CONTROL.search(name)):
        raise UnsafeName(f"refused file name {name!r}: it could leave its folder")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafeName(f"refused file name {name!r}: not valid UTF-8") from None
    return name


def matches(name: str, patterns: list[str], ignore: list[str]) -> bool:
    """Whether a listed name is one the flow takes (a plain function: tested without disks)."""
    if any(fnmatch.fnmatchcase(name, p) for p in ignore):
        return False
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def join(folder: str, name: str) -> str:
    return posixpath.join(folder, name) if folder else name


#: Errors only a write gives: the disk a download goes to (bridge's own work area) is full.
FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class WorkAreaFull(TransientError):
    """A download's copy found no room in the work area: bridge's own disk, not the source
    nor the connection. The same file goes once there is room."""

    def __init__(self, name: str, dest: Path, exc: OSError) -> None:
        super().__init__(f"the work area's disk is full: cannot copy {name} to {dest} "
                         f"({exc.strerror}); free space there, and the file is taken again")


def work_area_full(exc: BaseException, name: str, dest: Path) -> WorkAreaFull | None:
    """The failure of a download's local write, if ``exc`` is one."""
    if isinstance(exc, OSError) and exc.errno in FULL:
        return WorkAreaFull(name, dest, exc)
    return None
