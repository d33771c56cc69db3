"""What a folder on an FTP server holds, asked on an open connection: the files in it (MLSD,
or LIST lines made exact with SIZE and MDTM where the server has them), one file's size and
time (MLST, or SIZE and MDTM), whether a folder is there, and making one with its parents.

Links, FIFOs and the like are listed with their ``kind``, to be told, never taken. MLSD
servers often follow a link and call a FIFO a file, so on those the folder's LIST lines are
read too (one more transfer per listing): what LIST says is a link or a FIFO is one.

:class:`FtpListing` is a base of :class:`bridge.transport.ftp.FtpTransport`, which opens the
connection and sets what these read: the root folder, the server's features, whether it
speaks MLST, and the folders known to be there already.
"""

from __future__ import annotations

import builtins
import contextlib
import ftplib
import posixpath

from bridge.transport.base import FOLDER, Entry
from bridge.transport.ftp_lines import facts as _facts
from bridge.transport.ftp_lines import mlsd_kind as _mlsd_kind
from bridge.transport.ftp_lines import mtime as _mtime
from bridge.transport.ftp_lines import parse_list_line as _parse_list_line
from bridge.transport.ftp_lines import parse_other_line as _parse_other_line
from bridge.transport.ftp_lines import unwire as _unwire
from bridge.transport.ftp_lines import wire as _wire


class FtpListing:
    """The helpers that read and make folders on the server: all but :meth:`_path` run on
    an open connection, the ``ftp`` each is given."""

    _base: str
    _features: set[str]
    _mlst: bool
    _folders: set[str]

    def _path(self, folder: str, name: str | None = None) -> str:
        """The absolute path of a folder (and name) below the connection's root; valid once
        connected, since a relative root is relative to the login's home folder."""
        path = posixpath.normpath(posixpath.join(self._base, folder or "."))
        return posixpath.join(path, name) if name is not None else path

    def _list(self, ftp: ftplib.FTP, path: str, folders: bool = False
              ) -> builtins.list[Entry]:
        try:
            found = self._listing(ftp, path, folders)
        except ftplib.error_perm:
            if not self._is_dir(ftp, path):
                return []  # no folder yet: nothing to take, as on a local disk
            # Refused, yet there: another client made the folder between the two commands
            # (an upload making its folder, say). Asked again; a refusal now is a real one.
            found = self._listing(ftp, path, folders)
        if self._mlst:
            return found
        out = []
        for rough in found:
            if rough.kind is not None:  # a link, a FIFO: told as listed (SIZE would follow)
                out.append(rough)
                continue
            full = _wire(posixpath.join(path, rough.name))
            size, mtime = rough.size, rough.mtime
            if "SIZE" in self._features:
                size = ftp.size(full) or size
            if "MDTM" in self._features:
                mtime = _mtime(ftp.sendcmd(f"MDTM {full}")[4:])
            out.append(Entry(rough.name, size, mtime))
        return out

    def _listing(self, ftp: ftplib.FTP, path: str, folders: bool = False
                 ) -> builtins.list[Entry]:
        """The files in ``path``: as MLSD gives them, or as rough as LIST lines are; with
        the links, FIFOs... either says (their ``kind``), and its folders if asked."""
        if self._mlst:
            found = {e.name: e for e in self._mlsd(ftp, path, folders)}
            # MLSD says what a name points to: a link as its target, a FIFO as a file
            # (pyftpdlib and others). LIST lines say what each name is: they tell.
            try:
                lines = self._lines(ftp, path)
            except ftplib.error_perm:
                lines = []  # a server that will not LIST: what its MLSD says
            found.update((e.name, e) for e in self._others(lines, folders))
            return builtins.list(found.values())
        lines = self._lines(ftp, path)
        return ([Entry(*parsed) for parsed in filter(None, map(_parse_list_line, lines))]
                + self._others(lines, folders))

    def _mlsd(self, ftp: ftplib.FTP, path: str, folders: bool = False
              ) -> builtins.list[Entry]:
        out = []
        for n, f in ftp.mlsd(_wire(path)):
            kind = _mlsd_kind(f.get("type", ""))
            if kind == "" and folders and f.get("type", "").strip().lower() == "dir":
                kind = FOLDER  # not cdir nor pdir: the folder itself, its parent
            if kind != "":  # a folder in the folder is nobody's file, unless asked
                out.append(Entry(_unwire(n), int(f.get("size", 0) or 0),
                                 _mtime(f.get("modify", "")), kind=kind))
        return out

    @staticmethod
    def _others(lines: builtins.list[str], folders: bool = False) -> builtins.list[Entry]:
        return [Entry(name, size, mtime, kind=kind) for name, size, mtime, kind
                in filter(None, (_parse_other_line(line, folders) for line in lines))]

    @staticmethod
    def _lines(ftp: ftplib.FTP, path: str) -> builtins.list[str]:
        lines: builtins.list[str] = []
        try:
            ftp.retrlines(f"LIST {_wire(path)}", lines.append)
        except ftplib.error_perm:
            ftp.voidcmd("TYPE I")  # refused, LIST still left ASCII on
            raise
        ftp.voidcmd("TYPE I")  # LIST switched to ASCII, where SIZE is refused
        return lines

    def _stat(self, ftp: ftplib.FTP, path: str) -> Entry | None:
        name = posixpath.basename(path)
        try:
            if self._mlst:
                reply = ftp.sendcmd(f"MLST {_wire(path)}").splitlines()
                facts = _facts(reply[1].strip().partition(" ")[0]) if len(reply) > 2 else {}
                if facts.get("type", "").lower() != "file":
                    return None
                return Entry(name, int(facts.get("size", 0)), _mtime(facts.get("modify", "")))
            size = ftp.size(_wire(path))
            mtime = (_mtime(ftp.sendcmd(f"MDTM {_wire(path)}")[4:])
                     if "MDTM" in self._features else 0.0)
        except ftplib.error_perm:
            return None  # 550: no such file (SIZE also refuses folders)
        return Entry(name, size or 0, mtime)

    def _kind(self, ftp: ftplib.FTP, path: str) -> str | None:
        """What ``path`` is, if the server's STAT (a LIST line on the control connection)
        says a link, a FIFO...; None for a file, or when the server will not say."""
        try:
            reply = ftp.sendcmd(f"STAT {_wire(path)}")
        except (ftplib.error_perm, ftplib.error_temp):
            return None
        name = posixpath.basename(path)
        for line in reply.splitlines()[1:]:
            other = _parse_other_line(line.lstrip())
            if other is not None and other[0] == name:
                return other[3]
        return None

    def _is_dir(self, ftp: ftplib.FTP, path: str) -> bool:
        try:
            ftp.cwd(_wire(path))
        except ftplib.error_perm:
            return False
        return True

    def _mkdirs(self, ftp: ftplib.FTP, path: str) -> None:
        if path in self._folders:
            return
        if not self._is_dir(ftp, path):
            done = "/"
            for part in path.strip("/").split("/"):
                done = posixpath.join(done, part)
                # There already, or refused: the check below says which.
                with contextlib.suppress(ftplib.error_perm):
                    ftp.mkd(_wire(done))
            if not self._is_dir(ftp, path):
                raise ftplib.error_perm(f"550 cannot create folder {path}")
        self._folders.add(path)
