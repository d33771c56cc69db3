"""FTP and explicit FTPS drop folders, over the standard library's ftplib.

One control connection serves a whole pass. Every socket has the connection's timeout, so a
silent server cannot hang a cron run; a dropped connection is opened again once, after a short
pause with jitter, and the operation is done again from its start (each operation can be: an
upload restarts under its temporary name). Every other ftplib or socket failure becomes a
:class:`TransientError`; a refused login or an untrusted FTPS certificate is a
:class:`ConfigError`, since retrying cannot fix it.

FTPS is explicit (AUTH TLS before the password is sent, then PROT P for data), and the server
certificate is verified, against ``ca_file`` when given. Data connections are always passive
unless the configuration says ``passive: false``.

Names travel on the wire as bytes (see :mod:`bridge.transport.ftp_lines`). ``OPTS UTF8 ON``
is sent to servers that offer it, for the few that only speak UTF-8 once asked.

FTP has no rename that refuses to overwrite, so an upload checks that the final name is free
(MLST or SIZE) just before RNTO. Another client creating that name between the check and the
rename would be overwritten; that window is a few milliseconds, and bridge's own writers never
share a target name, since output names are fixed in the ledger first. FTP has no exclusive
create either: STOR writes through whatever is under a name. So the temporary name
(``.NAME.<tag>.part``) is keyed with the work area's secret (:class:`bridge.files.TempNames`):
nobody else can tell it in advance, so nobody can have put anything under it; every try of
the same output uses it, and what an earlier one left (the server gone, the tries run out)
is written over, then renamed, by the next.

Plain FTP sends the password and the files in clear: every connection logs a warning. A file
the server lists but refuses to send (a permanent 550 on RETR of a file that is there) is
:class:`Refused`; a 550 on a file that is gone stays a failure to retry. Every file is
asked what it is right before it is read (STAT, on the control connection): one swapped for
a link or a FIFO since is :class:`Refused` too, never read through the link nor opened.
"""

from __future__ import annotations

import contextlib
import ftplib
import logging
import posixpath
import random
import ssl
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, TypeVar

from bridge import faults, files
from bridge.errors import ConfigError, TransientError
from bridge.files import NameTaken, TempNames
from bridge.transport.base import (
    Entry,
    Refused,
    TargetExists,
    WorkAreaFull,
    safe_name,
    upload_source,
    work_area_full,
)
from bridge.transport.ftp_lines import WIRE, quietly
from bridge.transport.ftp_lines import features as _features
from bridge.transport.ftp_lines import parse_list_line as _parse_list_line
from bridge.transport.ftp_lines import parse_other_line as _parse_other_line
from bridge.transport.ftp_lines import text_of as _text
from bridge.transport.ftp_lines import unwire as _unwire
from bridge.transport.ftp_lines import wire as _wire
from bridge.transport.ftp_listing import FtpListing

if TYPE_CHECKING:
    from bridge.config import FtpConnection

# the tests read these
__all__ = ["FtpTransport", "_parse_list_line", "_parse_other_line", "_unwire", "_wire"]

log = logging.getLogger(__name__)
T = TypeVar("T")
BLOCK = 1 << 16
#: Errors after which the control connection cannot be trusted: open a new one.
DROPPED = (OSError, EOFError, ftplib.error_temp, ftplib.error_reply, ftplib.error_proto)



class _Enough(Exception):
    """A download has all the bytes it may take."""


class FtpTransport(FtpListing):
    def __init__(self, name: str, conn: FtpConnection, resolve: Callable[[Path], Path], *,
                 names: TempNames | None = None) -> None:
        self.name = name
        self.names = names or TempNames()
        self.conn = conn
        self.resolve = resolve
        # A short timeout marks a fast-moving setup; it also keeps the pause before a
        # reconnect short.
        self.backoff = min(2.0, conn.timeout / 10)
        self._ftp: ftplib.FTP | None = None
        self._base = "/"
        self._features: set[str] = set()
        self._mlst = False
        self._folders: set[str] = set()

    # -- the port ----------------------------------------------------------------------

    def list(self, folder: str, folders: bool = False) -> list[Entry]:
        return self._op(f"list {folder}",
                        lambda ftp: self._list(ftp, self._path(folder), folders))

    def is_folder(self, folder: str) -> bool:
        return self._op(f"cwd {folder}", lambda ftp: self._is_dir(ftp, self._path(folder)))

    def stat(self, folder: str, name: str) -> Entry | None:
        safe_name(name)
        return self._op(f"stat {folder}/{name}",
                        lambda ftp: self._stat(ftp, self._path(folder, name)))

    def download(self, folder: str, name: str, dest: Path, expect: Entry | None = None
                 ) -> None:
        safe_name(name)
        most = None if expect is None else expect.size + 1

        def get(ftp: ftplib.FTP) -> None:
            path = self._path(folder, name)
            kind = self._kind(ftp, path)
            if kind is not None:  # swapped since it was listed: a server would follow it
                raise Refused(f"{self.name}: {folder}/{name} is {kind}, not the file that "
                              "was listed: never read")
            with files.writing(dest, name=self.names.beside(dest), replace=True) as out:
                got = 0

                def block(data: bytes) -> None:
                    nonlocal got
                    keep = data if most is None else data[:most - got]
                    try:
                        files.write_all(out, keep)
                    except OSError as exc:  # not the connection's: not a drop
                        full = work_area_full(exc, name, dest)
                        if full is None:
                            raise
                        raise full from None
                    got += len(keep)
                    if most is not None and got >= most:
                        raise _Enough

                try:
                    ftp.retrbinary(f"RETR {_wire(path)}", block, BLOCK)
                except _Enough:
                    self._abandon()  # the server goes on sending: out of step from now on
                except WorkAreaFull:
                    self._abandon()  # the transfer cut short: out of step as well
                    raise
                except ftplib.error_perm as exc:
                    if self._stat(ftp, path) is None:
                        raise  # gone: a failure to retry, as for any vanished file
                    raise Refused(f"{self.name}: the server refuses to send {folder}/{name}: "
                                  f"{_text(exc)}") from None

        try:
            self._op(f"download {folder}/{name}", get)
        except NameTaken as exc:
            raise TransientError(f"cannot write {exc.filename}: {exc.strerror}") from None

    def upload(self, src: Path | bytes, folder: str, name: str, mode: int | None = None, *,
               fence: Callable[[], None] | None = None, durable: bool = True) -> None:
        safe_name(name)
        made: list[str] = []  # temporary files of this upload that may still be there

        def put(ftp: ftplib.FTP) -> None:
            for left in made:  # left by a try whose connection dropped
                quietly(ftp, f"DELE {_wire(left)}")
            made.clear()
            directory = self._path(folder)
            final = posixpath.join(directory, name)
            tmp = str(self.names.of_upload(PurePosixPath(final), src))
            self._mkdirs(ftp, directory)
            if self._stat(ftp, final) is not None:
                raise TargetExists(f"{self.name}:{final} exists already; not overwritten")
            made.append(tmp)
            try:
                with upload_source(src) as fin:
                    ftp.storbinary(f"STOR {_wire(tmp)}", fin, BLOCK)
                faults.point("mid-write")
                if mode is not None:
                    self._chmod(ftp, tmp, mode)
                # Checked again right before the rename: the upload may have taken long.
                if self._stat(ftp, final) is not None:
                    raise TargetExists(f"{self.name}:{final} exists already; not overwritten")
                if fence is not None:
                    fence()
                ftp.rename(_wire(tmp), _wire(final))
            except BaseException:
                with contextlib.suppress(*DROPPED, ftplib.error_perm):
                    ftp.sendcmd(f"DELE {_wire(tmp)}")
                    made.clear()
                raise
            made.clear()
            faults.point("after-rename")

        self._op(f"upload {folder}/{name}", put)

    def _chmod(self, ftp: ftplib.FTP, path: str, mode: int) -> None:
        """SITE CHMOD where the server has it (many do not: then the server's mode stays)."""
        try:
            ftp.sendcmd(f"SITE CHMOD {mode & 0o7777:o} {_wire(path)}")
        except (ftplib.error_perm, ftplib.error_reply) as exc:
            log.debug("%s: SITE CHMOD refused (%s): %s keeps the server's mode", self.name,
                      _text(exc), path)

    def move(self, folder: str, name: str, to_folder: str, to_name: str) -> None:
        safe_name(name)
        safe_name(to_name)

        def mv(ftp: ftplib.FTP) -> None:
            dest_dir = self._path(to_folder)
            dest = posixpath.join(dest_dir, to_name)
            self._mkdirs(ftp, dest_dir)
            if self._stat(ftp, dest) is not None:
                raise TargetExists(f"{self.name}:{dest} exists already")
            ftp.rename(_wire(self._path(folder, name)), _wire(dest))

        self._op(f"move {folder}/{name} to {to_folder}/{to_name}", mv)

    def delete(self, folder: str, name: str) -> None:
        safe_name(name)

        def rm(ftp: ftplib.FTP) -> None:
            path = self._path(folder, name)
            try:
                ftp.delete(_wire(path))
            except ftplib.error_perm:
                if self._stat(ftp, path) is not None:
                    raise  # there, but not ours to delete
                # gone already: what delete wants

        self._op(f"delete {folder}/{name}", rm)

    def mkdir(self, folder: str) -> None:
        """Create ``folder`` and its parents (``mkdir -p``)."""
        self._op(f"mkdir {folder}", lambda ftp: self._mkdirs(ftp, self._path(folder)))

    def close(self) -> None:
        ftp, self._ftp = self._ftp, None
        if ftp is None:
            return
        try:
            ftp.quit()
        except (*DROPPED, ftplib.error_perm):
            ftp.close()

    # -- connection --------------------------------------------------------------------

    def _op(self, what: str, fn: Callable[[ftplib.FTP], T]) -> T:
        """Run ``fn`` on the connection; on a drop, reconnect once and run it again."""
        for attempt in (1, 2):
            try:
                return fn(self._session())
            except ftplib.error_perm as exc:
                raise TransientError(f"{self.name}: cannot {what}: {_text(exc)}") from None
            except DROPPED as exc:
                self._abandon()
                if attempt == 2:
                    raise TransientError(f"{self.name}: cannot {what}: {_text(exc)}") from None
                # Jitter, so that workers cut off together do not all come back together.
                time.sleep(self.backoff * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def _session(self) -> ftplib.FTP:
        if self._ftp is None:
            self._ftp = self._connect()
        return self._ftp

    def _abandon(self) -> None:
        ftp, self._ftp = self._ftp, None
        if ftp is not None:
            ftp.close()

    def _connect(self) -> ftplib.FTP:
        c = self.conn
        where = f"connection {self.name!r} ({c.type}://{c.host}:{c.port})"
        ftp: ftplib.FTP
        if c.type == "ftps":
            ftp = ftplib.FTP_TLS(context=self._tls_context(), timeout=c.timeout,
                                 encoding=WIRE)
        else:
            ftp = ftplib.FTP(timeout=c.timeout, encoding=WIRE)
        stage = "login refused"
        try:
            ftp.connect(c.host, c.port, timeout=c.timeout)
            if isinstance(ftp, ftplib.FTP_TLS):
                stage = "the server does not offer explicit TLS (AUTH TLS)"
                ftp.auth()  # before the password goes out
                stage = "login refused"
            password = c.password.get_secret_value() if c.password else ""
            if not isinstance(ftp, ftplib.FTP_TLS):
                log.warning("%s: plain FTP: the password and the files travel in clear, "
                            "readable by anyone on the path; use ftps if the server has it",
                            where)
            ftp.login(_wire(c.user), _wire(password))
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.prot_p()
            ftp.set_pasv(c.passive)
            self._features = _features(ftp)
            if "UTF8" in self._features:
                quietly(ftp, "OPTS UTF8 ON")
            self._mlst = any(f.startswith("MLST") for f in self._features)
            if self._mlst:
                quietly(ftp, "OPTS MLST type;size;modify;")
            ftp.voidcmd("TYPE I")  # SIZE is refused in ASCII mode by some servers
            home = _unwire(ftp.pwd())
        except ssl.SSLCertVerificationError as exc:
            ftp.close()
            hint = ("set ca_file to the CA that signed it" if c.ca_file is None
                    else f"it is not signed by the CA in {c.ca_file}")
            raise ConfigError(f"{where}: the server's TLS certificate is not trusted "
                              f"({exc.verify_message}); {hint}") from None
        except ftplib.error_perm as exc:
            ftp.close()
            raise ConfigError(f"{where}: {stage}: {_text(exc)}") from None
        except BaseException:
            ftp.close()
            raise
        self._base = posixpath.normpath(posixpath.join(home, c.root))
        self._folders.clear()
        return ftp

    def _tls_context(self) -> ssl.SSLContext:
        c = self.conn
        cafile = str(self.resolve(c.ca_file)) if c.ca_file is not None else None
        try:
            ctx = ssl.create_default_context(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"connection {self.name!r}: cannot read ca_file {cafile}: "
                              f"{exc}") from None
        if c.insecure_skip_tls_verify:
            log.warning("connection %r: TLS certificate check is OFF "
                        "(insecure_skip_tls_verify); anyone on the path can read and "
                        "change the files", self.name)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx
