"""Files bridge makes and reads on this machine, safe against whoever else can write in the
same folders (a drop folder, a target, a quarantine, a work area with loose modes).

Whoever can add an entry to a folder can plant a symbolic link there under a name bridge is
about to write, and have bridge overwrite any file its user can write; or swap a file bridge
listed for a link to a secret, a FIFO or ``/dev/zero``. So:

- a file is made new, never opened if it exists (``O_CREAT|O_EXCL|O_NOFOLLOW``), under a
  hidden name nobody can guess (``.NAME.<16 hex>.part``, never taken as ready), private
  (0600) while it is written unless it is meant for others, then published under its final
  name by a rename that never replaces a name (nor follows a link under it); only bridge's
  own paths in its work area are replaced, a link there replaced, never followed;
- a file is read through a descriptor opened without following links, and checked to be a
  regular file (and the one that was listed) before a byte is read;
- bridge's own folders are checked to be folders of its own, not links.

Temporary names come from :class:`TempNames`: a keyed hash of where the file goes, so that
a run killed while writing leaves a name the next run recognises and removes, and nobody
without the key (kept in bridge's private work area) can tell it in advance.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import hmac
import logging
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from pathlib import Path, PurePath
from typing import TypeVar

from bridge.errors import TransientError
from bridge.transport.base import Refused

log = logging.getLogger(__name__)

#: Ends every temporary name: never taken as ready (``*.part`` and ``.*`` are ignored).
PART = ".part"
#: Bytes of a name kept in its temporary name: room for the dot, the tag and ``.part``.
NAME_ROOM = 200
NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
#: O_NONBLOCK: opening a FIFO for reading would wait for a writer for ever.
READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
KEY_BYTES = 32
#: The key of :class:`TempNames`, in bridge's work area.
KEY_FILE = "temp-names.key"


class NameTaken(FileExistsError):
    """A temporary name is taken by something bridge did not leave there; left alone."""


def temp_name(name: str, tag: str | None = None, suffix: str = PART) -> str:
    """``.NAME.<tag>.part``: hidden, never taken as ready; a random tag unless given."""
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) > NAME_ROOM:
        name = raw[:NAME_ROOM].decode("utf-8", "ignore")
    return f".{name}.{tag or secrets.token_hex(8)}{suffix}"


P = TypeVar("P", bound=PurePath)


class TempNames:
    """Temporary names for local files: unguessable, yet the same for the same file written
    to the same place, so that what a killed run left is found and removed by the next.

    With ``key_file``, the key is kept there (made on first use, 0600); with ``shared``,
    it is asked of it once (the ledger's, when workers in several work areas share one);
    without either, it is new for each instance (names then differ from one run to the
    next)."""

    def __init__(self, key_file: Path | None = None,
                 shared: Callable[[], bytes] | None = None) -> None:
        self._key_file, self._shared = key_file, shared
        self._key = (None if key_file is not None or shared is not None
                     else secrets.token_bytes(KEY_BYTES))

    def beside(self, final: P, source: str = "") -> P:
        if self._key is None:
            if self._shared is not None:
                self._key = self._shared()
            else:
                assert self._key_file is not None
                self._key = load_key(self._key_file)
        msg = os.fsencode(final) + b"\0" + source.encode("utf-8", "surrogateescape")
        tag = hmac.new(self._key, msg, hashlib.sha256).hexdigest()[:16]
        return final.with_name(temp_name(final.name, tag))

    def of_upload(self, final: P, src: Path | bytes) -> P:
        """The temporary name of ``src`` (bridge's own file, or bytes) sent to ``final``,
        local or remote (a :class:`PurePosixPath`). It depends on the file's folder (its
        id) and name in the work area, not on where the work area is: a worker with
        another work area finds and removes what a killed or failed one left. Bytes: on the
        name alone."""
        return self.beside(final, "" if isinstance(src, bytes) else "/".join(src.parts[-2:]))


def load_key(path: Path) -> bytes:
    """The key in ``path``, made the first time. A key file that is not bridge's own
    private file is not used: names are then random, still unguessable."""
    for _ in range(2):
        try:
            fd = os.open(path, READ)
        except FileNotFoundError:
            _make_key(path)
            continue
        except OSError as exc:
            log.warning("cannot read %s (%s): temporary names will not survive a crash",
                        path, exc.strerror)
            break
        try:
            st = os.fstat(fd)
            key = os.read(fd, KEY_BYTES + 1)
        finally:
            os.close(fd)
        if (stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid()
                and not st.st_mode & 0o077 and len(key) == KEY_BYTES):
            return key
        log.warning("%s is not bridge's own private key file: not used", path)
        break
    return secrets.token_bytes(KEY_BYTES)


def _make_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # FileExistsError: made by another run meanwhile; theirs is used.
    with contextlib.suppress(FileExistsError), writing(path, durable=True) as fd:
        write_all(fd, secrets.token_bytes(KEY_BYTES))


def new_file(final: Path, *, perms: int = 0o600, name: Path | None = None, suffix: str = PART
             ) -> tuple[int, Path]:
    """A new, empty file beside ``final``, open for writing: under ``name`` if given (a
    name from :class:`TempNames`), else under a random temporary name ending in ``suffix``.

    Made here and now, never through a link. Under a given name, a file left by a run of
    bridge's that died (a regular file of bridge's user, with no other link) is removed and
    made again; anything else there is left alone: :class:`NameTaken`."""
    if name is None:
        for _ in range(3):
            tmp = final.with_name(temp_name(final.name, suffix=suffix))
            with contextlib.suppress(FileExistsError):
                return os.open(tmp, NEW, perms), tmp
        raise NameTaken(errno.EEXIST, "no free temporary name", str(final))
    try:
        return os.open(name, NEW, perms), name
    except FileExistsError:
        if not _left_by_us(name):
            raise NameTaken(errno.EEXIST, "the temporary name is taken by a file bridge did "
                            "not make; left alone", str(name)) from None
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name)
    try:
        return os.open(name, NEW, perms), name
    except FileExistsError:
        raise NameTaken(errno.EEXIST, "the temporary name was taken again at once; left "
                        "alone", str(name)) from None


def _left_by_us(path: Path) -> bool:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return True
    return stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and st.st_nlink == 1


@contextlib.contextmanager
def writing(final: Path, *, name: Path | None = None, perms: int | None = 0o600,
            replace: bool = False, durable: bool = False, suffix: str = PART,
            fence: Callable[[], None] | None = None) -> Iterator[int]:
    """A descriptor to a new temporary file beside ``final`` (see :func:`new_file`); once
    the block ends well, the file gets ``perms`` and its final name, else it is removed.
    ``fence``, called last before the rename, may still refuse it by raising.

    ``perms=None`` makes the file as ``open()`` would (0666 less the umask: what a
    target's reader expects by default); otherwise it is private while written. With
    ``replace``, a file at ``final`` is replaced (a link there too, never what it points
    to): for bridge's own paths only. Without, an existing ``final`` is never touched:
    :class:`FileExistsError`."""
    fd, tmp = new_file(final, perms=0o666 if perms is None else 0o600, name=name, suffix=suffix)
    try:
        try:
            yield fd
            if perms is not None and perms != 0o600:
                os.fchmod(fd, perms)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        if fence is not None:
            fence()
        publish(tmp, final, replace=replace)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def reading(path: Path, *, regular: bool = True,
            identity: tuple[int, int] | None = None) -> Iterator[int]:
    """A descriptor to ``path``, opened without following a link at its name; with
    ``regular``, refused unless it is a regular file (and, with ``identity``, the very
    file listed as that (device, inode)); refusals raise :class:`Refused`."""
    try:
        fd = os.open(path, READ if regular else READ & ~os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):  # EMLINK: the BSDs' word for it
            raise Refused(f"{path.name} is a link, not a file: not followed") from None
        if exc.errno == errno.ENXIO:
            raise Refused(f"{path.name} is a socket, not a file") from None
        raise
    try:
        if regular:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise Refused(f"{path.name} is not a regular file ({_kind(st.st_mode)})")
            if st.st_nlink > 1:
                # Another name for it elsewhere: it may be a file of someone else's that
                # its reader was never meant to see (a hard link planted in a drop folder).
                raise Refused(f"{path.name} has {st.st_nlink} names (hard links): not read")
            if identity is not None and (st.st_dev, st.st_ino) != identity:
                raise Refused(f"{path.name} is not the file that was listed: it was "
                              "replaced since")
        yield fd
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    for test, what in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISDIR, "a folder"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return what
    return "something else"


def copy(src: int, dest: int, limit: int | None = None) -> int:
    """Copy from descriptor ``src`` to ``dest`` until the end, or ``limit`` bytes."""
    done, most = 0, limit if limit is not None else 1 << 62
    try:
        while done < most:
            n = os.sendfile(dest, src, None, min(most - done, 1 << 30))
            if not n:
                return done
            done += n
        return done
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP) or done:
            raise
    while done < most:  # no sendfile between these two: plain reads and writes
        block = os.read(src, min(most - done, 1 << 20))
        if not block:
            break
        write_all(dest, block)
        done += len(block)
    return done


def write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def publish(tmp: Path, final: Path, *, replace: bool = False) -> None:
    """Give ``tmp`` the name ``final``: one rename. Without ``replace`` it never replaces
    an existing name (FileExistsError); with it, a link at ``final`` is itself replaced."""
    if replace:
        os.replace(tmp, final)
    elif not _rename_noreplace(tmp, final):
        # link() refuses an existing name too; the temporary name is ours alone, so
        # removing it after cannot lose anybody's file.
        os.link(tmp, final, follow_symlinks=False)
        os.unlink(tmp)


def rename_noreplace(src: Path, dest: Path) -> None:
    """rename(2) that refuses an existing ``dest`` (FileExistsError): Linux's renameat2
    with RENAME_NOREPLACE where the kernel and file system have it; elsewhere a check then
    a rename (for moves of files that are not bridge's own, where link then unlink could
    lose a version a sender writes between the two)."""
    if _rename_noreplace(src, dest):
        return
    if os.path.lexists(dest):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dest))
    os.rename(src, dest)


def _rename_noreplace(src: Path, dest: Path) -> bool:
    """renameat2(RENAME_NOREPLACE); False where the kernel or file system lacks it."""
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dest),
                  _RENAME_NOREPLACE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL):
        return False
    raise OSError(err, os.strerror(err), str(dest if err == errno.EEXIST else src))


def own_folder(path: Path, depth: int = 1) -> Path:
    """``path`` as a folder of bridge's own, made (0700) if missing: the last ``depth``
    parts of it must be real folders of bridge's user, never links; a looser mode is
    tightened. Anything else raises :class:`TransientError`, and nothing is written there."""
    for part in [*reversed(path.parents[:depth - 1]), path]:
        try:
            os.mkdir(part, 0o700)
            continue  # made here and now: our own (0700), a folder, no link
        except FileExistsError:
            pass
        except FileNotFoundError:  # the work area itself is missing (the operator's)
            part.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o700)
        try:
            fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise TransientError(f"{part} is not a folder of bridge's own (a link, or not a "
                                 f"folder: {exc.strerror}): remove it") from None
        try:
            st = os.fstat(fd)
            if st.st_uid != os.geteuid():
                raise TransientError(f"{part} belongs to another user (uid {st.st_uid}): "
                                     "bridge writes only in folders of its own; remove it")
            if st.st_mode & 0o077:
                os.fchmod(fd, 0o700)
        finally:
            os.close(fd)
    return path


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
