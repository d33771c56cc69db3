"""SFTP servers, through paramiko (the only module that imports it).

One connection per pass, opened on first use: our own socket with TCP_NODELAY (paramiko never
sets it, and unpipelined SFTP requests crawl without it), AES-GCM first, keepalives, and a
timeout on connect and on every request, so nothing can hang a cron run. The host key is
checked before any secret is sent. A dropped connection is opened again with exponential
backoff and jitter; once the tries run out the transport stays down for the rest of the pass,
so a dead server costs one wait, not one per file. File contents go through
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
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import posixpath
import random
import socket
import stat as st
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import paramiko

from bridge import hostkeys
from bridge.errors import ConfigError, TransientError
from bridge.transport.base import Entry, TargetExists, safe_name, temp_name
from bridge.transport.sftp_pipe import OK, OP_UNSUPPORTED, Pipe, ProtocolError, version_extensions

if TYPE_CHECKING:
    from bridge.config import SftpConnection

log = logging.getLogger(__name__)
T = TypeVar("T")

CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
           "aes128-ctr", "aes192-ctr", "aes256-ctr")
KEEPALIVE = 15
#: Failures after which the session cannot be trusted to be in step with the server.
DROPPED = (EOFError, TimeoutError, paramiko.SSHException, paramiko.SFTPError, ProtocolError)


class _Client(paramiko.SFTPClient):
    """paramiko's client, keeping the extensions named in the server's version reply."""

    extensions: dict[bytes, bytes] | None = None

    def _read_packet(self) -> tuple[int, bytes]:
        kind, data = super()._read_packet()  # type: ignore[misc]
        if self.extensions is None and kind == 2:  # SSH_FXP_VERSION: the first answer
            self.extensions = version_extensions(bytes(data))
        return kind, bytes(data)


class _Unreachable(Exception):
    """The server could not be reached or the handshake broke: worth another try."""


def _plain(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).rstrip(".")


class SftpTransport:
    #: Seconds before each new try after a failure (jittered down to half); about 10 s in all.
    backoff: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)

    def __init__(self, name: str, conn: SftpConnection, resolve: Callable[[Path], Path]) -> None:
        self.name = name
        self.conn = conn
        self.resolve = resolve
        self.where = f"connection {name!r} (sftp {conn.user}@{conn.host}:{conn.port})"
        self._ssh: paramiko.Transport | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._pipe: Pipe | None = None
        self._key: paramiko.PKey | None = None
        self._posix_rename = True
        #: Whether uploads link and remove (see the module's docstring); per connection.
        self._hardlink = False
        self._down: str | None = None

    # -- the port -----------------------------------------------------------------------

    def list(self, folder: str) -> list[Entry]:
        path = self._dir(folder)

        def op(sftp: paramiko.SFTPClient, attempt: int) -> list[Entry]:
            try:
                attrs = sftp.listdir_attr(path)
            except FileNotFoundError:
                return []
            return [Entry(a.filename, a.st_size or 0, float(a.st_mtime or 0)) for a in attrs
                    if a.st_mode is not None and st.S_ISREG(a.st_mode)]

        return self._run(f"list {path}", op)

    def stat(self, folder: str, name: str) -> Entry | None:
        path = posixpath.join(self._dir(folder), safe_name(name))

        def op(sftp: paramiko.SFTPClient, attempt: int) -> Entry | None:
            a = _stat(sftp, path)
            return None if a is None else Entry(name, a.st_size or 0, float(a.st_mtime or 0))

        return self._run(f"stat {path}", op)

    def download(self, folder: str, name: str, dest: Path) -> None:
        path = posixpath.join(self._dir(folder), safe_name(name))
        part = dest.with_name(dest.name + ".part")

        def op(sftp: paramiko.SFTPClient, attempt: int) -> None:
            assert self._pipe is not None
            with open(part, "wb", buffering=0) as out:
                self._pipe.get(path.encode("utf-8"), out.fileno())
            os.replace(part, dest)

        try:
            self._run(f"download {path}", op)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
            raise

    def upload(self, src: Path, folder: str, name: str) -> None:
        folder_path = self._dir(folder)
        final = posixpath.join(folder_path, safe_name(name))
        tmp = posixpath.join(folder_path, temp_name(name))

        def op(sftp: paramiko.SFTPClient, attempt: int) -> None:
            with open(src, "rb", buffering=0) as fin:
                try:
                    send(fin)
                except FileNotFoundError:
                    # The open found no folder (a missing file is never asked for here).
                    self._makedirs(sftp, folder_path)
                    fin.seek(0)
                    send(fin)

        def send(fin: io.FileIO) -> None:
            pipe, sftp = self._pipe, self._sftp
            assert pipe is not None and sftp is not None
            if self._hardlink:
                code, left = pipe.put_linked(fin, tmp.encode("utf-8"), final.encode("utf-8"))
                if left is not None:
                    log.warning("%s: %s is left behind: %s", self.where, tmp, _plain(left))
                if code == OK:
                    return
                if code != OP_UNSUPPORTED and _stat(sftp, final) is not None:
                    _remove(sftp, tmp)  # gone already, unless its remove failed
                    raise TargetExists(f"{self.where}: {final} exists already; not overwritten")
                # Refused for another reason (a file system without links, say): the
                # temporary file is gone, so send it again the other way, from now on.
                log.info("%s: the server refused a hard link; renaming instead", self.where)
                self._hardlink = False
                fin.seek(0)
            taken = pipe.put(fin, tmp.encode("utf-8"), final.encode("utf-8"))
            if taken:
                _remove(sftp, tmp)
                raise TargetExists(f"{self.where}: {final} exists already; not overwritten")
            self._rename(sftp, tmp, final)

        self._run(f"write {final}", op)

    def move(self, folder: str, name: str, to_folder: str, to_name: str) -> None:
        src = posixpath.join(self._dir(folder), safe_name(name))
        dest_dir = self._dir(to_folder)
        dest = posixpath.join(dest_dir, safe_name(to_name))

        def op(sftp: paramiko.SFTPClient, attempt: int) -> None:
            if _stat(sftp, dest) is not None:
                if attempt and _stat(sftp, src) is None:
                    return  # moved by the try whose answer the dropped connection lost
                raise TargetExists(f"{self.where}: {dest} exists already")
            try:
                self._rename(sftp, src, dest)
            except FileNotFoundError:
                if _stat(sftp, src) is None:
                    raise
                self._makedirs(sftp, dest_dir)
                self._rename(sftp, src, dest)

        self._run(f"move {src} to {dest}", op)

    def delete(self, folder: str, name: str) -> None:
        path = posixpath.join(self._dir(folder), safe_name(name))
        self._run(f"delete {path}", lambda sftp, attempt: _remove(sftp, path))

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
                "files in root": str(len(entries))}

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
            if _stat(sftp, new) is not None:
                raise TargetExists(f"{self.where}: {new} exists already") from None
            raise

    def _makedirs(self, sftp: paramiko.SFTPClient, path: str) -> None:
        try:
            sftp.mkdir(path)
            return
        except OSError:
            pass  # there already, or its parent is missing: stat tells which
        a = _stat(sftp, path)
        if a is None:
            parent = posixpath.dirname(path)
            if parent in ("", "/", ".", path):
                raise FileNotFoundError(f"cannot create the folder {path}")
            self._makedirs(sftp, parent)
            sftp.mkdir(path)
        elif a.st_mode is None or not st.S_ISDIR(a.st_mode):
            raise NotADirectoryError(f"{path} is a file, not a folder")

    # -- connections --------------------------------------------------------------------

    def _run(self, what: str, op: Callable[[paramiko.SFTPClient, int], T]) -> T:
        """``op`` on the open session, opening it again after a drop; ``attempt`` tells a
        retried op that its first try may have been carried out unanswered."""
        if self._down is not None:
            raise TransientError(self._down)
        last = ""
        for attempt, delay in enumerate((0.0, *self.backoff)):
            if delay:
                time.sleep(random.uniform(delay / 2, delay))
            try:
                sftp = self._sftp if self._sftp is not None else self._connect()
                return op(sftp, attempt)
            except _Unreachable as exc:
                last = str(exc)
            except (OSError, *DROPPED) as exc:
                if not self._dropped(exc):
                    raise TransientError(f"{self.where}: cannot {what}: {_plain(exc)}") from None
                last = f"connection lost: {_plain(exc)}"
            self._disconnect()
            log.info("%s: %s; try %d of %d", self.where, last, attempt + 1,
                     len(self.backoff) + 1)
        self._down = f"{self.where}: cannot {what}: {last} (gave up after " \
                     f"{len(self.backoff) + 1} tries)"
        raise TransientError(self._down)

    def _dropped(self, exc: BaseException) -> bool:
        return (isinstance(exc, DROPPED) or self._ssh is None or not self._ssh.is_active()
                or self._sftp is None)

    def _connect(self) -> paramiko.SFTPClient:
        conn = self.conn
        t = open_transport(conn, self.resolve)
        try:
            hostkeys.check(self.name, conn, self.resolve, t.get_remote_server_key().asbytes())
            self._authenticate(t)
            t.set_keepalive(KEEPALIVE)
            sftp = _Client.from_transport(t)
            if sftp is None:
                raise _Unreachable("the server refused the sftp subsystem")
            channel = sftp.get_channel()
            if channel is None:
                raise _Unreachable("the server refused the sftp subsystem")
            channel.settimeout(conn.timeout)
            pipe = Pipe(channel)
            pipe.ask_limits()
        except (OSError, *DROPPED) as exc:
            t.close()
            if isinstance(exc, paramiko.AuthenticationException):
                raise ConfigError(f"{self.where}: authentication failed: {_plain(exc)}") from None
            raise _Unreachable(f"handshake failed: {_plain(exc)}") from None
        except BaseException:
            t.close()
            raise
        self._ssh, self._sftp, self._pipe = t, sftp, pipe
        self._hardlink = (sftp.extensions or {}).get(b"hardlink@openssh.com") == b"1"
        return sftp

    def _authenticate(self, t: paramiko.Transport) -> None:
        conn = self.conn
        if conn.key_file is None and conn.password is None:
            raise ConfigError(f"{self.where}: set key_file or password to log in")
        if conn.key_file is not None:
            try:
                t.auth_publickey(conn.user, self._load_key())
                return
            except paramiko.AuthenticationException as exc:
                if conn.password is None:
                    raise ConfigError(f"{self.where}: the server refused the key "
                                      f"{conn.key_file}: {_plain(exc)}") from None
        assert conn.password is not None
        try:
            t.auth_password(conn.user, conn.password.get_secret_value())
        except paramiko.AuthenticationException:
            raise ConfigError(f"{self.where}: the server refused the password") from None

    def _load_key(self) -> paramiko.PKey:
        if self._key is None:
            assert self.conn.key_file is not None
            path = self.resolve(self.conn.key_file)
            secret = self.conn.key_passphrase
            try:
                # paramiko hands the passphrase to cryptography, which wants bytes (the
                # stubs say str).
                self._key = paramiko.PKey.from_path(
                    path, secret.get_secret_value().encode()  # type: ignore[arg-type]
                    if secret is not None else None)
            except (paramiko.PasswordRequiredException, TypeError):
                # TypeError: how cryptography says a passphrase is missing (paramiko 5).
                raise ConfigError(f"{self.where}: the key {path} is encrypted: set "
                                  "key_passphrase") from None
            except (OSError, ValueError, paramiko.SSHException) as exc:
                # Messages of a wrong passphrase never hold the passphrase itself.
                raise ConfigError(f"{self.where}: cannot load the key {path}: "
                                  f"{_plain(exc)}") from None
        return self._key

    def _disconnect(self) -> None:
        sftp, t = self._sftp, self._ssh
        self._sftp = self._ssh = None
        self._pipe = None
        if sftp is not None:
            with contextlib.suppress(Exception):
                sftp.close()
        if t is not None:
            t.close()


def _stat(sftp: paramiko.SFTPClient, path: str) -> paramiko.SFTPAttributes | None:
    try:
        return sftp.stat(path)
    except FileNotFoundError:
        return None


def _remove(sftp: paramiko.SFTPClient, path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        sftp.remove(path)


def open_transport(conn: SftpConnection, resolve: Callable[[Path], Path]) -> paramiko.Transport:
    """A socket with TCP_NODELAY and a finished key exchange; nothing verified, nothing sent.

    Raises :class:`_Unreachable` when the server cannot be reached or the handshake fails."""
    try:
        sock = socket.create_connection((conn.host, conn.port), timeout=conn.timeout)
    except OSError as exc:
        raise _Unreachable(f"cannot connect: {_plain(exc)}") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        t = paramiko.Transport(sock)
    except BaseException:
        sock.close()
        raise
    try:
        opts = t.get_security_options()
        opts.ciphers = (*[c for c in CIPHERS if c in opts.ciphers],
                        *[c for c in opts.ciphers if c not in CIPHERS])
        known = hostkeys.preferred_types(hostkeys.known_hosts_path(conn, resolve), conn.host,
                                        conn.port)
        opts.key_types = (*[k for k in known if k in opts.key_types],
                          *[k for k in opts.key_types if k not in known])
        t.banner_timeout = t.handshake_timeout = t.auth_timeout = conn.timeout
        t.start_client(timeout=conn.timeout)
    except (OSError, *DROPPED) as exc:
        t.close()
        raise _Unreachable(f"handshake failed: {_plain(exc)}") from None
    except BaseException:
        t.close()
        raise
    return t


def scan_host_key(conn: SftpConnection, resolve: Callable[[Path], Path]) -> bytes:
    """The key blob the server offers, for `bridge connections trust`; nothing is sent."""
    try:
        t = open_transport(conn, resolve)
    except _Unreachable as exc:
        raise TransientError(f"sftp {conn.host}:{conn.port}: {exc}") from None
    try:
        return t.get_remote_server_key().asbytes()
    finally:
        t.close()
