"""Local folders: the transport for drop folders on this machine, and the fake in tests."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from bridge import faults
from bridge.errors import TransientError
from bridge.transport.base import Entry, TargetExists, safe_name, temp_name


class LocalTransport:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, folder: str) -> Path:
        return self.root / folder

    def list(self, folder: str) -> list[Entry]:
        out = []
        try:
            with os.scandir(self._dir(folder)) as it:
                for e in it:
                    if e.is_file(follow_symlinks=False):
                        st = e.stat(follow_symlinks=False)
                        out.append(Entry(e.name, st.st_size, st.st_mtime))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise TransientError(f"cannot list {self._dir(folder)}: {exc.strerror}") from None
        return out

    def stat(self, folder: str, name: str) -> Entry | None:
        try:
            st = (self._dir(folder) / safe_name(name)).stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise TransientError(f"cannot stat {name}: {exc.strerror}") from None
        return Entry(name, st.st_size, st.st_mtime)

    def download(self, folder: str, name: str, dest: Path) -> None:
        src = self._dir(folder) / safe_name(name)
        tmp = dest.with_name(dest.name + ".part")
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
        except OSError as exc:
            raise TransientError(f"cannot read {src}: {exc.strerror}") from None

    def upload(self, src: Path, folder: str, name: str) -> None:
        directory = self._dir(folder)
        final = directory / safe_name(name)
        tmp = directory / temp_name(name)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TransientError(f"cannot create {directory}: {exc.strerror}") from None
        try:
            with open(src, "rb") as fin, open(tmp, "wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
                fout.flush()
                faults.point("mid-write")
                os.fsync(fout.fileno())
            # link() refuses an existing name: the no-clobber rename POSIX offers.
            os.link(tmp, final)
            faults.point("after-rename")
        except FileExistsError:
            _unlink(tmp)
            raise TargetExists(f"{final} exists already; not overwritten") from None
        except OSError as exc:
            _unlink(tmp)
            raise TransientError(f"cannot write {final}: {exc.strerror}") from None
        _unlink(tmp)
        _fsync_dir(directory)

    def move(self, folder: str, name: str, to_folder: str, to_name: str) -> None:
        """One rename(2), refusing an existing destination. Never link + unlink: a sender
        replacing ``name`` between the two would lose its new version to the unlink."""
        src = self._dir(folder) / safe_name(name)
        dest_dir = self._dir(to_folder)
        dest = dest_dir / safe_name(to_name)
        try:
            dest_dir.mkdir(parents=True, exist_ok=True)
            rename_noreplace(src, dest)
        except FileExistsError:
            raise TargetExists(f"{dest} exists already") from None
        except OSError as exc:
            if exc.errno == errno.EXDEV:  # another file system: copy, then remove
                shutil.copy2(src, dest)
                os.unlink(src)
                return
            raise TransientError(f"cannot move {src}: {exc.strerror}") from None

    def delete(self, folder: str, name: str) -> None:
        try:
            os.unlink(self._dir(folder) / safe_name(name))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise TransientError(f"cannot delete {name}: {exc.strerror}") from None

    def close(self) -> None:
        pass


def _unlink(path: Path) -> None:
    # Clean-up after a failure: it must never hide the failure it cleans up after.
    with contextlib.suppress(OSError):
        os.unlink(path)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def rename_noreplace(src: Path, dest: Path) -> None:
    """rename(2) that refuses an existing ``dest`` (FileExistsError): Linux's renameat2
    with RENAME_NOREPLACE where the kernel and file system have it; elsewhere a check then
    a rename (the destinations are bridge's own folders, which only one run writes)."""
    if _renameat2 is not None:
        if _renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dest),
                      _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EINVAL):
            raise OSError(err, os.strerror(err), str(dest if err == errno.EEXIST else src))
    if os.path.lexists(dest):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dest))
    os.rename(src, dest)


_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


def _load_renameat2() -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_renameat2 = _load_renameat2()
