"""SFTP servers, through paramiko (the only module that imports it).

One connection per pass, opened on first use: our own socket with TCP_NODELAY (paramiko never
sets it, and unpipelined SFTP requests crawl without it), AES-GCM first, keepalives, and a
timeout on connect and on every request, so nothing can hang a cron run. The host key is
checked before any secret is sent. A dropped connection is opened again with exponential
backoff and jitter; once the tries run out the transport stays down for the rest of the pass,
so a dead server costs one wait, not one per file (the session:
:mod:`bridge.transport.sftp_session`). File contents go through
:mod:`bridge.transport.sftp_pipe` on the same channel (paramiko's file objects ran at half
OpenSSH's speed); paramiko does everything else.

Uploads go to a hidden temporary name, then to the final name. Where the server offers
hardlink@openssh.com (OpenSSH does), the temporary file is linked to the final name and removed,
both sent behind the close: a link never replaces a name, so nothing can be overwritten, and a
small file costs two round trips (see :meth:`Pipe.put_linked` for a write that fails late).
Elsewhere the temporary file is renamed after a stat shows the final name free; as
posix-rename@openssh.com replaces an existing file, a file created by someone else between the
two would be replaced: a window of one round trip, on names bridge chose itself (sequence
numbers), which we accept. The plain SFTPv3 rename refuses an existing name by itself.

The temporary name (``.NAME.<tag>.part``) is keyed with the work area's secret
(:class:`bridge.files.TempNames`): nobody else can tell it in advance, and every try of the
same output uses it. It is made exclusively. A file there already is what an earlier try
left, when the server died and the tries ran out (an ERP that imports the whole folder
would find it): it is removed, and the name made again once; a name taken again (a link
included) fails the upload cleanly and is left alone. What a failed try of this pass left is
removed by the next try, when the connection dropped. ``stat`` does not
follow links, and a file the server lists but will not serve is :class:`Refused`.
"""

from __future__ import annotations

import builtins
import io
import logging
import posixpath
import stat as st
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TypeVar

import paramiko

from bridge import files, hostkeys
from bridge.errors import TransientError
from bridge.files import NameTaken
from bridge.transport.base import (
    FOLDER,
    Entry,
    Refused,
    TargetExists,
    kind_of,
    safe_name,
    upload_source,
    work_area_full,
)
from bridge.transport.sftp_connect import (
    DROPPED,
    lstat_of,
    open_transport,
    plain,
    remove_quietly,
    scan_host_key,
    stat_of,
)
from bridge.transport.sftp_pipe import OK, OP_UNSUPPORTED, Pipe
from bridge.transport.sftp_session import SftpSession
from bridge.transport.sftp_wire import CreateRefused, Denied

__all__ = ["SftpTransport", "open_transport", "scan_host_key"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class SftpTransport(SftpSession):
    # -- the port -----------------------------------------------------------------------

    def list(self, folder: str, folders: bool = False) -> list[Entry]:
        path = self._dir(folder)

        def op(sftp: paramiko.SFTPClient, attempt: int) -> list[Entry]:
            try:
                attrs = sftp.listdir_attr(path)
            except FileNotFoundError:
                return []
            # The server's listing says what each entry is without following it (as lstat).
            kinds = [(a, kind_of(a.st_mode)) for a in attrs if a.st_mode is not None]
            return [Entry(a.filename, a.st_size or 0, float(a.st_mtime or 0),
                          kind=FOLDER if kind == "" else kind) for a, kind in kinds
                    if kind != "" or folders]

        return self._run(f"list {path}", op)

    def is_folder(self, folder: str) -> bool:
        path = self._dir(folder)

        def op(sftp: paramiko.SFTPClient, attempt: int) -> bool:
            try:
                mode = sftp.stat(path).st_mode
            except FileNotFoundError:
                return False
            return mode is not None and st.S_ISDIR(mode)

        return self._run(f"stat {path}", op)

    def stat(self, folder: str, name: str) -> Entry | None:
        """The regular file ``name``; None for nothing, a link or a folder (lstat)."""
        path = posixpath.join(self._dir(folder), safe_name(name))

        def op(sftp: paramiko.SFTPClient, attempt: int) -> Entry | None:
            a = lstat_of(sftp, path)
            if a is None or a.st_mode is None or not st.S_ISREG(a.st_mode):
                return None
            return Entry(name, a.st_size or 0, float(a.st_mtime or 0))

        return self._run(f"stat {path}", op)

    def download(self, folder: str, name: str, dest: Path, expect: Entry | None = None
                 ) -> None:
        path = posixpath.join(self._dir(folder), safe_name(name))
        limit = None if expect is None else expect.size + 1

        def op(sftp: paramiko.SFTPClient, attempt: int) -> None:
            assert self._pipe is not None
            with files.writing(dest, name=self.names.beside(dest), replace=True) as out:
                try:
                    self._pipe.get(path.encode("utf-8"), out, limit)
                except OSError as exc:  # the pipe read every answer: still in step
                    full = work_area_full(exc, name, dest)
                    if full is not None:
                        raise full from None
                    if not isinstance(exc, Denied):
                        raise
                    # Listed, yet not served: asking again will not change the answer.
                    raise Refused(f"{self.where}: the server refuses to let bridge read "
                                  f"{path}: {plain(exc)}") from None

        try:
            self._run(f"download {path}", op)
        except NameTaken as exc:
            raise TransientError(f"cannot write {exc.filename}: {exc.strerror}") from None

    def upload(self, src: Path | bytes, folder: str, name: str, mode: int | None = None, *,
               fence: Callable[[], None] | None = None, durable: bool = True) -> None:
        folder_path = self._dir(folder)
        final = posixpath.join(folder_path, safe_name(name))
        tmp = str(self.names.of_upload(PurePosixPath(final), src))
        made: builtins.list[str] = []  # temporary files of this upload that may still be there

        def op(sftp: paramiko.SFTPClient, attempt: int) -> None:
            self._forget(sftp, made)  # left by a try whose connection dropped
            with upload_source(src) as fin:
                try:
                    try:
                        send(fin)
                    except FileNotFoundError:
                        # The open found no folder (a missing file is never asked for here).
                        self._makedirs(sftp, folder_path)
                        fin.seek(0)
                        send(fin)
                except BaseException as exc:
                    if not (isinstance(exc, (OSError, *DROPPED)) and self._dropped(exc)):
                        self._forget(sftp, made)
                    raise
            made.clear()

        def create(put: Callable[[bytes], T]) -> T:
            """``put`` to the temporary name; one an earlier try left is removed first, and
            a name taken again fails, and is left alone."""
            made.append(tmp)
            for first in (True, False):
                try:
                    return put(tmp.encode("utf-8"))
                except CreateRefused as exc:
                    assert self._sftp is not None
                    there = lstat_of(self._sftp, tmp) is not None
                    if first and there:  # nothing read from the source yet
                        log.info("%s: removing %s, left by an earlier try", self.where, tmp)
                        remove_quietly(self._sftp, tmp)
                        continue
                    made.remove(tmp)
                    raise TransientError(
                        f"{self.where}: cannot write {final}: " + (
                            f"its temporary name {tmp} exists already; left alone, not "
                            "followed" if there else f"cannot create {tmp}: {plain(exc)}")
                    ) from None
            raise AssertionError("unreachable")

        def send(fin: io.BytesIO | io.FileIO) -> None:
            pipe, sftp = self._pipe, self._sftp
            assert pipe is not None and sftp is not None
            if self._hardlink:
                code, left = create(lambda tmp: pipe.put_linked(fin, tmp, final.encode(), mode,
                                                                fence=fence))
                self._said_refusals(pipe, mode)
                if left is not None:
                    log.warning("%s: %s is left behind: %s", self.where, made[-1], plain(left))
                del made[-1]  # removed by the link's round trip
                if code == OK:
                    return
                if code != OP_UNSUPPORTED and stat_of(sftp, final) is not None:
                    raise TargetExists(f"{self.where}: {final} exists already; not overwritten")
                # Refused for another reason (a file system without links, say): the
                # temporary file is gone, so send it again the other way, from now on.
                log.info("%s: the server refused a hard link; renaming instead", self.where)
                self._hardlink = False
                fin.seek(0)
            taken = create(lambda tmp: pipe.put(fin, tmp, final.encode("utf-8"), mode))
            self._said_refusals(pipe, mode)
            if taken:
                raise TargetExists(f"{self.where}: {final} exists already; not overwritten")
            if fence is not None:
                fence()
            self._rename(sftp, made[-1], final)

        self._run(f"write {final}", op)

    def _forget(self, sftp: paramiko.SFTPClient, made: builtins.list[str]) -> None:
        """Remove temporary files of a failed try; a refusal must not hide its failure."""
        while made:
            try:
                remove_quietly(sftp, made[-1])
            except OSError as exc:
                if self._dropped(exc):
                    raise
                log.warning("%s: %s is left behind: %s", self.where, made[-1], plain(exc))
            del made[-1]

    def _said_refusals(self, pipe: Pipe, mode: int | None) -> None:
        if pipe.sync_refused is not None:
            log.warning("%s: the server refused to sync an uploaded file (%s): files are "
                        "uploaded without asking it from now on", self.where,
                        plain(pipe.sync_refused))
            pipe.sync_refused = None
        if mode is not None and pipe.mode_refused is not None and not self._mode_refused:
            self._mode_refused = True
            log.warning("%s: the server refused to set the mode %o of uploaded files (%s): "
                        "they keep the server's default", self.where, mode,
                        plain(pipe.mode_refused))

    def move(self, folder: str, name: str, to_folder: str, to_name: str) -> None:
        src = posixpath.join(self._dir(folder), safe_name(name))
        dest_dir = self._dir(to_folder)
        dest = posixpath.join(dest_dir, safe_name(to_name))

        def op(sftp: paramiko.SFTPClient, attempt: int) -> None:
            if stat_of(sftp, dest) is not None:
                if attempt and stat_of(sftp, src) is None:
                    return  # moved by the try whose answer the dropped connection lost
                raise TargetExists(f"{self.where}: {dest} exists already")
            try:
                self._rename(sftp, src, dest)
            except FileNotFoundError:
                if stat_of(sftp, src) is None:
                    raise
                self._makedirs(sftp, dest_dir)
                self._rename(sftp, src, dest)

        self._run(f"move {src} to {dest}", op)

    def delete(self, folder: str, name: str) -> None:
        path = posixpath.join(self._dir(folder), safe_name(name))
        self._run(f"delete {path}", lambda sftp, attempt: remove_quietly(sftp, path))

    def close(self) -> None:
        self._disconnect()

    def describe(self) -> dict[str, str]:
        """What `bridge connections check` prints: proof that every step works."""
        entries = self.list("")
        assert self._ssh is not None
        key = self._ssh.get_remote_server_key()
        return {"server": self._ssh.remote_version,
                "host key": f"{key.get_name()} {hostkeys.fingerprint(key.asbytes())}",
                "cipher": self._ssh.local_cipher,
                "user": self.conn.user,
                "root": self.conn.root,
                "files in root": str(sum(1 for e in entries if e.kind is None))}

    # -- paths and renames --------------------------------------------------------------

    def _dir(self, folder: str) -> str:
        root = self.conn.root
        if root in ("", "."):
            return folder or "."
        return posixpath.join(root, folder) if folder else root

    def _rename(self, sftp: paramiko.SFTPClient, old: str, new: str) -> None:
        if self._posix_rename:
            try:
                sftp.posix_rename(old, new)
                return
            except OSError as exc:
                if exc.errno is not None or "unsupported" not in str(exc).lower():
                    raise
                self._posix_rename = False
        try:
            sftp.rename(old, new)
        except OSError:
            if stat_of(sftp, new) is not None:
                raise TargetExists(f"{self.where}: {new} exists already") from None
            raise

    def _makedirs(self, sftp: paramiko.SFTPClient, path: str) -> None:
        try:
            sftp.mkdir(path)
            return
        except OSError:
            pass  # there already, or its parent is missing: stat tells which
        a = stat_of(sftp, path)
        if a is None:
            parent = posixpath.dirname(path)
            if parent in ("", "/", ".", path):
                raise FileNotFoundError(f"cannot create the folder {path}")
            self._makedirs(sftp, parent)
            sftp.mkdir(path)
        elif a.st_mode is None or not st.S_ISDIR(a.st_mode):
            raise NotADirectoryError(f"{path} is a file, not a folder")
