"""Local folders: the transport for drop folders on this machine, and the fake in tests.

Anyone who can add an entry to one of these folders is not trusted (see :mod:`bridge.files`):
files are listed, stat'ed and opened without following links, and checked after opening to
be regular files (the very ones listed, when the caller says which); every file is written
under a new, unguessable name made exclusively, then published by a rename that never
replaces a name.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat as st
from collections.abc import Callable
from pathlib import Path

from bridge import faults, files
from bridge.errors import TransientError
from bridge.files import NameTaken, TempNames, fsync_dir, rename_noreplace
from bridge.transport.base import (
    FOLDER,
    Entry,
    TargetExists,
    kind_of,
    safe_name,
    work_area_full,
)

__all__ = ["LocalTransport", "rename_noreplace"]


class LocalTransport:
    def __init__(self, root: Path, *, names: TempNames | None = None) -> None:
        self.root = root
        self.names = names or TempNames()
        self._made: set[Path] = set()  # folders made or found by this transport (a pass)
        #: Folders with a rename not yet made durable (an upload with ``durable=False``):
        #: synced by the next upload there, even one that finds its name taken.
        self._unsynced: set[Path] = set()

    def _dir(self, folder: str) -> Path:
        return self.root / folder

    def list(self, folder: str, folders: bool = False) -> list[Entry]:
        out = []
        try:
            with os.scandir(self._dir(folder)) as it:
                for e in it:
                    try:  # lstat: a link is not followed, a FIFO not opened
                        s = e.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue  # gone since the folder was read
                    kind = kind_of(s.st_mode)
                    if kind == "" and folders:
                        out.append(Entry(e.name, s.st_size, s.st_mtime, kind=FOLDER))
                    elif kind != "":  # a folder in the folder is nobody's file
                        out.append(Entry(e.name, s.st_size, s.st_mtime,
                                         (s.st_dev, s.st_ino) if kind is None else None,
                                         kind=kind))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise TransientError(f"cannot list {self._dir(folder)}: {exc.strerror}") from None
        return out

    def is_folder(self, folder: str) -> bool:
        return self._dir(folder).is_dir()

    def stat(self, folder: str, name: str) -> Entry | None:
        """The regular file ``name``; None for nothing, or for a link, a FIFO, a folder:
        none of them is a file to take."""
        try:
            s = os.lstat(self._dir(folder) / safe_name(name))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise TransientError(f"cannot stat {name}: {exc.strerror}") from None
        if not st.S_ISREG(s.st_mode):
            return None
        return Entry(name, s.st_size, s.st_mtime, (s.st_dev, s.st_ino))

    def download(self, folder: str, name: str, dest: Path, expect: Entry | None = None
                 ) -> None:
        src = self._dir(folder) / safe_name(name)
        try:
            with files.reading(src, identity=expect.identity if expect else None) as fin, \
                    files.writing(dest, name=self.names.beside(dest), replace=True) as fout:
                files.copy(fin, fout, None if expect is None else expect.size + 1)
        except NameTaken as exc:
            raise TransientError(f"cannot write {exc.filename}: {exc.strerror}") from None
        except OSError as exc:
            full = work_area_full(exc, name, dest)
            if full is not None:
                raise full from None
            raise TransientError(f"cannot copy {src} to {dest}: {exc.strerror}") from None

    def _folder(self, directory: Path, *, again: bool = False) -> None:
        """``directory`` made if missing, once per transport: a folder removed meanwhile is
        made again when a file put there finds it gone (:meth:`_gone`)."""
        if again or directory not in self._made:
            directory.mkdir(parents=True, exist_ok=True)
            self._made.add(directory)

    def _gone(self, directory: Path) -> bool:
        """A write found no folder: made again (True) if it was removed since."""
        if directory not in self._made or directory.is_dir():
            return False
        self._folder(directory, again=True)
        return True

    def upload(self, src: Path | bytes, folder: str, name: str, mode: int | None = None, *,
               fence: Callable[[], None] | None = None, durable: bool = True) -> None:
        directory = self._dir(folder)
        final = directory / safe_name(name)
        try:
            self._folder(directory)
        except OSError as exc:
            raise TransientError(f"cannot create {directory}: {exc.strerror}") from None
        for attempt in range(2):
            try:
                self._write(src, final, mode, fence)
                break
            except TargetExists:
                if directory in self._unsynced:
                    self._sync(directory)
                raise
            except FileNotFoundError as exc:
                try:
                    again = attempt == 0 and self._gone(directory)
                except OSError as err:
                    raise TransientError(f"cannot create {directory}: {err.strerror}"
                                         ) from None
                if not again:
                    raise TransientError(f"cannot write {final}: {exc.strerror}") from None
        if durable:
            self._sync(directory)
        else:
            self._unsynced.add(directory)

    def _sync(self, directory: Path) -> None:
        try:
            fsync_dir(directory)
        except OSError as exc:
            raise TransientError(f"cannot sync {directory}: {exc.strerror}") from None
        self._unsynced.discard(directory)

    def _write(self, src: Path | bytes, final: Path, mode: int | None,
               fence: Callable[[], None] | None) -> None:
        """``src`` copied to ``final`` under a temporary name, durable, then renamed;
        failures as bridge's errors (a missing folder as FileNotFoundError)."""
        try:
            # The source is bridge's own file (or, in tests, a FIFO fed slowly): no checks
            # but the link.
            with files.writing(final, name=self.names.of_upload(final, src), perms=mode,
                               durable=True, fence=fence) as fout:
                if isinstance(src, bytes):
                    files.write_all(fout, src)
                else:
                    with files.reading(src, regular=False) as fin:
                        files.copy(fin, fout)
                faults.point("mid-write")
            faults.point("after-rename")
        except NameTaken as exc:
            raise TransientError(f"cannot write {final}: {exc.filename} {exc.strerror}; "
                                 "nothing was written") from None
        except FileExistsError:
            raise TargetExists(f"{final} exists already; not overwritten") from None
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise TransientError(f"cannot write {final}: {exc.strerror}") from None

    def move(self, folder: str, name: str, to_folder: str, to_name: str) -> None:
        """One rename(2), refusing an existing destination. Never link + unlink: a sender
        replacing ``name`` between the two would lose its new version to the unlink."""
        src = self._dir(folder) / safe_name(name)
        dest_dir = self._dir(to_folder)
        dest = dest_dir / safe_name(to_name)
        try:
            self._folder(dest_dir)
            try:
                rename_noreplace(src, dest)
            except FileNotFoundError:
                if not self._gone(dest_dir):
                    raise
                rename_noreplace(src, dest)
        except FileExistsError:
            raise TargetExists(f"{dest} exists already") from None
        except OSError as exc:
            if exc.errno == errno.EXDEV:  # another file system: copy, then remove
                self._copy_across(src, dest)
                return
            raise TransientError(f"cannot move {src} to {dest}: {exc.strerror}") from None

    def _copy_across(self, src: Path, dest: Path) -> None:
        try:
            with files.reading(src) as fin:
                s = os.fstat(fin)
                with files.writing(dest, name=self.names.beside(dest, str(src)),
                                   perms=st.S_IMODE(s.st_mode), durable=True) as fout:
                    files.copy(fin, fout)
                    os.utime(fout, ns=(s.st_atime_ns, s.st_mtime_ns))
            os.unlink(src)
        except NameTaken as exc:
            raise TransientError(f"cannot write {exc.filename}: {exc.strerror}") from None
        except FileExistsError:
            raise TargetExists(f"{dest} exists already") from None
        except OSError as exc:
            raise TransientError(f"cannot move {src} to {dest}: {exc.strerror}") from None

    def delete(self, folder: str, name: str) -> None:
        try:
            os.unlink(self._dir(folder) / safe_name(name))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise TransientError(f"cannot delete {name}: {exc.strerror}") from None

    def close(self) -> None:
        for directory in list(self._unsynced):  # a done-file that failed: its output
            with contextlib.suppress(TransientError):
                self._sync(directory)
